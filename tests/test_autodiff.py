"""Reverse mode over compiled programs (tpcore.autodiff) with numpy float64, against gradients that need no autodiff.

The tensor product is bilinear in (x1, x2) and each weight coordinate enters with power one, so the
gradient of ``sum(g * tp(x1, x2, w))`` is the reference evaluated on unit vectors, contracted with
``g`` (:func:`reference_grads`). The same helpers serve tests/test_backend_cupy.py.
"""

import numpy as np
import pytest
from test_reference import SPECS

from tpcore import TensorProductSpec
from tpcore.autodiff import ProgramVJP, VJPOps
from tpcore.execute import ArrayOps
from tpcore.plan import STRATEGIES, Op, Plan, lower
from tpcore.program import compile_function, resolve
from tpcore.reference import reference

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


def _cases():
    for spec in SPECS:
        label = spec.paths[0].mode if spec.variant == "cgtp" else ("weighted" if spec.weighted else "plain")
        for strategy in STRATEGIES[spec.variant]:
            yield pytest.param(spec, strategy, id=f"{spec.variant}-{label}-{strategy}-{spec.irreps_in1}")


CASES = list(_cases())
WEIGHTED_CASES = [c for c in CASES if c.values[0].weight_numel]


def test_catalogue_covers_every_variant_strategy_and_mode():
    covered = {(p.values[0].variant, p.values[1]) for p in CASES}
    assert covered == {(v, s) for v, strategies in STRATEGIES.items() for s in strategies}
    assert {p.values[0].paths[0].mode for p in CASES if p.values[0].variant == "cgtp"} == {"uvw", "uvu", "uuw", "uuu", "uvuv"}
    assert {p.values[0].weighted for p in CASES if p.values[0].variant != "cgtp"} == {False, True}


# -- helpers (also used by test_backend_cupy.py) --------------------------------------------------


def inputs(spec, rng, batch=(4,), per_sample=False, dtype="float64"):
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,)).astype(dtype)
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,)).astype(dtype)
    w = rng.normal(size=(batch if per_sample else ()) + (spec.weight_numel,)).astype(dtype) if spec.weight_numel else None
    return x1, x2, w


def assert_close(got, expected, dtype="float64"):
    got = np.asarray(got)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(got - expected), initial=0.0))
    assert error <= TOLERANCE[dtype] * scale, f"max error {error:.3g} > {TOLERANCE[dtype]:.0e} * {scale:.3g}"
    return error / scale


def reference_grads(spec, x1, x2, w, g):
    """Gradients of ``sum(g * reference(spec, x1, x2, w))`` for ``x1 (Z, d1)``, without autodiff.

    ``w`` is ``(numel,)`` (shared: its gradient is summed over Z) or ``(Z, numel)`` (per sample).
    """
    x1, x2, g = (np.asarray(a, dtype=np.float64) for a in (x1, x2, g))
    e1, e2 = np.eye(spec.irreps_in1.dim), np.eye(spec.irreps_in2.dim)
    wb = None if w is None else np.asarray(w, dtype=np.float64)
    w_rows = None if wb is None else (wb[:, None] if wb.ndim == 2 else wb)
    grad_x1 = np.einsum("zk,zik->zi", g, reference(spec, e1[None], x2[:, None], w_rows))
    grad_x2 = np.einsum("zk,zjk->zj", g, reference(spec, x1[:, None], e2[None], w_rows))
    grad_w = None
    if wb is not None:
        # Each weight coordinate enters with power one (cgtp: linear; weighted gtp/s2grid/mtp: the
        # product of three separately linear scalings), so f(w + e_j) - f(w) is exactly df/dw_j.
        shifted = (wb[:, None] if wb.ndim == 2 else wb[None]) + np.eye(spec.weight_numel)
        diff = reference(spec, x1[:, None], x2[:, None], shifted) - reference(spec, x1, x2, wb)[:, None]
        grad_w = np.einsum("zk,zjk->zj" if wb.ndim == 2 else "zk,zjk->j", g, diff)
    return grad_x1, grad_x2, grad_w


def run(plan, x1, x2, w=None, per_sample=False):
    """``plan``'s compiled program over numpy on flat inputs (dtype: the constants in float64)."""
    program = resolve(plan, per_sample)
    ops = ArrayOps(np)
    consts = {ident: ops.asarray(value, np.float64) for ident, value in program.const_values().items()}
    return compile_function(program, ops, consts)(x1, x2, w)


