"""The properties every implementation must have, one function each: ``check_xxx(impl, case, dtype, harness)``.

A check builds ``case.spec`` with the implementation's factory, drives it through the backend's
:class:`~tpcore.harness.Harness` on fixed-seed inputs, compares with an independent expectation
(the float64 :func:`tpcore.reference`, :mod:`tpcore.testing.reference_grads`, or the O(3) action
``Irreps.D_from_matrix``) and returns the largest error relative to ``max |expected|``. A check
that finds a difference raises :class:`ConformanceError` naming the implementation, the case, the
spec, the dtype and what differed.

Tolerances are the suite's, not a plugin's: :data:`TOLERANCES`. float32 inputs are rounded to
float32 before the float64 reference sees them, so only the implementation's arithmetic counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tpcore.reference import reference
from tpcore.so3 import rand_matrix
from tpcore.testing.catalogue import Case
from tpcore.testing.reference_grads import reference_vjp, reference_vjp2

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
class _Subject:
    """What is being checked; formats the failure messages."""

    impl: object
    case: Case
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
    return tuple(None if a is None else _rounded(a, dtype) for a in (x1, x2, w))


def random_cotangent(spec, seed: int, dtype: str, batch=(BATCH,)) -> np.ndarray:
    """A float64 array shaped like the output, rounded to ``dtype``."""
    return _rounded(np.random.default_rng(seed).normal(size=tuple(batch) + (spec.irreps_out.dim,)), dtype)


def _rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    return a.astype(dtype).astype(np.float64)


def _on(harness, dtype, device, *arrays):
    return tuple(None if a is None else harness.asarray(a, dtype, device) for a in arrays)


# -- the checks -----------------------------------------------------------------------------------


def check_forward(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Batch ``(N,)`` with shared weights, against the float64 reference."""
    subject = _Subject(impl, case, dtype, "forward")
    _, forward = built(impl, case.spec, dtype, device, harness)
    x1, x2, w = random_inputs(case.spec, 0, dtype)
    return subject.compare("output", forward(*_on(harness, dtype, device, x1, x2, w)), reference(case.spec, x1, x2, w), harness)


def _group_elements(spec):
    """``(label, R)``: a random rotation, and for O(3)-equivariant specs the inversion and a random
    improper rotation (mtp ignores parity, so it is checked on rotations only)."""
    yield "a random rotation", rand_matrix(rng=11)
    if spec.o3_equivariant:
        yield "the inversion", -np.eye(3)
        yield "a random improper rotation", rand_matrix(rng=12, improper=True)


