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
from tpcore.testing.catalogue import Case
from tpcore.testing.common import (
    BATCH, TOLERANCES, ConformanceError, Subject, built, group_elements, on, random_cotangent, random_inputs,
)  # fmt: skip
from tpcore.testing.conv_checks import applies as conv_applies
from tpcore.testing.conv_checks import check_conv, check_conv_equivariance, check_conv_grad, check_conv_grad2
from tpcore.testing.reference_grads import reference_vjp, reference_vjp2


# -- the checks -----------------------------------------------------------------------------------


def check_forward(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Batch ``(N,)`` with shared weights, against the float64 reference."""
    subject = Subject(impl, case, dtype, "forward")
    _, forward = built(impl, case.spec, dtype, device, harness)
    x1, x2, w = random_inputs(case.spec, 0, dtype)
    return subject.compare("output", forward(*on(harness, dtype, device, x1, x2, w)), reference(case.spec, x1, x2, w), harness)


def check_equivariance(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """``f(D1 x1, D2 x2, w) == D_out f(x1, x2, w)``, both sides computed by the implementation."""
    subject = Subject(impl, case, dtype, "equivariance")
    spec = case.spec
    _, forward = built(impl, spec, dtype, device, harness)
    x1, x2, w = random_inputs(spec, 1, dtype)
    out = harness.to_numpy(forward(*on(harness, dtype, device, x1, x2, w)))
    error = 0.0
    for label, R in group_elements(spec):
        D1, D2, Do = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
        rotated = forward(*on(harness, dtype, device, x1 @ D1.T, x2 @ D2.T, w))
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
    subject = Subject(impl, case, dtype, "batch_shapes")
    _, forward = built(impl, case.spec, dtype, device, harness)
    error = 0.0
    for seed, (label, s1, s2) in enumerate(BATCH_SHAPES):
        x1, x2, w = random_inputs(case.spec, 10 + seed, dtype, batch=s1, batch2=s2)
        got = forward(*on(harness, dtype, device, x1, x2, w))
        error = max(error, subject.compare(f"output for batch {label}", got, reference(case.spec, x1, x2, w), harness))
    return error


def check_dtype_device(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """The output has the inputs' dtype and device."""
    subject = Subject(impl, case, dtype, "dtype_device")
    _, forward = built(impl, case.spec, dtype, device, harness)
    x1, x2, w = on(harness, dtype, device, *random_inputs(case.spec, 2, dtype))
    out = forward(x1, x2, w)
    for what, of in (("dtype", harness.dtype_name), ("device", harness.device_name)):
        if of(out) != of(x1):
            raise subject.fail(f"the output's {what} is {of(out)}, but the inputs' is {of(x1)}")
    return 0.0


def check_per_sample_weights(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Weights ``(N, weight_numel)`` (one vector per sample) and ``(N, M, weight_numel)`` with broadcast inputs."""
    subject = Subject(impl, case, dtype, "per_sample_weights")
    _, forward = built(impl, case.spec, dtype, device, harness)
    error = 0.0
    for seed, (label, s1, s2, sw) in enumerate(
        (("(N,)", (3,), (3,), (3,)), ("(N, M) broadcast from (N, 1) and (M,)", (2, 1), (3,), (2, 3)))
    ):
        x1, x2, w = random_inputs(case.spec, 20 + seed, dtype, batch=s1, batch2=s2, weight_batch=sw)
        got = forward(*on(harness, dtype, device, x1, x2, w))
        error = max(error, subject.compare(f"output for per-sample weights {label}", got, reference(case.spec, x1, x2, w), harness))
    return error


def _weight_layouts(impl, spec):
    """Shared weights always; per-sample weights too when the implementation claims them."""
    yield "shared weights", ()
    if spec.weight_numel and impl.capabilities.per_sample_weights:
        yield "per-sample weights", (BATCH,)


def check_grad(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """First derivatives (x1, x2, weights) via ``harness.vjp_function`` against the reference's."""
    subject = Subject(impl, case, dtype, "grad")
    tp, _ = built(impl, case.spec, dtype, device, harness)
    vjp = harness.vjp_function(tp)
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, case.spec)):
        x1, x2, w = random_inputs(case.spec, 30 + seed, dtype, weight_batch=weight_batch)
        g = random_cotangent(case.spec, 40 + seed, dtype)
        arrays = on(harness, dtype, device, x1, x2, w, g)
        grads = vjp(*arrays)
        for name, got, expected in zip(("x1", "x2", "weights"), grads, reference_vjp(case.spec, x1, x2, w, g)):
            error = max(error, subject.compare(f"gradient wrt {name} ({label})", got, expected, harness))
            if got is not None and harness.dtype_name(got) != dtype:
                raise subject.fail(f"gradient wrt {name} ({label}) has dtype {harness.dtype_name(got)}")
    return error