def plan_vjp(spec, strategy, x1, x2, w, g, per_sample=False, dtype="float64"):
    """``(out, grads)`` of the compiled program of ``spec``'s plan, over numpy in ``dtype``."""
    return ProgramVJP(resolve(lower(spec, strategy), per_sample), VJPOps(np), dtype=dtype)(x1, x2, w, g)


# -- every variant x strategy -------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy", CASES)
def test_vjp_matches_reference_gradients(spec, strategy):
    rng = np.random.default_rng(0)
    x1, x2, w = inputs(spec, rng)
    g = rng.normal(size=(4, spec.irreps_out.dim))
    out, grads = plan_vjp(spec, strategy, x1, x2, w, g)
    assert_close(out, reference(spec, x1, x2, w))
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        if expected is None:
            assert got is None
        else:
            assert got.dtype == np.float64
            assert_close(got, expected)


@pytest.mark.parametrize("spec, strategy", WEIGHTED_CASES)
def test_vjp_with_per_sample_weights(spec, strategy):
    rng = np.random.default_rng(1)
    x1, x2, w = inputs(spec, rng, batch=(3,), per_sample=True)
    g = rng.normal(size=(3, spec.irreps_out.dim))
    out, grads = plan_vjp(spec, strategy, x1, x2, w, g, per_sample=True)
    assert_close(out, reference(spec, x1, x2, w))
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)


@pytest.mark.parametrize("spec, strategy", CASES[::3])
def test_finite_difference_spot_check(spec, strategy):
    rng = np.random.default_rng(2)
    x1, x2, w = inputs(spec, rng, batch=(2,))
    g = rng.normal(size=(2, spec.irreps_out.dim))
    _, (g1, g2, gw) = plan_vjp(spec, strategy, x1, x2, w, g)
    loss = lambda a, b, c: float(np.sum(g * reference(spec, a, b, c)))  # noqa: E731
    v1, v2 = rng.normal(size=x1.shape), rng.normal(size=x2.shape)
    vw = None if w is None else rng.normal(size=w.shape)
    h = 1e-6
    numeric = (loss(x1 + h * v1, x2 + h * v2, None if w is None else w + h * vw)
               - loss(x1 - h * v1, x2 - h * v2, None if w is None else w - h * vw)) / (2 * h)
    analytic = np.sum(g1 * v1) + np.sum(g2 * v2) + (0.0 if w is None else np.sum(gw * vw))
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic))


def test_unused_inputs_get_zero_gradients_and_no_weights_give_none():
    spec = TensorProductSpec.cgtp("1x0e + 1x1o", "1x0e + 1x2e", "1x0e", mode="uvw")  # 1o and 2e feed no path
    rng = np.random.default_rng(3)
    x1, x2, w = inputs(spec, rng, batch=(2,))
    g = rng.normal(size=(2, 1))
    _, grads = plan_vjp(spec, None, x1, x2, w, g)
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)
    assert np.all(grads[0][:, 1:] == 0) and np.all(grads[1][:, 1:] == 0)
    plain = TensorProductSpec.gtp("1x0e + 1x1o", "1x0e", "1x0e + 1x1o")
    _, (_, _, gw) = plan_vjp(plain, "fft", *inputs(plain, rng, batch=(2,))[:2], None, rng.normal(size=(2, 4)))
    assert gw is None


@pytest.mark.parametrize("batch", [0, 1])
def test_empty_and_single_batch(batch):
    spec = SPECS[0]
    rng = np.random.default_rng(4)
    x1, x2, w = inputs(spec, rng, batch=(batch,))
    g = rng.normal(size=(batch, spec.irreps_out.dim))
    out, (g1, g2, gw) = plan_vjp(spec, None, x1, x2, w, g)
    assert out.shape == g.shape and g1.shape == x1.shape and g2.shape == x2.shape and gw.shape == w.shape
    assert_close(gw, reference_grads(spec, x1, x2, w, g)[2])


def test_float32_stays_float32():
    spec = TensorProductSpec.gtp("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e + 2x3o", weighted=True)
    rng = np.random.default_rng(5)
    x1, x2, w = inputs(spec, rng, dtype="float32")
    g = rng.normal(size=(4, spec.irreps_out.dim)).astype(np.float32)
    out, grads = plan_vjp(spec, "fft", x1, x2, w, g, dtype="float32")
    assert out.dtype == np.float32 and all(a.dtype == np.float32 for a in grads)
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected, "float32")


