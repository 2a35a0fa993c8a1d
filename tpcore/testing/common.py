"""What every check of the suite uses: the tolerances, the failure, fixed-seed inputs, group elements.

A check compares a backend's result with a float64 expectation through :meth:`Subject.compare`:
the largest error relative to ``max |expected|`` against :data:`TOLERANCES` of the dtype. Inputs
are float64 arrays already rounded to the dtype checked, so that only the implementation's
arithmetic counts. The product checks (:mod:`tpcore.testing.checks`) and the convolution checks
(:mod:`tpcore.testing.conv_checks`) both build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpcore.so3 import rand_matrix

#: Largest accepted ``max |got - expected| / max |expected|`` per dtype.
TOLERANCES = {"float64": 1e-10, "float32": 1e-5}

BATCH = 4


class ConformanceError(AssertionError):
    """An implementation computed something other than its spec (or failed to refuse bad input).

    ``error`` is the relative error found, when the failure is a numerical difference.
    """

    def __init__(self, message: str, error: float | None = None):
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class Subject:
    """What is being checked; formats the failure messages."""

    impl: object
    case: object  # a tpcore.testing.catalogue.Case
    dtype: str
    check: str

    def fail(self, what: str, error: float | None = None) -> ConformanceError:
        return ConformanceError(
            f"{self.impl.key} fails {self.check} on case {self.case.id} in {self.dtype}: {what}\n  spec: {self.case.spec}",
            error,
        )

    def compare(self, label: str, got, expected: np.ndarray, harness) -> float:
        """The relative error of ``got`` (a backend array or None) against ``expected``; raises if too large."""
        if expected is None:
            if got is not None:
                raise self.fail(f"{label} should be None, got a {type(got).__name__}")
            return 0.0
        if got is None:
            raise self.fail(f"{label} is None, expected an array of shape {expected.shape}")
        got = harness.to_numpy(got)
        if got.shape != expected.shape:
            raise self.fail(f"{label} has shape {got.shape}, expected {expected.shape}")
        if not np.all(np.isfinite(got)):
            raise self.fail(f"{label} has non-finite values")
        scale = float(np.max(np.abs(expected), initial=0.0)) or 1.0
        error = float(np.max(np.abs(got - expected), initial=0.0)) / scale
        tolerance = TOLERANCES[self.dtype]
        if not error <= tolerance:
            where = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
            raise self.fail(
                f"{label} differs from the expected values: max relative error {error:.3g} > {tolerance:.0e} "
                f"(at index {tuple(int(i) for i in where)}: got {got[where]:.6g}, expected {expected[where]:.6g}; "
                f"scale max|expected| = {scale:.3g})",
                error,
            )
        return error


# -- building and inputs ------------------------------------------------------------------------

_BUILT: dict = {}
_MAX_BUILT = 64


def built(impl, spec, dtype: str, device: str | None, harness):
    """``(tp, forward)`` for the implementation, built once per (impl, spec, dtype, device) and reused,
    so that compiled frameworks trace each input signature once per run."""
    key = (impl, spec, dtype, device, id(harness))
    if key not in _BUILT:
        if len(_BUILT) >= _MAX_BUILT:
            _BUILT.pop(next(iter(_BUILT)))
        tp = impl.factory(spec, device=device, dtype=dtype)
        _BUILT[key] = (tp, harness.forward_function(tp))
    return _BUILT[key]


def random_inputs(spec, seed: int, dtype: str, batch=(BATCH,), batch2=None, weight_batch=()):
    """float64 arrays ``(x1, x2, w)`` already rounded to ``dtype``; ``w`` is None without weights.

    ``x1`` has batch shape ``batch``, ``x2`` ``batch2`` (default: the same), ``w`` ``weight_batch``.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=tuple(batch) + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=tuple(batch if batch2 is None else batch2) + (spec.irreps_in2.dim,))
    w = rng.normal(size=tuple(weight_batch) + (spec.weight_numel,)) if spec.weight_numel else None
    return tuple(None if a is None else rounded(a, dtype) for a in (x1, x2, w))


def random_cotangent(spec, seed: int, dtype: str, batch=(BATCH,)) -> np.ndarray:
    """A float64 array shaped like the output, rounded to ``dtype``."""
    return rounded(np.random.default_rng(seed).normal(size=tuple(batch) + (spec.irreps_out.dim,)), dtype)


def rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    return a.astype(dtype).astype(np.float64)


def on(harness, dtype, device, *arrays):
    """The numpy ``arrays`` as backend arrays of ``dtype`` on ``device`` (None stays None)."""
    return tuple(None if a is None else harness.asarray(a, dtype, device) for a in arrays)


def group_elements(spec):
    """``(label, R)``: a random rotation, and for O(3)-equivariant specs the inversion and a random
    improper rotation (mtp ignores parity, so it is checked on rotations only)."""
    yield "a random rotation", rand_matrix(rng=11)
    if spec.o3_equivariant:
        yield "the inversion", -np.eye(3)
        yield "a random improper rotation", rand_matrix(rng=12, improper=True)


__all__ = ["TOLERANCES", "BATCH", "ConformanceError", "Subject", "built", "random_inputs", "random_cotangent",
           "rounded", "on", "group_elements"]
