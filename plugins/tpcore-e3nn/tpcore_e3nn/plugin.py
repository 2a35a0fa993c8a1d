"""Registers e3nn and e3nn-jax as extra cgtp implementations on tpcore's torch and jax backends.

``torch/cgtp/e3nn`` and ``jax/cgtp/e3nn_jax`` add no backend: they run on the ``torch`` and ``jax``
backends that tpcore registers, so the conformance suite, ``tpcore report`` and the asv benchmarks
drive them through those backends' harnesses, beside tpcore's own implementations. Their priority
(1000) keeps them from ever being picked by default; ask for them with ``impl="e3nn"`` or
``impl="e3nn_jax"``.

An implementation is registered only when its library is installed (asked with ``find_spec``,
which imports nothing), so an installed implementation is a usable one. Nothing here imports a
framework; the factories do, when a tensor product is built.
"""

from __future__ import annotations

import importlib.util

from tpcore.devices import jax_device_kinds, torch_device_kinds
from tpcore.hookspecs import hookimpl
from tpcore.registry import Capabilities, Implementation
from tpcore.spec import CGTP_MODES

PRIORITY = 1000  # after every tpcore implementation: a cross-check, never the default


def _build_e3nn(spec, *, device, dtype):
    from .torch_module import build

    return build(spec, device=device, dtype=dtype)


def _build_e3nn_jax(spec, *, device, dtype):
    from .jax_function import build

    return build(spec, device=device, dtype=dtype)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@hookimpl
def tpcore_register_implementations(register):
    if _installed("e3nn") and _installed("torch"):
        register(
            Implementation(
                backend="torch",
                variant="cgtp",
                name="e3nn",
                factory=_build_e3nn,
                capabilities=Capabilities(
                    modes=frozenset(CGTP_MODES),
                    dtypes=frozenset({"float32", "float64"}),
                    devices=frozenset(torch_device_kinds()),  # the torch backend's: e3nn runs wherever torch does
                    grad_order=2,  # e3nn's einsums have double backward
                    jit=False,  # e3nn scripts its own code with torch.fx; torch.compile is not claimed
                    per_sample_weights=True,
                ),
                priority=PRIORITY,
                description="e3nn's o3.TensorProduct with the spec's instructions and normalization",
            )
        )
    if _installed("e3nn_jax") and _installed("jax"):
        register(
            Implementation(
                backend="jax",
                variant="cgtp",
                name="e3nn_jax",
                factory=_build_e3nn_jax,
                capabilities=Capabilities(
                    modes=frozenset(CGTP_MODES),
                    dtypes=frozenset({"float32", "float64"}),  # float64 needs jax_enable_x64
                    devices=frozenset(jax_device_kinds()),  # the jax backend's
                    grad_order=2,  # any order: plain jax.numpy einsums
                    jit=True,
                    per_sample_weights=True,
                ),
                priority=PRIORITY,
                description="e3nn-jax's legacy FunctionalTensorProduct with the spec's instructions, vmapped",
            )
        )
