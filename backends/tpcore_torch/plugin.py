"""Registers the torch backend: every variant and lowering strategy as a ``torch.nn.Module``.

Nothing here imports torch: the probe imports it only once ``find_spec`` says it is installed,
and the factories import it when a tensor product is built.
"""

from __future__ import annotations

from functools import partial

from tpcore.devices import torch_device_kinds
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, import_probe, plan_implementations

_probe = partial(import_probe, "torch")


def _build(spec, *, device, dtype, strategy):
    from .module import build

    return build(spec, device=device, dtype=dtype, strategy=strategy)


def _convolution():
    from .convolution import convolution

    return convolution


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
            devices=torch_device_kinds(),
            description="PyTorch: a torch.nn.Module with autograd (double backward), torch.compile and DDP.",
            harness=_harness,
            convolution=_convolution,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    capabilities = Capabilities(
        modes=None,
        dtypes=frozenset({"float32", "float64"}),
        devices=frozenset(torch_device_kinds()),
        grad_order=2,
        jit=True,  # torch.compile(module, fullgraph=True)
        per_sample_weights=True,
    )
    for implementation in plan_implementations("torch", _build, capabilities, "as a torch.nn.Module"):
        register(implementation)