def check_equivariance(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """``f(D1 x1, D2 x2, w) == D_out f(x1, x2, w)``, both sides computed by the implementation."""
    subject = _Subject(impl, case, dtype, "equivariance")
    spec = case.spec
    _, forward = built(impl, spec, dtype, device, harness)
    x1, x2, w = random_inputs(spec, 1, dtype)
    out = harness.to_numpy(forward(*_on(harness, dtype, device, x1, x2, w)))
    error = 0.0
    for label, R in _group_elements(spec):
        D1, D2, Do = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
        rotated = forward(*_on(harness, dtype, device, x1 @ D1.T, x2 @ D2.T, w))
        error = max(error, subject.compare(f"output for inputs transformed by {label}", rotated, out @ Do.T, harness))
    return error


#: ``(label, x1 batch shape, x2 batch shape)``; the output has the broadcast shape.
BATCH_SHAPES = (
    ("()", (), ()),
    ("(N,)", (3,), (3,)),
    ("(N, M)", (2, 3), (2, 3)),
    ("(0,)", (0,), (0,)),
    ("(N, 1) with (M,)", (2, 1), (3,)),
    ("() with (N,)", (), (3,)),
)


def check_batch_shapes(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Batch shapes ``()``, ``(N,)``, ``(N, M)``, ``(0,)`` and broadcasting, against the reference."""
    subject = _Subject(impl, case, dtype, "batch_shapes")
    _, forward = built(impl, case.spec, dtype, device, harness)
    error = 0.0
    for seed, (label, s1, s2) in enumerate(BATCH_SHAPES):
        x1, x2, w = random_inputs(case.spec, 10 + seed, dtype, batch=s1, batch2=s2)
        got = forward(*_on(harness, dtype, device, x1, x2, w))
        error = max(error, subject.compare(f"output for batch {label}", got, reference(case.spec, x1, x2, w), harness))
    return error


def check_dtype_device(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """The output has the inputs' dtype and device."""
    subject = _Subject(impl, case, dtype, "dtype_device")
    _, forward = built(impl, case.spec, dtype, device, harness)
    x1, x2, w = _on(harness, dtype, device, *random_inputs(case.spec, 2, dtype))
    out = forward(x1, x2, w)
    for what, of in (("dtype", harness.dtype_name), ("device", harness.device_name)):
        if of(out) != of(x1):
            raise subject.fail(f"the output's {what} is {of(out)}, but the inputs' is {of(x1)}")
    return 0.0


def check_per_sample_weights(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Weights ``(N, weight_numel)`` (one vector per sample) and ``(N, M, weight_numel)`` with broadcast inputs."""
    subject = _Subject(impl, case, dtype, "per_sample_weights")
    _, forward = built(impl, case.spec, dtype, device, harness)
    error = 0.0
    for seed, (label, s1, s2, sw) in enumerate(
        (("(N,)", (3,), (3,), (3,)), ("(N, M) broadcast from (N, 1) and (M,)", (2, 1), (3,), (2, 3)))
    ):
        x1, x2, w = random_inputs(case.spec, 20 + seed, dtype, batch=s1, batch2=s2, weight_batch=sw)
        got = forward(*_on(harness, dtype, device, x1, x2, w))
        error = max(error, subject.compare(f"output for per-sample weights {label}", got, reference(case.spec, x1, x2, w), harness))
    return error


def _weight_layouts(impl, spec):
    """Shared weights always; per-sample weights too when the implementation claims them."""
    yield "shared weights", ()
    if spec.weight_numel and impl.capabilities.per_sample_weights:
        yield "per-sample weights", (BATCH,)


def check_grad(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """First derivatives (x1, x2, weights) via ``harness.vjp_function`` against the reference's."""
    subject = _Subject(impl, case, dtype, "grad")
    tp, _ = built(impl, case.spec, dtype, device, harness)
    vjp = harness.vjp_function(tp)
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, case.spec)):
        x1, x2, w = random_inputs(case.spec, 30 + seed, dtype, weight_batch=weight_batch)
        g = random_cotangent(case.spec, 40 + seed, dtype)
        arrays = _on(harness, dtype, device, x1, x2, w, g)
        grads = vjp(*arrays)
        for name, got, expected in zip(("x1", "x2", "weights"), grads, reference_vjp(case.spec, x1, x2, w, g)):
            error = max(error, subject.compare(f"gradient wrt {name} ({label})", got, expected, harness))
            if got is not None and harness.dtype_name(got) != dtype:
                raise subject.fail(f"gradient wrt {name} ({label}) has dtype {harness.dtype_name(got)}")
    return error


def check_grad2(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Second derivatives via ``harness.vjp2_function`` against :func:`reference_vjp2`."""
    subject = _Subject(impl, case, dtype, "grad2")
    spec = case.spec
    tp, _ = built(impl, spec, dtype, device, harness)
    vjp2 = harness.vjp2_function(tp)
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, spec)):
        x1, x2, w = random_inputs(spec, 50 + seed, dtype, weight_batch=weight_batch)
        h1, h2, _ = random_inputs(spec, 60 + seed, dtype)
        g = random_cotangent(spec, 70 + seed, dtype)
        got = vjp2(*_on(harness, dtype, device, x1, x2, w, g, h1, h2))
        expected = reference_vjp2(spec, x1, x2, w, g, h1, h2)
        for name, a, b in zip(("x1", "x2", "weights"), got, expected):
            error = max(error, subject.compare(f"second-order product wrt {name} ({label})", a, b, harness))
    return error


def _refusal(subject: _Subject, label: str, call: Callable[[], object], words: tuple[str, ...]) -> None:
    """``call()`` must raise an exception whose message contains every one of ``words``."""
    try:
        call()
    except Exception as exc:  # any exception type will do; the message is what a user reads
        message = str(exc)
        missing = [word for word in words if word not in message]
        if missing:
            raise subject.fail(
                f"{label} raised {type(exc).__name__}, but its message does not mention {', '.join(map(repr, missing))}: "
                f"{message!r}"
            ) from exc
    else:
        raise subject.fail(f"{label} was accepted; expected an error mentioning {', '.join(map(repr, words))}")


def check_bad_input(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Wrong last dimension of x1/x2, wrong weight shape and mixed dtypes raise errors that say so."""
    subject = _Subject(impl, case, dtype, "bad_input")
    spec = case.spec
    _, forward = built(impl, spec, dtype, device, harness)
    x1, x2, w = random_inputs(spec, 80, dtype)
    d1, d2, numel = spec.irreps_in1.dim, spec.irreps_in2.dim, spec.weight_numel
    a1, a2, aw = _on(harness, dtype, device, x1, x2, w)
    bad1, bad2 = _on(harness, dtype, device, np.zeros((BATCH, d1 + 1)), np.zeros((BATCH, d2 + 1)))
    _refusal(subject, f"x1 with last dimension {d1 + 1}", lambda: forward(bad1, a2, aw), ("x1", str(d1 + 1), str(d1)))
    _refusal(subject, f"x2 with last dimension {d2 + 1}", lambda: forward(a1, bad2, aw), ("x2", str(d2 + 1), str(d2)))
    if numel:
        (bad_w,) = _on(harness, dtype, device, np.zeros(numel + 1))
        _refusal(subject, f"weights of shape ({numel + 1},)", lambda: forward(a1, a2, bad_w), ("weights", str(numel)))
    else:
        (bad_w,) = _on(harness, dtype, device, np.zeros(3))
        _refusal(subject, "weights for a spec without weights", lambda: forward(a1, a2, bad_w), ("weights",))
    other = next((d for d in sorted(impl.capabilities.dtypes) if d != dtype), None)
    if other is not None:
        try:
            (x2_other,) = _on(harness, other, device, x2)
        except Exception:  # the harness cannot make such arrays in this process (e.g. jax without x64)
            x2_other = None
        if x2_other is not None and harness.dtype_name(x2_other) == other:
            _refusal(subject, f"x2 in {other} while x1 is in {dtype}", lambda: forward(a1, x2_other, aw), ("dtype",))
    return 0.0


@dataclass(frozen=True)
class Check:
    """A property: its function, and which implementations and cases it applies to."""

    name: str
    function: Callable[..., float]
    applies: Callable[[object, Case], bool]
    #: True: run in every dtype the implementation claims; False: only in the most precise one
    every_dtype: bool = True

    def __call__(self, impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
        return self.function(impl, case, dtype, harness, device)


def _always(impl, case):
    return True


def _small(impl, case):
    return not case.heavy


def _core(impl, case):
    return case.core


#: Every check by name, in the order ``tpcore check`` prints them.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("forward", check_forward, _always),
        Check("equivariance", check_equivariance, _small),
        Check("batch_shapes", check_batch_shapes, _core, every_dtype=False),
        Check("dtype_device", check_dtype_device, _core),
        Check("per_sample_weights", check_per_sample_weights,
              lambda impl, case: impl.capabilities.per_sample_weights and case.has_weights and not case.heavy,
              every_dtype=False),
        Check("grad", check_grad, lambda impl, case: impl.capabilities.grad_order >= 1 and not case.heavy),
        Check("grad2", check_grad2, lambda impl, case: impl.capabilities.grad_order >= 2 and case.core, every_dtype=False),
        Check("bad_input", check_bad_input, _core, every_dtype=False),
    )
}


__all__ = ["TOLERANCES", "ConformanceError", "Check", "CHECKS", "random_inputs", "random_cotangent"] + [f"check_{n}" for n in (
    "forward", "equivariance", "batch_shapes", "dtype_device", "per_sample_weights", "grad", "grad2", "bad_input")]
