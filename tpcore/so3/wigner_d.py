r"""Wigner D matrices of SO(3) and O(3) in the real basis of :func:`~tpcore.so3.spherical_harmonics`.

Defining property, for proper rotations R and every x:

.. math:: Y_l(R x) = D^l(R)\, Y_l(x)   \qquad (\text{row vectors: } Y_l(x R^T) = Y_l(x) D^T).

Method: project onto the harmonics with an exact quadrature. On the grid ``s2_grid_for_degree(2l)``
with points :math:`p_n`, weights :math:`w_n` and :math:`A = Y_l(p)`, :math:`\frac1{4\pi} A^T W A = I`
exactly (component normalization), so :math:`D^T = \frac1{4\pi} A^T W\, Y_l(p R^T)`. The matrix
:math:`B = \frac1{4\pi} A^T W` is cached per ``l``; the whole computation is batched over R.
"""

from __future__ import annotations

import functools
from math import pi

import numpy as np

from ._util import as_degree, check_rotations, readonly
from .grids import s2_grid, s2_grid_for_degree
from .spherical_harmonics import spherical_harmonics

__all__ = ["wigner_D", "D_from_matrix"]


@functools.lru_cache(maxsize=64)
def _projector(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (n, 3) and B = A^T W / 4pi (2l+1, n) with B @ Y_l(points) = I."""
    _, _, points, weights = s2_grid(*s2_grid_for_degree(2 * l))
    points = points.reshape(-1, 3)
    A = spherical_harmonics(l, points, normalize=False)
    B = (A * weights.reshape(-1, 1)).T / (4 * pi)
    return points, readonly(np.ascontiguousarray(B))


def wigner_D(l: int, R: np.ndarray) -> np.ndarray:
    r"""Wigner D matrix :math:`D^l(R)` of proper rotations ``R`` (..., 3, 3) -> (..., 2l+1, 2l+1).

    Satisfies :math:`Y_l(R x) = D^l(R) Y_l(x)`, :math:`D(R_1 R_2) = D(R_1) D(R_2)`,
    :math:`D(R^T) = D(R)^T`, and equals e3nn's ``o3.wigner_D(l, *o3.matrix_to_angles(R))``.
    Raises ValueError if ``R`` is not orthogonal with det +1 (use :func:`D_from_matrix` for O(3)).
    """
    l = as_degree("l", l)
    R = check_rotations("R", R, proper=True)
    points, B = _projector(l)
    rotated = np.einsum("nj,...ij->...ni", points, R)  # p R^T, batched
    Y = spherical_harmonics(l, rotated, normalize=False)  # (..., n, 2l+1)
    return np.einsum("...ni,jn->...ij", Y, B)


def D_from_matrix(l: int, p: int, R: np.ndarray) -> np.ndarray:
    r"""Representation matrix of the O(3) irrep ``(l, p)`` at ``R`` (..., 3, 3) -> (..., 2l+1, 2l+1).

    With :math:`d = \det R \in \{\pm1\}`: :math:`D = D^l(d R)\; p^{(1-d)/2}`, i.e. the inversion ``-I``
    acts as the parity ``p``. Equal to e3nn's ``o3.Irrep(l, p).D_from_matrix(R)``. ``p`` is 1 (even, "e")
    or -1 (odd, "o"); the spherical harmonics :math:`Y_l` carry ``p = (-1)^l``.
    """
    l = as_degree("l", l)
    if p not in (1, -1):
        raise ValueError(f"p must be the parity 1 or -1, got {p!r}")
    R = check_rotations("R", R, proper=False)
    det = np.sign(np.linalg.det(R))
    D = wigner_D(l, det[..., None, None] * R)
    if p == -1:
        D = D * det[..., None, None]
    return D
