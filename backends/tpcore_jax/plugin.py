"""Registers the jax backend: every variant and lowering strategy as a pure JAX function.

Nothing here imports jax: the probe imports it only once ``find_spec`` says it is installed, and
the factories import it when a tensor product is built.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
from functools import partial

from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, import_probe, plan_implementations

# jax >= 0.4.30 gets its GPU support from separately installed PJRT plugins (jax-cuda12-plugin,
# jax-rocm60-plugin, ...); their presence is how registration tells "gpu" apart without importing jax.
_GPU_PLUGIN = re.compile(r"jax_(cuda|rocm)\d*_plugin$")

_probe = partial(import_probe, "jax")


def devices() -> tuple[str, ...]:
    """("cpu", "gpu") when a jax GPU plugin is installed, else ("cpu",).

    Whether a GPU is actually present is checked when a tensor product is built for one.
    """
    if importlib.util.find_spec("jax") is None:
        return ("cpu",)
    gpu = any(_GPU_PLUGIN.match(module.name) for module in pkgutil.iter_modules())
    return ("cpu", "gpu") if gpu else ("cpu",)


def _build(spec, *, device, dtype, strategy):
    from .tensor_product import build

    return build(spec, device=device, dtype=dtype, strategy=strategy)


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
            devices=devices(),
            description="JAX: a pure function tp(x1, x2, weights) for jit, grad (any order), vmap and sharding.",
            harness=_harness,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    capabilities = Capabilities(
        modes=None,
        dtypes=frozenset({"float32", "float64"}),  # float64 needs jax_enable_x64 (checked when built)
        devices=frozenset(devices()),
        grad_order=2,  # any order: jax differentiates the plan's ops, which are all smooth
        jit=True,
        per_sample_weights=True,
    )
    for implementation in plan_implementations("jax", _build, capabilities, "as a pure JAX function"):
        register(implementation)
