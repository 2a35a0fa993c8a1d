r"""Real Clebsch-Gordan coefficients (``wigner_3j``) in e3nn's convention.

Method: the complex SU(2) Clebsch-Gordan coefficients :math:`\langle l_1 m_1 l_2 m_2 | l_3 m_3\rangle`
(Condon-Shortley phase) are computed exactly with Racah's formula in integer arithmetic, then
expressed in the real basis of e3nn with :func:`change_basis_real_to_complex`, and normalized to
unit Frobenius norm.
"""

from __future__ import annotations

import functools
from math import comb, factorial, sqrt

import numpy as np

from ._util import as_degree, readonly

__all__ = ["wigner_3j", "change_basis_real_to_complex"]


def change_basis_real_to_complex(l: int) -> np.ndarray:
    r"""Change of basis ``Q`` (complex128, (2l+1, 2l+1)) between e3nn's real basis and the complex one.

    Equal to e3nn's ``o3.change_basis_real_to_complex(l)``. Rows are indexed by the complex basis
    :math:`|l, m\rangle` (row ``l + m``), columns by the real basis (column ``l + m``); a real-basis
    tensor is obtained from a complex-basis one by contracting each input index with ``Q`` and the
    output index with ``conj(Q)``. With :math:`s = 1/\sqrt 2` and :math:`m > 0`, the column of real
    index ``l + m`` is :math:`(-1)^m s\,|m\rangle + s\,|{-m}\rangle`, the column of real index ``l - m`` is
    :math:`i(-1)^m s\,|m\rangle - i s\,|{-m}\rangle`, and column ``l`` is :math:`|0\rangle`; everything is
    multiplied by :math:`(-i)^l`, the phase e3nn adds so that the real Clebsch-Gordan coefficients come
    out real. ``Q`` is unitary. Returns a fresh (writable) array.
    """
    l = as_degree("l", l)
    s = 1 / sqrt(2)
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    q[l, l] = 1.0
    for m in range(1, l + 1):
        sign = (-1) ** m
        q[l + m, l + m] = sign * s
        q[l - m, l + m] = s
        q[l + m, l - m] = 1j * sign * s
        q[l - m, l - m] = -1j * s
    return (-1j) ** l * q


def _su2_cg(l1: int, m1: int, l2: int, m2: int, l3: int) -> float:
    r"""Complex CG :math:`\langle l_1 m_1 l_2 m_2 | l_3, m_1+m_2\rangle` by Racah's formula (exact).

    .. math::
        C = \sqrt{\frac{(2l_3+1)(l_3+l_1-l_2)!(l_3-l_1+l_2)!(l_1+l_2-l_3)!}{(l_1+l_2+l_3+1)!}
            (l_3+m_3)!(l_3-m_3)!(l_1-m_1)!(l_1+m_1)!(l_2-m_2)!(l_2+m_2)!}
            \sum_k \frac{(-1)^k}{k!(l_1+l_2-l_3-k)!(l_1-m_1-k)!(l_2+m_2-k)!(l_3-l_2+m_1+k)!(l_3-l_1-m_2+k)!}

    In integers: with :math:`A = l_1+l_2-l_3`, :math:`B = l_1-l_2+l_3`, :math:`C = -l_1+l_2+l_3`, the sum
    is :math:`S / (A!\,B!\,C!)` with :math:`S = \sum_k (-1)^k \binom{A}{k}\binom{B}{l_1-m_1-k}\binom{C}{l_2+m_2-k}`,
    so :math:`C = S\,\sqrt{(2l_3+1)(l_3+m_3)!(l_3-m_3)!(l_1-m_1)!(l_1+m_1)!(l_2-m_2)!(l_2+m_2)! /
    ((l_1+l_2+l_3+1)!\,A!\,B!\,C!)}`: exact integers, one rounded division, one sqrt.
    """
    m3 = m1 + m2
    f = factorial
    A, B, C = l1 + l2 - l3, l1 - l2 + l3, -l1 + l2 + l3
    kmin = max(0, l2 - l3 - m1, l1 - l3 + m2)
    kmax = min(A, l1 - m1, l2 + m2)
    total = 0
    for k in range(kmin, kmax + 1):
        term = comb(A, k) * comb(B, l1 - m1 - k) * comb(C, l2 + m2 - k)
        total += -term if k % 2 else term
    if total == 0:
        return 0.0
    num = total * total * (2 * l3 + 1) * f(l3 + m3) * f(l3 - m3) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2)
    value = sqrt(num / (f(l1 + l2 + l3 + 1) * f(A) * f(B) * f(C)))
    return value if total > 0 else -value


