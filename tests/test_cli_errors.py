"""What a user types never gives a traceback: bad values, odd plugins, Ctrl-C (issue 16 items 7, 8, 9, 13).

Every subcommand is run with bad values: each must exit 2 with one error naming the argument on
stderr, print nothing on stdout, and check its arguments and outputs *before* measuring anything
(the measuring functions are replaced by ones that fail the test).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_registry import FakeDist, FakeEntryPoint

from tpcore.cli import COMMANDS, main
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, Implementation, register_plugin

ROOT = Path(__file__).resolve().parents[1]
SPEC = ["--variant", "cgtp", "--irreps-in1", "1x0e + 1x1o", "--irreps-in2", "1x0e + 1x1o", "--irreps-out", "1x0e + 1x1o"]
SYSFS = pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's read-only /sys")


def _numpy_factory(spec, *, device, dtype):
    import tpcore

    return tpcore.build(spec, backend="numpy", dtype=dtype)


def _broken_harness():
    raise RuntimeError("no harness here")


class OddBackends:
    """``gone``: not usable; ``bare``: usable, no harness; ``hb``: a harness factory that raises."""

    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend("gone", lambda: "gone: no CUDA device", priority=500))
        register(Backend("bare", lambda: None, priority=501))
        register(Backend("hb", lambda: None, priority=502, harness=_broken_harness))

    @hookimpl
    def tpcore_register_implementations(self, register):
        for backend in ("gone", "bare", "hb"):
            register(Implementation(backend, "cgtp", "dense", _numpy_factory, Capabilities()))


@pytest.fixture
def odd_backends(tpcore_env):
    register_plugin(OddBackends(), name="odd")


@pytest.fixture
def no_measuring(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("measured before checking the arguments")

    for target in ("tpcore.report.measure.measure", "tpcore.report.compare.measure",
                   "tpcore.analysis.benchmark.benchmark_pruning", "tpcore.testing.params.conformance_cases"):
        monkeypatch.setattr(target, refuse)


# (argv, the argument the message must name); {tmp} is a fresh folder, {file} a file in it
BAD = [
    (["backends", "--nope"], "--nope"),
    (["info", "--variant", "nope", *SPEC[2:]], "--variant"),
    (["info", *SPEC[:3], "8x0q", *SPEC[4:]], "--irreps-in1"),
    (["info", *SPEC, "--mode", "xyz"], "--mode"),
    (["info", *SPEC, "--weighted"], "--weighted"),
    (["info", "--variant", "gtp", *SPEC[2:7], "1x0o"], "--variant"),  # a Gaunt product has no pseudoscalar out
    (["check", "--backend", "nope"], "--backend"),
    (["check", "--backend", "gone"], "--backend"),  # item 9: an unusable backend checked nothing, exit 0
    (["check", "--backend", "bare"], "--backend"),
    (["check", "--backend", "hb"], "--backend"),
    (["check", "--variant", "nope"], "--variant"),
    (["check", "--dtype", "float16"], "--dtype"),
    (["check", "--impl", "nope"], "--impl"),
    (["check", "--device", "tpu"], "--device"),  # no backend has it
    (["check", "--backend", "numpy", "--device", "cuda"], "--device"),
    (["check", "--known-failures", "{tmp}/missing.toml"], "--known-failures"),
    (["check", "--known-failures", "{tmp}"], "--known-failures"),
    (["check", "--known-failures", "{file}"], "--known-failures"),  # "not toml ["
    (["check", "--known-failures", "{tmp}/no_reason.toml"], "--known-failures"),
    (["check", "--known-failures", "{tmp}/not_tables.toml"], "--known-failures"),
    (["analyze", *SPEC, "--bench-prune", "--batch", "-5"], "--batch"),
    (["analyze", *SPEC, "--bench-prune", "--batch", "0"], "--batch"),
    (["analyze", *SPEC, "--bench-prune", "--batch", "many"], "--batch"),
    (["analyze", *SPEC, "--bench-prune", "--backend", "nope"], "--backend"),
    (["analyze", *SPEC, "--bench-prune", "--backend", "gone"], "--backend"),
    (["analyze", *SPEC, "--bench-prune", "--backend", "bare"], "--backend"),
    (["analyze", "--variant", "gtp", *SPEC[2:], "--bench-prune"], "--bench-prune"),
    (["analyze", *SPEC, "--plot", "/nonexistent/dir/m.png"], "--plot"),
    (["analyze", *SPEC, "--plot", "{file}/m.png"], "--plot"),
    (["analyze", *SPEC, "--plot", "{tmp}"], "--plot"),
    (["analyze", *SPEC, "--plot", "{tmp}/m.txt"], "--plot"),
    (["report", "--out", "{file}"], "--out"),
    (["report", "--out", "{file}/sub"], "--out"),
    pytest.param(["report", "--out", "/sys/x"], "--out", marks=SYSFS),
    (["report", "--lmax", "0"], "--lmax"),
    (["report", "--batch", "0"], "--batch"),
    (["report", "--repeat", "-1"], "--repeat"),
    (["report", "--max-call-seconds", "-1"], "--max-call-seconds"),
    (["report", "--max-call-seconds", "nan"], "--max-call-seconds"),
    (["report", "--timing-seconds", "0"], "--timing-seconds"),
    (["report", "--variants", "cgtp,nope"], "--variants"),
    (["report", "--variants", ","], "--variants"),
    (["report", "--backends", "nope"], "--backends"),
    (["report", "--backends", "gone"], "--backends"),
    (["report", "--backends", "bare,hb"], "--backends"),
    (["report", "--dtype", "float16"], "--dtype"),
    (["compare", "--batch", "0"], "--batch"),
    (["compare", "--batch", "-4"], "--batch"),
    (["compare", "--repeat", "-1"], "--repeat"),
    (["compare", "--timing-seconds", "inf"], "--timing-seconds"),
    (["compare", "--lmin", "0"], "--lmin"),
    (["compare", "--lmin", "3", "--lmax", "2"], "--lmax"),
    (["compare", "--out", "{file}/sub/table.md"], "--out"),
    (["compare", "--out", "{tmp}"], "--out"),
    (["compare", "--backends", "numpy"], "--backends"),
    (["compare", "--backends", ""], "--backends"),
    (["compare", "--workloads", "fc,nope"], "--workloads"),
    (["compare", "--device", "tpu"], "--device"),
    (["compare", "--backends", "torch", "--device", "cuda:7"], "--device"),
    # issue 28: sizes past any machine, and empty output paths (Path("") is the working directory)
    (["report", "--lmax", "1000000000", "--backends", "numpy", "--variants", "mtp"], "--lmax"),
    (["report", "--batch", "1000000000000"], "--batch"),
    (["report", "--out", ""], "--out"),
    (["report", "--out", "  "], "--out"),
    (["compare", "--lmax", "1000000000"], "--lmax"),
    (["compare", "--batch", "1000000000000"], "--batch"),
    (["compare", "--out", ""], "--out"),
    (["analyze", *SPEC, "--bench-prune", "--batch", "1000000000000"], "--batch"),
    (["analyze", *SPEC, "--plot", ""], "--plot"),
    (["info", "--variant", "cgtp", "--irreps-in1", "1x1000000e", "--irreps-in2", "1x0e", "--irreps-out", "1x1000000e"],
     "--irreps-in1"),  # its coupling coefficients: 58 TiB
    (["analyze", "--variant", "cgtp", "--irreps-in1", "1x0e", "--irreps-in2", "1x1000000e", "--irreps-out", "1x1000000e"],
     "--irreps-in2"),
    (["check", "--known-failures", ""], "--known-failures"),
]


def test_every_subcommand_is_tried_with_bad_values():
    tried = {argv[0] for argv, _ in (p.values if hasattr(p, "values") else p for p in BAD)}
    assert tried == set(COMMANDS)


@pytest.mark.parametrize("argv, option", BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_value_is_one_error_naming_the_argument_before_any_measuring(argv, option, odd_backends, no_measuring,
                                                                           tmp_path, capsys):
    (tmp_path / "file").write_text("not toml [")
    (tmp_path / "no_reason.toml").write_text('[[xfail]]\nkey = "numpy/*"\n')
    (tmp_path / "not_tables.toml").write_text("xfail = 3\n")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "file")) for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out == ""
    message = err.strip().splitlines()[-1]
    # argparse reports arguments no subcommand knows as the top-level ``tpcore: error:``
    assert message.startswith(("tpcore: error: ", f"tpcore {argv[0]}: error: ")) and option in message, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "no_reason.toml", "not_tables.toml"], "left files behind"


def test_a_bound_names_the_argument_the_bound_and_the_value(capsys):
    assert main(["report", "--lmax", "1000000000", "--backends", "numpy", "--variants", "mtp"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "tpcore report: error: argument --lmax: expected an integer from 1 to 12, got 1,000,000,000")


@pytest.mark.parametrize("argv", [
    ["report", "--backends", "numpy", "--variants", "cgtp", "--batch", "10000000"],
    ["analyze", *SPEC, "--bench-prune", "--batch", "10000000"],
])
def test_a_batch_over_the_available_memory_is_refused_before_measuring(argv, tpcore_env, no_measuring, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.setattr("tpcore.cli.common.available_memory", lambda: 2**30)
    assert main([*argv, *(["--out", str(tmp_path / "r")] if argv[0] == "report" else [])]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"tpcore {argv[0]}: error: --batch 10000000: the inputs and output of one call")
    assert err.strip().endswith("more than the 1.0 GiB of memory available")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, target, option", [
    (["info", *SPEC], "tpcore.analysis.flops", "--irreps-in1/--irreps-in2/--irreps-out"),
    (["analyze", *SPEC, "--bench-prune"], "tpcore.analysis.benchmark.benchmark_pruning", "--batch 1000"),
    (["compare", "--quick", "--backends", "torch"], "tpcore.report.compare.measure", "--batch 256, --lmax 2"),
])
def test_a_memory_error_during_a_command_is_one_line_naming_its_size(argv, target, option, tpcore_env, monkeypatch,
                                                                     capsys):
    """Issue 28 item 4: numpy's "Unable to allocate 29.1 TiB" ended `tpcore analyze` in a traceback."""
    if argv[0] == "compare":
        pytest.importorskip("torch")

    def allocate(*args, **kwargs):
        raise MemoryError("Unable to allocate 29.1 TiB for an array with shape (1000000000000, 4) and data type float64")

    monkeypatch.setattr(target, allocate)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (f"tpcore {argv[0]}: error: {option}: out of memory (Unable to allocate 29.1 TiB for an "
                           "array with shape (1000000000000, 4) and data type float64)")
    if argv[0] == "info":
        assert out == "", "nothing printed before the error"


