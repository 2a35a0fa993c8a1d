"""Registers the jax backend: every variant and lowering strategy as a pure JAX function.

Nothing here imports jax: the probe imports it only once ``find_spec`` says it is installed, and
the factories import it when a tensor product is built.
"""

from __future__ import annotations

from functools import partial

from tpcore.devices import jax_device_kinds
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, import_probe, plan_implementations

_probe = partial(import_probe, "jax")


def _build(spec, *, device, dtype, strategy):
    from .tensor_product import build

    return build(spec, device=device, dtype=dtype, strategy=strategy)


def _convolution():
    from .convolution import convolution

    return convolution


def _harness():
    from .harness import JaxHarness

    return JaxHarness()


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="jax",
            probe=_probe,
            priority=10,
            default_dtype="float32",
            devices=jax_device_kinds(),
            description="JAX: a pure function tp(x1, x2, weights) for jit, grad (any order), vmap and sharding.",
            harness=_harness,
            convolution=_convolution,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    capabilities = Capabilities(
        modes=None,
        dtypes=frozenset({"float32", "float64"}),  # float64 needs jax_enable_x64 (checked when built)
        devices=frozenset(jax_device_kinds()),
        grad_order=2,  # any order: jax differentiates the plan's ops, which are all smooth
        jit=True,
        per_sample_weights=True,
    )
    for implementation in plan_implementations("jax", _build, capabilities, "as a pure JAX function"):
        register(implementation)
