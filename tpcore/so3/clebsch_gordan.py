r"""Real Clebsch-Gordan coefficients (``wigner_3j``) in e3nn's convention.

Method: the complex SU(2) Clebsch-Gordan coefficients :math:`\langle l_1 m_1 l_2 m_2 | l_3 m_3\rangle`
(Condon-Shortley phase) are computed exactly with Racah's formula in rational arithmetic, then
expressed in the real basis of e3nn with :func:`change_basis_real_to_complex`, and normalized to
unit Frobenius norm.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from math import factorial, sqrt

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
    """
    m3 = m1 + m2
    f = factorial
    pref2 = Fraction(
        (2 * l3 + 1) * f(l3 + l1 - l2) * f(l3 - l1 + l2) * f(l1 + l2 - l3)
        * f(l3 + m3) * f(l3 - m3) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2),
        f(l1 + l2 + l3 + 1),
    )
    kmin = max(0, l2 - l3 - m1, l1 - l3 + m2)
    kmax = min(l1 + l2 - l3, l1 - m1, l2 + m2)
    total = Fraction(0)
    for k in range(kmin, kmax + 1):
        den = f(k) * f(l1 + l2 - l3 - k) * f(l1 - m1 - k) * f(l2 + m2 - k) * f(l3 - l2 + m1 + k) * f(l3 - l1 - m2 + k)
        total += Fraction((-1) ** k, den)
    if total == 0:
        return 0.0
    # sqrt of the exact square keeps the only rounding to one float conversion and one sqrt.
    value = sqrt(float(pref2 * total * total))
    return value if total > 0 else -value


def _complex_cg(l1: int, l2: int, l3: int) -> np.ndarray:
    """Dense complex-basis CG tensor C[m1+l1, m2+l2, m3+l3] (real numbers, float64)."""
    C = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            C[l1 + m1, l2 + m2, l3 + m1 + m2] = _su2_cg(l1, m1, l2, m2, l3)
    return C


def _check_triangle(l1: int, l2: int, l3: int) -> tuple[int, int, int]:
    l1, l2, l3 = as_degree("l1", l1), as_degree("l2", l2), as_degree("l3", l3)
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(
            f"wigner_3j(l1={l1}, l2={l2}, l3={l3}): the triangle rule |l1 - l2| <= l3 <= l1 + l2 fails"
        )
    return l1, l2, l3


@functools.lru_cache(maxsize=None)
def _wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    Q1 = change_basis_real_to_complex(l1)
    Q2 = change_basis_real_to_complex(l2)
    Q3 = change_basis_real_to_complex(l3)
    # Inputs transform with Q, the output with Q^dagger (Q is unitary).
    # One index at a time: a single 4-operand einsum would loop over all six indices at once.
    C = np.einsum("ijk,ia->ajk", _complex_cg(l1, l2, l3).astype(np.complex128), Q1)
    C = np.einsum("ajk,jb->abk", C, Q2)
    C = np.einsum("abk,kc->abc", C, Q3.conj())
    imag = np.abs(C.imag).max()
    if imag > 1e-10:  # pragma: no cover - guards the (-i)^l phase convention
        raise RuntimeError(f"wigner_3j({l1}, {l2}, {l3}) is not real (max imaginary part {imag:.3g})")
    C = np.ascontiguousarray(C.real)
    return readonly(C / np.linalg.norm(C))


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
