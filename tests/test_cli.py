"""The ``tpcore`` command, run in-process through ``main(argv)``."""

import pytest

from tpcore.cli import COMMANDS, main
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, Implementation, register_plugin


class TwoBackends:
    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend("fast", lambda: None, priority=1, devices=("cpu", "cuda")))
        register(Backend("gone", lambda: "gone: not installed", priority=2))

    @hookimpl
    def tpcore_register_implementations(self, register):
        caps = Capabilities(modes={"uvw"}, grad_order=2, jit=True)
        register(Implementation("fast", "cgtp", "fused", lambda spec, *, device, dtype: None, caps))


def test_backends_lists_usability_reasons_sources_and_capabilities(entry_points, capsys):
    register_plugin(TwoBackends(), name="two")
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    fast = next(line for line in out.splitlines() if line.split()[:2] == ["fast", "yes"])
    assert "two (registered at runtime)" in fast and "cpu,cuda" in fast
    gone = next(line for line in out.splitlines() if line.split()[:2] == ["gone", "no"])
    assert "gone: not installed" in gone
    impl = next(line for line in out.splitlines() if line.split()[:3] == ["fast", "cgtp", "fused"])
    assert impl.split()[4:7] == ["2", "yes", "uvw"]
    assert "Default backend: fast" in out


def test_backends_lists_failed_and_skipped_plugins(entry_points, capsys):
    class Broken:
        @hookimpl
        def tpcore_register_backends(self, register):
            raise RuntimeError("cannot register")

    register_plugin(Broken(), name="broken")
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "none registered" in out
    assert "broken  failed  broken (registered at runtime)  tpcore_register_backends raised RuntimeError: cannot register" in out
    assert "Default backend: none (no usable tpcore backend)" in out


def test_backends_shows_the_installed_numpy_backend(tpcore_env, capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["numpy", "yes"] and "numpy (tpcore " in line for line in out.splitlines())


def test_info_cgtp_prints_paths_weights_and_flops(capsys):
    argv = ["info", "--variant", "cgtp", "--irreps-in1", "8x0e+8x1o", "--irreps-in2", "1x0e+1x1o", "--irreps-out", "8x0e+8x1o"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    from tpcore import TensorProductSpec
    from tpcore.analysis import flops

    spec = TensorProductSpec.cgtp("8x0e+8x1o", "1x0e+1x1o", "8x0e+8x1o")
    assert "TensorProductSpec.cgtp" in out and "8x0e+8x1o  (dim 32)" in out
    assert f"weight_numel         {spec.weight_numel}" in out
    for k, p in enumerate(spec.paths):
        ws = p.weight_slice
        row = f"{k}  {p.ir_in1} x {p.ir_in2} -> {p.ir_out}  uvw   8,1,8"
        assert row in out and f"[{ws.start}:{ws.stop}] (8, 1, 8)" in out
    for strategy, n in flops(spec).items():
        assert any(line.split() == [strategy, f"{n:,}"] for line in out.splitlines())


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_info_channelwise_variants(variant, capsys):
    irreps = "4x0e+4x1o+4x2e"
    assert main(["info", "--variant", variant, "--irreps-in1", irreps, "--irreps-in2", irreps, "--irreps-out", irreps, "--weighted"]) == 0
    out = capsys.readouterr().out
    assert f"TensorProductSpec.{variant}" in out and "weighted             True" in out and "FLOPs per sample" in out


@pytest.mark.parametrize("extra, message", [
    (["--irreps-in1", "8x0q"], "--irreps-in1 '8x0q': cannot parse irreps token '8x0q'"),
    (["--mode", "xyz"], "argument --mode: invalid choice: 'xyz'"),
    (["--weighted"], "--weighted applies to gtp, s2grid and mtp"),
])
def test_info_bad_arguments_exit_2_with_the_message(extra, message, capsys):
    argv = ["info", "--variant", "cgtp", "--irreps-in1", "8x0e", "--irreps-in2", "1x0e", "--irreps-out", "8x0e", *extra]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"tpcore info: error: {message}" in captured.err and captured.out == ""


def test_info_mode_is_for_cgtp_only(capsys):
    argv = ["info", "--variant", "s2grid", "--irreps-in1", "2x0e", "--irreps-in2", "2x0e", "--irreps-out", "2x0e", "--mode", "uvu"]
    assert main(argv) == 2
    assert "--mode applies to cgtp only" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "backends" in capsys.readouterr().out


def test_commands_are_a_registry():
    assert {"backends", "info"} <= set(COMMANDS)
    assert all(callable(c.configure) and callable(c.run) and c.help for c in COMMANDS.values())
