"""Spec construction uses closed forms, checked here against the numerical definitions at small L,
and builds L = 20 specs without any expensive call (counted, not timed; one generous time bound)."""

import importlib
import time
from fractions import Fraction
from math import factorial, sqrt

import numpy as np
import pytest

from tpcore import TensorProductSpec, s2_irreps, so3
from tpcore.coefficients import mtp_basis, mtp_factors

# the modules (``tpcore.so3.gaunt`` as an attribute is the function of that name)
gaunt_module = importlib.import_module("tpcore.so3.gaunt")
clebsch_gordan = importlib.import_module("tpcore.so3.clebsch_gordan")


def _racah_6j(j1, j2, j3, j4, j5, j6) -> float:
    """Racah's formula written out in Fractions (the textbook form, no integer tricks)."""

    def delta(a, b, c):
        return Fraction(factorial(a + b - c) * factorial(a - b + c) * factorial(-a + b + c), factorial(a + b + c + 1))

    a = [j1 + j2 + j3, j1 + j5 + j6, j4 + j2 + j6, j4 + j5 + j3]
    b = [j1 + j2 + j4 + j5, j2 + j3 + j5 + j6, j3 + j1 + j6 + j4]
    total = Fraction(0)
    for t in range(max(a), min(b) + 1):
        den = 1
        for x in [t - ai for ai in a] + [bk - t for bk in b]:
            den *= factorial(x)
        total += Fraction((-1) ** t * factorial(t + 1), den)
    square = delta(j1, j2, j3) * delta(j1, j5, j6) * delta(j4, j2, j6) * delta(j4, j5, j3) * total * total
    return float(np.sign(total)) * sqrt(square)


def _triangle(a, b, c):
    return abs(a - b) <= c <= a + b


def test_6j_known_values_and_zeros():
    assert so3.wigner_6j(1, 1, 1, 1, 1, 1) == pytest.approx(1 / 6, abs=1e-15)
    assert so3.wigner_6j(2, 2, 2, 2, 2, 2) == pytest.approx(-3 / 70, abs=1e-15)
    assert so3.wigner_6j(0, 1, 1, 2, 1, 1) == pytest.approx(1 / 3, abs=1e-15)  # {0 b b; c a a}-type: (-1)^(a+b+c)/sqrt(dims)
    assert so3.wigner_6j(1, 1, 3, 1, 1, 1) == 0.0  # (1 1 3) breaks the triangle rule
    np.testing.assert_array_equal(so3.wigner_6j_array(np.array([[1, 1, 3, 1, 1, 1], [0, 0, 1, 0, 0, 0]])), [0.0, 0.0])


