r"""Wigner 6j symbols by Racah's formula: exactly for one symbol, vectorized in float64 for many.

.. math::
    \begin{Bmatrix} j_1 & j_2 & j_3 \\ j_4 & j_5 & j_6 \end{Bmatrix}
    = \Delta(j_1 j_2 j_3)\Delta(j_1 j_5 j_6)\Delta(j_4 j_2 j_6)\Delta(j_4 j_5 j_3)
      \sum_t \frac{(-1)^t (t+1)!}{\prod_i (t - a_i)! \prod_k (b_k - t)!}

with :math:`\Delta(abc) = \sqrt{(a+b-c)!(a-b+c)!(-a+b+c)!/(a+b+c+1)!}`, the triad sums
:math:`a = (j_1+j_2+j_3, j_1+j_5+j_6, j_4+j_2+j_6, j_4+j_5+j_3)`, the sums
:math:`b = (j_1+j_2+j_4+j_5, j_2+j_3+j_5+j_6, j_3+j_1+j_6+j_4)` and :math:`\max a \le t \le \min b`;
zero unless the four triads satisfy the triangle rule (integer degrees only). The 6j symbol is the
full contraction of four unit-norm 3j tensors around a tetrahedron (see :func:`tpcore.coefficients`
for the one the matrix TP needs).
"""

from __future__ import annotations

from math import factorial, log, sqrt

import numpy as np

from ._util import as_degree

__all__ = ["wigner_6j", "wigner_6j_array"]


def _triangle(a, b, c):
    return (abs(a - b) <= c) & (c <= a + b)


def _triads(j1, j2, j3, j4, j5, j6):
    return (j1, j2, j3), (j1, j5, j6), (j4, j2, j6), (j4, j5, j3)


def _sums(j1, j2, j3, j4, j5, j6):
    a = (j1 + j2 + j3, j1 + j5 + j6, j4 + j2 + j6, j4 + j5 + j3)
    b = (j1 + j2 + j4 + j5, j2 + j3 + j5 + j6, j3 + j1 + j6 + j4)
    return a, b


def wigner_6j(j1: int, j2: int, j3: int, j4: int, j5: int, j6: int) -> float:
    """One 6j symbol ``{j1 j2 j3; j4 j5 j6}`` in exact integer arithmetic, rounded once (float)."""
    js = [as_degree(f"j{k}", j) for k, j in enumerate((j1, j2, j3, j4, j5, j6), start=1)]
    if not all(_triangle(*t) for t in _triads(*js)):
        return 0.0
    a, b = _sums(*js)
    f = factorial
    tmin, tmax = max(a), min(b)
    # the common denominator D = prod (tmax - a_i)! prod (b_k - tmin)! makes every term an integer
    total = 0
    for t in range(tmin, tmax + 1):
        term = f(t + 1)
        for ai in a:
            term *= f(tmax - ai) // f(t - ai)
        for bk in b:
            term *= f(bk - tmin) // f(bk - t)
        total += -term if t % 2 else term
    if total == 0:
        return 0.0
    num, den = total * total, 1
    for x, y, z in _triads(*js):
        num *= f(x + y - z) * f(x - y + z) * f(-x + y + z)
        den *= f(x + y + z + 1)
    for ai in a:
        den *= f(tmax - ai) ** 2
    for bk in b:
        den *= f(bk - tmin) ** 2
    value = sqrt(num / den)
    return value if total > 0 else -value


def _log_factorials(n: int) -> np.ndarray:
    return np.array([log(factorial(k)) for k in range(n + 1)])


def wigner_6j_array(j: np.ndarray) -> np.ndarray:
    """``{j1 j2 j3; j4 j5 j6}`` for each row of the integer array ``j (..., 6)``, float64.

    Racah's sum with each term from exact log-factorials; its terms alternate, and the cancellation
    (at most about 1e4 for degrees up to 40) limits the absolute error to about 1e-13. Rows whose
    triads break the triangle rule give 0.
    """
    j = np.asarray(j, dtype=np.int64)
    if j.shape[-1:] != (6,) or (j.size and j.min() < 0):
        raise ValueError(f"j must be non-negative integers of shape (..., 6), got shape {j.shape}")
    shape, j = j.shape[:-1], j.reshape(-1, 6)
    out = np.zeros(len(j))
    ok = np.ones(len(j), dtype=bool)
    for t in _triads(*j.T):
        ok &= _triangle(*t)
    j = j[ok]
    if len(j) == 0:
        return out.reshape(shape)
    a, b = (np.stack(s, axis=1) for s in _sums(*j.T))
    LF = _log_factorials(int(b.max()) + 1)
    log_delta = sum(0.5 * (LF[x + y - z] + LF[x - y + z] + LF[-x + y + z] - LF[x + y + z + 1]) for x, y, z in _triads(*j.T))
    tmin, tmax = a.max(axis=1), b.min(axis=1)
    total = np.zeros(len(j))
    # one pass per offset t - tmin, over the rows whose sum is that long (most are short)
    for offset in range(int((tmax - tmin).max()) + 1):
        rows = np.nonzero(tmax - tmin >= offset)[0]
        t = tmin[rows] + offset
        log_term = log_delta[rows] + LF[t + 1] - LF[t[:, None] - a[rows]].sum(axis=1) - LF[b[rows] - t[:, None]].sum(axis=1)
        total[rows] += np.where(t % 2, -1.0, 1.0) * np.exp(log_term)
    out[ok] = total
    return out.reshape(shape)