def check_grad2(impl, case: Case, dtype: str, harness, device: str | None = None) -> float:
    """Second derivatives via ``harness.vjp2_function`` against :func:`reference_vjp2`."""
    subject = Subject(impl, case, dtype, "grad2")
    spec = case.spec
    tp, _ = built(impl, spec, dtype, device, harness)
    vjp2 = harness.vjp2_function(tp)
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, spec)):
        x1, x2, w = random_inputs(spec, 50 + seed, dtype, weight_batch=weight_batch)
        h1, h2, _ = random_inputs(spec, 60 + seed, dtype)
        g = random_cotangent(spec, 70 + seed, dtype)
        got = vjp2(*on(harness, dtype, device, x1, x2, w, g, h1, h2))
        expected = reference_vjp2(spec, x1, x2, w, g, h1, h2)
        for name, a, b in zip(("x1", "x2", "weights"), got, expected):
            error = max(error, subject.compare(f"second-order product wrt {name} ({label})", a, b, harness))
    return error


def _refusal(subject: Subject, label: str, call: Callable[[], object], words: tuple[str, ...]) -> None:
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
    subject = Subject(impl, case, dtype, "bad_input")
    spec = case.spec
    _, forward = built(impl, spec, dtype, device, harness)
    x1, x2, w = random_inputs(spec, 80, dtype)
    d1, d2, numel = spec.irreps_in1.dim, spec.irreps_in2.dim, spec.weight_numel
    a1, a2, aw = on(harness, dtype, device, x1, x2, w)
    bad1, bad2 = on(harness, dtype, device, np.zeros((BATCH, d1 + 1)), np.zeros((BATCH, d2 + 1)))
    _refusal(subject, f"x1 with last dimension {d1 + 1}", lambda: forward(bad1, a2, aw), ("x1", str(d1 + 1), str(d1)))
    _refusal(subject, f"x2 with last dimension {d2 + 1}", lambda: forward(a1, bad2, aw), ("x2", str(d2 + 1), str(d2)))
    if numel:
        (bad_w,) = on(harness, dtype, device, np.zeros(numel + 1))
        _refusal(subject, f"weights of shape ({numel + 1},)", lambda: forward(a1, a2, bad_w), ("weights", str(numel)))
    else:
        (bad_w,) = on(harness, dtype, device, np.zeros(3))
        _refusal(subject, "weights for a spec without weights", lambda: forward(a1, a2, bad_w), ("weights",))
    other = next((d for d in sorted(impl.capabilities.dtypes) if d != dtype), None)
    if other is not None:
        try:
            (x2_other,) = on(harness, other, device, x2)
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
        # the convolution op (tpcore.build_conv), where and on which cases conv_checks.applies says
        Check("conv", check_conv, conv_applies),
        Check("conv_equivariance", check_conv_equivariance, conv_applies, every_dtype=False),
        Check("conv_grad", check_conv_grad, lambda impl, case: impl.capabilities.grad_order >= 1 and conv_applies(impl, case),
              every_dtype=False),
        Check("conv_grad2", check_conv_grad2, lambda impl, case: impl.capabilities.grad_order >= 2 and conv_applies(impl, case),
              every_dtype=False),
    )
}


__all__ = ["TOLERANCES", "ConformanceError", "Check", "CHECKS", "built", "random_inputs", "random_cotangent"] + [f"check_{n}" for n in (
    "forward", "equivariance", "batch_shapes", "dtype_device", "per_sample_weights", "grad", "grad2", "bad_input")]