def test_6j_exact_and_vectorized_equal_the_textbook_formula():
    rng = np.random.default_rng(0)
    rows = []
    while len(rows) < 300:
        j = rng.integers(0, 21, size=6)
        j1, j2, j3, j4, j5, j6 = (int(x) for x in j)
        if _triangle(j1, j2, j3) and _triangle(j1, j5, j6) and _triangle(j4, j2, j6) and _triangle(j4, j5, j3):
            rows.append((j1, j2, j3, j4, j5, j6))
    expected = np.array([_racah_6j(*r) for r in rows])
    np.testing.assert_allclose([so3.wigner_6j(*r) for r in rows], expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(so3.wigner_6j_array(np.array(rows)), expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("a, b, c, d", [(1, 2, 2, 1), (3, 2, 4, 3), (5, 5, 4, 6)])
def test_6j_orthogonality(a, b, c, d):
    """sum_x (2x+1)(2f+1) {a b x; c d f}{a b x; c d g} = delta_fg (an identity, not a formula)."""
    xs = range(max(abs(a - b), abs(c - d)), min(a + b, c + d) + 1)
    fs = range(max(abs(a - d), abs(c - b)), min(a + d, c + b) + 1)
    J = np.array([[[a, b, x, c, d, f] for x in xs] for f in fs])
    S = so3.wigner_6j_array(J)  # (f, x)
    x = np.array(list(xs))
    gram = (S * (2 * x + 1)) @ S.T * (2 * np.array(list(fs)) + 1)[:, None]
    np.testing.assert_allclose(gram, np.eye(len(fs)), atol=1e-13)


def _mtp_factor_by_definition(ltilde, l1, l2, l3, norm):
    """``<T, wigner_3j(l1, l2, l3)>`` with ``T = sum B1[a,b,i] B2[b,c,j] B3[a,c,k]`` (dense; the
    definition spec construction used before the 6j form, contracted as two matrix products)."""
    B1, B2, B3 = (mtp_basis(ltilde, (l,), norm) for l in (l1, l2, l3))
    C = so3.wigner_3j(l1, l2, l3)
    n, d1, d2, d3 = B1.shape[0], *C.shape
    X1 = (B1.reshape(n * n, d1) @ C.reshape(d1, d2 * d3)).reshape(n, n, d2, d3)  # [a, b, j, k]
    P = X1.transpose(0, 3, 1, 2).reshape(n * d3, n * d2) @ B2.transpose(0, 2, 1).reshape(n * d2, n)  # [(a, k), c]
    return float(np.sum(P.reshape(n, d3, n) * B3.transpose(0, 2, 1)))


@pytest.mark.parametrize("norm", ["norm", "component"])
@pytest.mark.parametrize("ltilde", [0, 1, 2, 3, 4, 5])
def test_mtp_factors_from_6j_equal_the_dense_definition(ltilde, norm):
    triples = [(l1, l2, l3) for l1 in range(ltilde + 2) for l2 in range(ltilde + 2)
               for l3 in range(abs(l1 - l2), l1 + l2 + 1)]  # fmt: skip
    expected = np.array([_mtp_factor_by_definition(ltilde, *t, norm) for t in triples])
    got = mtp_factors(ltilde, triples, norm)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * max(1.0, np.abs(expected).max()))


def test_gaunt_factor_at_high_degree_is_the_closed_form():
    # G^{0ll} = I, and wigner_3j(0, l, l) = I / sqrt(2l+1): c = sqrt(2l+1)
    assert so3.gaunt_factor(0, 200, 200) == pytest.approx(sqrt(401), rel=1e-15)
    assert so3.gaunt_factor(150, 100, 201) == 0.0


@pytest.fixture
def expensive_calls(monkeypatch):
    """Counts the calls that made spec construction slow: Gaunt quadratures and exact CG entries."""
    counts = {"gaunt quadrature": 0, "CG entry": 0}

    def counting(name, function):
        def wrapper(*args):
            counts[name] += 1
            return function(*args)

        return wrapper

    monkeypatch.setattr(gaunt_module, "_gaunt", counting("gaunt quadrature", gaunt_module._gaunt.__wrapped__))
    monkeypatch.setattr(clebsch_gordan, "_su2_cg", counting("CG entry", clebsch_gordan._su2_cg))
    gaunt_module._gaunt_factor.cache_clear()
    clebsch_gordan._wigner_3j.cache_clear()
    return counts


@pytest.mark.parametrize("variant", ["s2grid", "gtp"])
def test_l20_gaunt_specs_need_no_quadrature_and_no_clebsch_gordan(variant, expensive_calls):
    start = time.perf_counter()
    spec = getattr(TensorProductSpec, variant)(s2_irreps(20), s2_irreps(20), s2_irreps(40))
    seconds = time.perf_counter() - start
    assert len(spec.paths) == 3311
    assert expensive_calls == {"gaunt quadrature": 0, "CG entry": 0}
    assert seconds < 10  # about 0.05 s; the bound only catches a return of the 420 s quadrature


def test_high_degree_gtp_spec(expensive_calls):
    start = time.perf_counter()
    spec = TensorProductSpec.gtp("1x200e", "1x0e", "1x200e")
    assert time.perf_counter() - start < 10 and spec.paths[0].normalization == pytest.approx(sqrt(401))
    assert expensive_calls == {"gaunt quadrature": 0, "CG entry": 0}


def test_mtp_spec_needs_no_clebsch_gordan(expensive_calls):
    spec = TensorProductSpec.mtp(s2_irreps(8), s2_irreps(8), s2_irreps(16))
    assert len(spec.paths) == 489 and expensive_calls["CG entry"] == 0
