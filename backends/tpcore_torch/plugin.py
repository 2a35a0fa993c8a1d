"""Registers the torch backend: every variant and lowering strategy as a ``torch.nn.Module``.

Nothing here imports torch: the probe imports it only once ``find_spec`` says it is installed,
and the factories import it when a tensor product is built.
"""

from __future__ import annotations

import importlib.util
import re
from functools import partial
from pathlib import Path

from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, import_probe, plan_implementations

_probe = partial(import_probe, "torch")


def devices() -> tuple[str, ...]:
    """("cpu", "cuda") when the installed torch is a CUDA build, else ("cpu",).

    Read from ``torch/version.py`` as text, because registration must not import torch; whether a
    CUDA device is actually present is checked when a module is built for one.
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return ("cpu",)
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return ("cpu",)
    cuda_build = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]", text, re.MULTILINE) is not None
    return ("cpu", "cuda") if cuda_build else ("cpu",)


def _build(spec, *, device, dtype, strategy):
    from .module import build

    return build(spec, device=device, dtype=dtype, strategy=strategy)


def _harness():
    from .harness import TorchHarness

    return TorchHarness()


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="torch",
            probe=_probe,
            priority=20,
            default_dtype="float32",
            devices=devices(),
            description="PyTorch: a torch.nn.Module with autograd (double backward), torch.compile and DDP.",
            harness=_harness,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    capabilities = Capabilities(
        modes=None,
        dtypes=frozenset({"float32", "float64"}),
        devices=frozenset(devices()),
        grad_order=2,
        jit=True,  # torch.compile(module, fullgraph=True)
        per_sample_weights=True,
    )
    for implementation in plan_implementations("torch", _build, capabilities, "as a torch.nn.Module"):
        register(implementation)