def _complex_cg(l1: int, l2: int, l3: int) -> np.ndarray:
    """Dense complex-basis CG tensor C[m1+l1, m2+l2, m3+l3] (real numbers, float64)."""
    C = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    sign = (-1) ** (l1 + l2 - l3)  # <l1 -m1 l2 -m2 | l3 -m3> = (-1)^(l1+l2-l3) <l1 m1 l2 m2 | l3 m3>
    for m1 in range(0, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            if m1 == 0 and m2 < 0:
                continue  # the mirror of m2 > 0
            value = _su2_cg(l1, m1, l2, m2, l3)
            C[l1 + m1, l2 + m2, l3 + m1 + m2] = value
            C[l1 - m1, l2 - m2, l3 - m1 - m2] = sign * value
    return C


def _change_axis(C: np.ndarray, Q: np.ndarray, axis: int) -> np.ndarray:
    """``C`` contracted with ``Q`` on ``axis`` (``sum_i C[.., i, ..] Q[i, a]``), using that every
    column of ``Q`` has at most two nonzeros (``|m>`` and ``|-m>``): O(size), no small GEMMs."""
    rows = np.argsort(-np.abs(Q), axis=0, kind="stable")[:2]  # the two largest entries of each column
    columns = np.arange(Q.shape[1])
    out = 0
    for r in rows:
        shape = [1] * C.ndim
        shape[axis] = -1
        out = out + np.take(C, r, axis=axis) * Q[r, columns].reshape(shape)
    return out


def _check_triangle(l1: int, l2: int, l3: int) -> tuple[int, int, int]:
    l1, l2, l3 = as_degree("l1", l1), as_degree("l2", l2), as_degree("l3", l3)
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(
            f"wigner_3j(l1={l1}, l2={l2}, l3={l3}): the triangle rule |l1 - l2| <= l3 <= l1 + l2 fails"
        )
    return l1, l2, l3


@functools.lru_cache(maxsize=4096)  # keyed by degrees: holds every triple with all l <= 19
def _wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    Q1 = change_basis_real_to_complex(l1)
    Q2 = change_basis_real_to_complex(l2)
    Q3 = change_basis_real_to_complex(l3)
    # Inputs transform with Q, the output with Q^dagger (Q is unitary), one index at a time.
    C = _change_axis(_complex_cg(l1, l2, l3), Q1, 0)
    C = _change_axis(C, Q2, 1)
    C = _change_axis(C, Q3.conj(), 2)
    imag = np.abs(C.imag).max()
    if imag > 1e-10:  # pragma: no cover - guards the (-i)^l phase convention
        raise RuntimeError(f"wigner_3j({l1}, {l2}, {l3}) is not real (max imaginary part {imag:.3g})")
    C = np.ascontiguousarray(C.real)
    return readonly(C / np.sqrt(np.sum(C * C)))


def wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    r"""Real Clebsch-Gordan tensor ``C`` of shape (2l1+1, 2l2+1, 2l3+1), float64, e3nn's convention.

    Equal to e3nn's ``o3.wigner_3j(l1, l2, l3)``: ``C`` is invariant,
    :math:`C_{abc} = D^{l_1}_{aa'}(R) D^{l_2}_{bb'}(R) D^{l_3}_{cc'}(R) C_{a'b'c'}` for every rotation,
    in the real basis used by :func:`~tpcore.so3.spherical_harmonics`, with unit Frobenius norm
    :math:`\sum_{abc} C_{abc}^2 = 1` and e3nn's sign. Hence
    :math:`\sum_{ab} C_{abc} C_{abc'} = \delta_{cc'}/(2l_3+1)`.

    Raises ValueError if an ``l`` is negative or the triangle rule
    :math:`|l_1-l_2| \le l_3 \le l_1+l_2` fails. The result is cached and read-only.
    """
    return _wigner_3j(*_check_triangle(l1, l2, l3))
