"""Registers the numpy backend: every variant, every lowering strategy, float32 and float64."""

from __future__ import annotations


from tpcore.harness import NumpyHarness
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, plan_implementations

_CAPABILITIES = Capabilities(
    modes=None,
    dtypes=frozenset({"float32", "float64"}),
    devices=frozenset({"cpu"}),
    grad_order=0,
    jit=False,
    per_sample_weights=True,
)


def _build(spec, *, device, dtype, strategy):
    import numpy as np

    from tpcore.execute import ArrayOps

    from .tensor_product import NumpyTensorProduct

    return NumpyTensorProduct(spec, ArrayOps(np), dtype, strategy)


def _convolution():
    from tpcore.convolution import numpy_convolution

    return numpy_convolution


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="numpy",
            probe=lambda: None,
            priority=90,
            default_dtype="float64",
            description="NumPy on the CPU; no gradients. Always available.",
            harness=NumpyHarness,
            convolution=_convolution,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    for implementation in plan_implementations("numpy", _build, _CAPABILITIES, "executed with numpy"):
        register(implementation)
