"""``tpcore check --device`` and ``tpcore compare --device``: the inputs go where asked, jax's name for
a CUDA device is ``gpu``, and a device a backend cannot reach is reported before anything runs."""

import pytest

from tpcore.cli import main
from tpcore.harness import NumpyHarness
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, Implementation, register_plugin
from tpcore.report.timing import backend_device


def test_jax_calls_a_cuda_device_gpu():
    assert backend_device("jax", "cuda") == "gpu" and backend_device("jax", "cuda:1") == "gpu:1"
    assert backend_device("jax", "cpu") == "cpu" and backend_device("torch", "cuda:1") == "cuda:1"
    assert backend_device("cupy", None) is None


def test_check_runs_every_item_on_the_device_given(tpcore_env, monkeypatch, capsys):
    import tpcore.testing.params as params

    seen = []
    real = params.conformance_cases

    def spy(*args, **kwargs):
        items = real(*args, **kwargs)
        seen.extend(item.device for item in items)
        return items

    monkeypatch.setattr(params, "conformance_cases", spy)
    assert main(["check", "--backend", "numpy", "--variant", "cgtp", "--impl", "dense", "--dtype", "float64", "--device", "cpu"]) == 0
    assert seen and set(seen) == {"cpu"}
    assert "numpy/cgtp/dense" in capsys.readouterr().out


class _NoCuda(NumpyHarness):
    backend = "ghost"

    def asarray(self, x, dtype, device=None):
        if device not in (None, "cpu"):
            raise RuntimeError("Found no NVIDIA driver on your system.\nmore text")
        return super().asarray(x, dtype, device)


class Ghost:
    """A backend that lists cuda (a CUDA build) on a machine without a GPU."""

    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend("ghost", lambda: None, priority=600, devices=("cpu", "cuda"), harness=_NoCuda))

    @hookimpl
    def tpcore_register_implementations(self, register):
        def factory(spec, *, device, dtype):
            import tpcore

            return tpcore.build(spec, backend="numpy", dtype=dtype)

        register(Implementation("ghost", "cgtp", "dense", factory, Capabilities(devices=frozenset({"cpu", "cuda"}))))


def test_a_device_listed_but_absent_is_one_line_before_any_check(tpcore_env, capsys):
    register_plugin(Ghost(), name="ghost")
    assert main(["check", "--backend", "ghost", "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == (
        "tpcore check: error: --device cuda: ghost: cannot put an array on 'cuda': Found no NVIDIA driver on your system.")


def test_compare_puts_the_inputs_on_the_device(capsys, monkeypatch):
    pytest.importorskip("e3nn")
    torch = pytest.importorskip("torch")
    import tpcore.report.timing as timing

    devices = []
    real = timing.prepare

    def spy(*args, **kwargs):
        prepared = real(*args, **kwargs)
        devices.append(str(prepared.inputs[0].device))
        return prepared

    monkeypatch.setattr(timing, "prepare", spy)
    code = main(["compare", "--backends", "torch", "--workloads", "full", "--lmax", "1", "--batch", "4", "--repeat", "1",
                 "--timing-seconds", "0.2", "--device", "cpu"])
    assert code == 0 and devices == ["cpu"] * 4  # tpcore and e3nn, at the batch and at one row
    assert "on cpu" in capsys.readouterr().out
    assert isinstance(torch.zeros(1), torch.Tensor)