def test_check_marks_backends_without_a_working_harness_na_and_goes_on(entry_points, capsys):
    """Item 7: a plugin backend whose harness is None or raises ended `tpcore check` with a traceback."""
    numpy_plugin = importlib.import_module("tpcore_numpy.plugin")
    entry_points.append(FakeEntryPoint("numpy", "tpcore_numpy.plugin", FakeDist("tpcore", "0.1.0"), numpy_plugin))
    register_plugin(OddBackends(), name="odd")
    assert main(["check", "--variant", "cgtp", "--impl", "dense", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["numpy/cgtp/dense", "1.0e-16"] or line.startswith("  numpy/cgtp/dense ")
               for line in out.splitlines())
    assert "  bare: n/a, backend 'bare' registers no harness" in out
    assert "  hb: n/a, backend 'hb': its harness factory raised RuntimeError: no harness here" in out
    assert "  gone: n/a, not usable: gone: no CUDA device (gone/cgtp/dense)" in out
    assert "Agreement between implementations" in out and "numpy/cgtp/dense (no other implementation)" in out


def test_ctrl_c_in_check_is_one_line_and_exit_130(tpcore_env, monkeypatch, capsys):
    """Item 13: Ctrl-C in `tpcore check --full` printed a KeyboardInterrupt traceback."""

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tpcore.testing.params.run_case", interrupt)
    assert main(["check", "--full", "--backend", "numpy", "--variant", "cgtp", "--impl", "dense"]) == 130
    out, err = capsys.readouterr()
    assert err.strip() == "tpcore check: interrupted" and out == ""


def test_ctrl_c_in_report_writes_what_was_measured_and_exits_130(tpcore_env, monkeypatch, tmp_path, capsys):
    from tpcore.report import timing

    calls = []
    real = timing.interleaved

    def time_one_L_then_interrupt(*args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(timing, "interleaved", time_one_L_then_interrupt)
    monkeypatch.setattr(timing, "matmul_call", lambda backend: None)
    out_dir = tmp_path / "report"
    argv = ["report", "--out", str(out_dir), "--backends", "numpy", "--variants", "cgtp", "--lmax", "3", "--batch", "8",
            "--repeat", "1"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"tpcore report: interrupted (Ctrl-C) after 1 of 3 measurements; "
                                            f"wrote what was measured to {out_dir}")
    text = (out_dir / "report.md").read_text()
    assert "- interrupted (Ctrl-C) after 1 of 3 measurements" in text and "| numpy | cgtp |" in text


def test_sigint_to_a_running_report_exits_130_and_keeps_the_report(tmp_path):
    """The same through a real SIGINT to ``python -m tpcore.cli``, as a terminal's Ctrl-C sends it."""
    out_dir = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "backends"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-m", "tpcore.cli", "report", "--out", str(out_dir), "--backends", "numpy", "--lmax", "6",
            "--batch", "64", "--repeat", "3"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # wait until the first measurement is done
        lines.append(line)
        if line.startswith("[1/"):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    err = "".join(lines) + err
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "tpcore report: interrupted (Ctrl-C) after" in err
    assert "interrupted (Ctrl-C) after" in (out_dir / "report.md").read_text()
