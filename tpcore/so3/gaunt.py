r"""Gaunt coefficients: integrals of three real spherical harmonics (component normalization).

.. math:: G^{l_1 l_2 l_3}_{abc} = \frac1{4\pi} \int_{S^2} Y_{l_1 a}(r)\, Y_{l_2 b}(r)\, Y_{l_3 c}(r)\, dr

with :func:`~tpcore.so3.spherical_harmonics` in "component" normalization (so :math:`G^{0ll} = I`).
``G`` is invariant, hence proportional to :func:`~tpcore.so3.wigner_3j` (the invariant space of
:math:`l_1 \otimes l_2 \otimes l_3` is one-dimensional); it vanishes when :math:`l_1+l_2+l_3` is odd (the
integrand is odd under :math:`r \to -r`) or the triangle rule fails. :func:`gaunt` is the definition,
computed by quadrature on ``s2_grid_for_degree(l1 + l2 + l3)`` (exact for the degree-(l1+l2+l3)
integrand); :func:`gaunt_factor`, the proportionality constant, has a closed form.
"""

from __future__ import annotations

import functools
from math import factorial, pi, sqrt

import numpy as np

from ._util import as_degree, readonly
from .grids import s2_grid, s2_grid_for_degree
from .spherical_harmonics import spherical_harmonics

__all__ = ["gaunt", "gaunt_factor"]


def _degrees(l1: int, l2: int, l3: int) -> tuple[int, int, int]:
    return as_degree("l1", l1), as_degree("l2", l2), as_degree("l3", l3)


def _nonzero(l1: int, l2: int, l3: int) -> bool:
    return (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2


@functools.lru_cache(maxsize=1024)
def _gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    if not _nonzero(l1, l2, l3):
        return readonly(np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)))
    _, _, points, weights = s2_grid(*s2_grid_for_degree(l1 + l2 + l3))
    points, weights = points.reshape(-1, 3), weights.reshape(-1)
    y1, y2, y3 = (spherical_harmonics(l, points, normalize=False) for l in (l1, l2, l3))
    return readonly(np.einsum("n,na,nb,nc->abc", weights / (4 * pi), y1, y2, y3))


def gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    r"""Gaunt tensor :math:`G^{l_1 l_2 l_3}` of shape (2l1+1, 2l2+1, 2l3+1), float64, cached, read-only.

    :math:`G_{abc} = \frac1{4\pi}\int_{S^2} Y_{l_1 a} Y_{l_2 b} Y_{l_3 c}` (component-normalized SH);
    all zeros when l1+l2+l3 is odd or the triangle rule fails. Symmetric under permuting the three
    (l, index) pairs. The Gaunt product of SH coefficient vectors is
    ``out[l3] = einsum("abc,a,b->c", gaunt(l1, l2, l3), x1[l1], x2[l2])`` summed over l1, l2.
    """
    return _gaunt(*_degrees(l1, l2, l3))


@functools.lru_cache(maxsize=4096)
def _gaunt_factor(l1: int, l2: int, l3: int) -> float:
    if not _nonzero(l1, l2, l3):
        return 0.0
    # (l1 l2 l3; 0 0 0)^2 = (2g-2l1)! (2g-2l2)! (2g-2l3)! / (2g+1)! * [g! / ((g-l1)! (g-l2)! (g-l3)!)]^2
    # with 2g = l1 + l2 + l3, in exact integers: one rounding (the division) and one sqrt.
    g = (l1 + l2 + l3) // 2
    f = factorial
    num = (2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) * f(2 * g - 2 * l1) * f(2 * g - 2 * l2) * f(2 * g - 2 * l3) * f(g) ** 2
    den = f(2 * g + 1) * (f(g - l1) * f(g - l2) * f(g - l3)) ** 2
    return sqrt(num / den)


def gaunt_factor(l1: int, l2: int, l3: int) -> float:
    r"""The scalar ``c`` with ``gaunt(l1, l2, l3) == c * wigner_3j(l1, l2, l3)``; 0.0 if the sum is odd.

    Closed form: :math:`c = \sqrt{(2l_1+1)(2l_2+1)(2l_3+1)}\,
    \left|\begin{pmatrix} l_1 & l_2 & l_3 \\ 0 & 0 & 0\end{pmatrix}\right|`, positive in e3nn's
    ``wigner_3j`` convention (its entry at ``m1 = m2 = m3 = 0`` is ``+|3j(000)|`` when the sum is
    even), with the 3j symbol by Racah's closed form in exact integers: microseconds at any degree,
    where the quadrature of :func:`gaunt` grows as ``L^4``. Also 0.0 when the triangle rule fails.
    """
    return _gaunt_factor(*_degrees(l1, l2, l3))
