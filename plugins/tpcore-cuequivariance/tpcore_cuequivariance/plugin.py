"""Registers ``torch/cgtp/cuequivariance``: cuEquivariance's segmented polynomials on tpcore's torch backend.

A kernel: :func:`tpcore_cuequivariance.polynomial.accepts` says which descriptors it computes
(cgtp, modes uvw uvu uvv uuw uuu, or uvuv alone), and the conformance suite runs it on those. Its
priority (1000) keeps it from being picked by default; ask for it with ``impl="cuequivariance"``.

Without cuEquivariance's torch frontend the hook raises a one-line reason, which ``tpcore
backends`` shows as this plugin's error while every other plugin keeps working. Nothing here
imports torch or cuEquivariance (``find_spec`` imports nothing); the factory does, at build.
"""

from __future__ import annotations

import importlib.util

from tpcore.hookspecs import hookimpl
from tpcore.registry import Capabilities, Implementation

PRIORITY = 1000  # after every tpcore implementation: asked for by name, never the default
REQUIRED = ("torch", "cuequivariance", "cuequivariance_torch")
#: the modes accepts() may take (it decides per descriptor: uvuv alone, see polynomial.py)
MODES = frozenset({"uvw", "uvu", "uvv", "uuw", "uuu", "uvuv"})


def probe() -> str | None:
    """None when the implementation can be built here, else why not (one line)."""
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)}: not installed (pip install 'tpcore-cuequivariance[cuequivariance]')"
    return None


def _build(spec, *, device, dtype):
    from .torch_module import build

    return build(spec, device=device, dtype=dtype)


def _accepts(descriptor) -> bool:
    from .polynomial import accepts

    return accepts(descriptor)


@hookimpl
def tpcore_register_implementations(register):
    reason = probe()
    if reason is not None:
        raise ModuleNotFoundError(reason)
    register(
        Implementation(
            backend="torch",
            variant="cgtp",
            name="cuequivariance",
            factory=_build,
            accepts=_accepts,
            capabilities=Capabilities(
                modes=MODES,
                dtypes=frozenset({"float32", "float64"}),
                # cuEquivariance's naive method on the CPU is what is tested (scripts/cuequivariance_tests.sh);
                # on CUDA it would run the same einsums, untested here, so not claimed yet
                devices=frozenset({"cpu"}),
                grad_order=2,  # the naive method is torch einsums: double backward
                jit=False,
                per_sample_weights=True,
            ),
            priority=PRIORITY,
            description="cuEquivariance's SegmentedPolynomial (naive method) from the spec's descriptor, e3nn's mul_ir layout",
        )
    )