def test_forward_keeps_values_and_backward_can_run_twice():
    spec, strategy = SPECS[-1], "matmul"
    plan = lower(spec, strategy)
    vjp = ProgramVJP(resolve(plan, False), VJPOps(np))
    rng = np.random.default_rng(6)
    x1, x2, w = inputs(spec, rng)
    tape = vjp.forward(x1, x2, w)
    assert {s.out for s in vjp.program.statements} <= set(tape.values)
    np.testing.assert_array_equal(tape.out, run(plan, x1, x2, w))
    g = rng.normal(size=tape.out.shape)
    first, second = vjp.backward(tape, g), vjp.backward(tape, 2 * g)
    for a, b in zip(first, second):
        np.testing.assert_allclose(2 * a, b, rtol=1e-14, atol=1e-14)


# -- individual rules on hand-made plans --------------------------------------------------------


def _plan_by_unit_vectors(plan, consts, x1, x2, g):
    """The gradient of a plan bilinear in (x1, x2), from its program on unit vectors (no weights)."""
    e1, e2 = np.eye(x1.shape[1]), np.eye(x2.shape[1])
    rows1 = np.stack([run(plan, e1, np.repeat(x2[z : z + 1], len(e1), 0)) for z in range(len(x1))])
    rows2 = np.stack([run(plan, np.repeat(x1[z : z + 1], len(e2), 0), e2) for z in range(len(x1))])
    return np.einsum("zk,zik->zi", g, rows1), np.einsum("zk,zjk->zj", g, rows2)


def _check_plan(ops_list, consts, d1, d2, seed=7):
    plan = Plan(spec=SPECS[0], strategy="dense", consts=consts, ops=tuple(ops_list))
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(3, d1)), rng.normal(size=(3, d2))
    out = run(plan, x1, x2)
    g = rng.normal(size=out.shape)
    got_out, (g1, g2, gw) = ProgramVJP(resolve(plan, False), VJPOps(np))(x1, x2, None, g)
    np.testing.assert_array_equal(got_out, out)
    e1, e2 = _plan_by_unit_vectors(plan, consts, x1, x2, g)
    assert_close(g1, e1)
    assert_close(g2, e2)
    assert gw is None


def test_einsum_index_of_one_operand_only_and_repeated_gather():
    # "u" and "v" each live in one operand only; the gather repeats entries (scatter by one-hot matmul)
    plan_ops = [
        Op("block", "a", ("x1",), (("dim", 2), ("mul", 3), ("start", 0), ("stop", 6))),
        Op("block", "b", ("x2",), (("dim", 2), ("mul", 2), ("start", 0), ("stop", 4))),
        Op("einsum", "ab", ("a", "b"), (("equation", "zui,zvi->zi"), ("weight_arg", None))),
        Op("take", "t1", ("x1", "index1")),
        Op("take", "t2", ("x2", "index2")),
        Op("mul", "m", ("t1", "t2")),
        Op("concat", "out", ("ab", "m")),
    ]
    consts = {"index1": np.array([0, 2, 2, 1, 0]), "index2": np.array([3, 1, 0, 2, 2])}
    _check_plan(plan_ops, consts, 6, 4)


def test_fft_conv2d_adjoint_is_the_transpose():
    # sum(c * conv(a, b)) == sum(adj_a(c) * a) for complex a, b, c (transpose, no conjugation)
    rng = np.random.default_rng(8)
    cplx = lambda *s: rng.normal(size=s) + 1j * rng.normal(size=s)  # noqa: E731
    a, b, size = cplx(2, 3, 3, 2), cplx(2, 3, 2, 4), (4, 5)
    c = cplx(2, 3, *size)
    ops = VJPOps(np)
    lhs = np.sum(c * ops.fft_conv2d(a, b, size))
    assert abs(lhs - np.sum(ops.fft_conv2d_adjoint(c, b, size, a.shape[-2:]) * a)) < 1e-12 * abs(lhs)
    assert abs(lhs - np.sum(ops.fft_conv2d_adjoint(c, a, size, b.shape[-2:]) * b)) < 1e-12 * abs(lhs)


def test_scatter_last_matches_add_at():
    rng = np.random.default_rng(9)
    ops = VJPOps(np)
    for index, n in ((np.array([3, 0, 1, 2]), 4), (np.array([1, 1, 0, 1, 4]), 6)):
        ct = rng.normal(size=(2, 3, len(index)))
        expected = np.zeros((2, 3, n))
        np.add.at(expected, (Ellipsis, index), ct)
        np.testing.assert_array_equal(ops.scatter_last(ct, index, n), expected)
