r"""Rotation matrices: random sampling and e3nn's Y-X-Y Euler angles.

Euler angles (e3nn): :math:`R(\alpha, \beta, \gamma) = R_y(\alpha) R_x(\beta) R_y(\gamma)`, i.e. rotate by
``gamma`` about y first, then ``beta`` about x, then ``alpha`` about y, with the right-handed
matrices :math:`R_x(t) = [[1,0,0],[0,c,-s],[0,s,c]]`, :math:`R_y(t) = [[c,0,s],[0,1,0],[-s,0,c]]`.
"""

from __future__ import annotations

import numpy as np

from ._util import check_rotations

__all__ = ["rand_matrix", "angles_to_matrix", "matrix_to_angles"]


def _quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of unit quaternions q = (w, x, y, z), shape (..., 4) -> (..., 3, 3)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def rand_matrix(
    n: int | tuple[int, ...] | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    improper: bool = False,
) -> np.ndarray:
    """Random rotation matrices, uniform (Haar) on SO(3), float64.

    Parameters
    ----------
    n : None, int or tuple of int
        Batch shape: None gives one (3, 3) matrix, an int ``n`` gives (n, 3, 3), a tuple ``s`` (*s, 3, 3).
    rng : numpy Generator, int seed or None
        Source of randomness (passed to ``numpy.random.default_rng``).
    improper : bool
        If True return ``-R`` for uniform ``R``: always det -1 (rotation times inversion), uniform on
        the improper coset of O(3).

    Method: a standard normal 4-vector, normalized, is uniform on S^3; its rotation is Haar on SO(3).
    """
    rng = np.random.default_rng(rng)
    shape = () if n is None else ((n,) if np.ndim(n) == 0 else tuple(n))
    q = rng.standard_normal(shape + (4,))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    R = _quaternion_to_matrix(q)
    return -R if improper else R


def _matrix_x(t: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(t), np.sin(t), np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _matrix_y(t: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(t), np.sin(t), np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def angles_to_matrix(alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    r"""Rotation :math:`R_y(\alpha) R_x(\beta) R_y(\gamma)`; angles broadcast, result (..., 3, 3).

    Equal to e3nn's ``o3.angles_to_matrix``.
    """
    alpha, beta, gamma = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (alpha, beta, gamma)))
    return _matrix_y(alpha) @ _matrix_x(beta) @ _matrix_y(gamma)


def matrix_to_angles(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Euler angles ``(alpha, beta, gamma)`` of proper rotations ``R`` (..., 3, 3), e3nn's convention.

    :math:`R e_y = (\sin\beta\sin\alpha, \cos\beta, \sin\beta\cos\alpha)` gives
    :math:`\alpha = \mathrm{atan2}(x, z) \in (-\pi, \pi]` and :math:`\beta = \arccos y \in [0, \pi]`; then
    :math:`R(\alpha, \beta, 0)^T R = R_y(\gamma)` gives :math:`\gamma`. Equal to e3nn's
    ``o3.matrix_to_angles`` (at ``beta`` = 0 or pi the split between alpha and gamma is a convention).
    Raises ValueError if ``R`` is not a (batch of) proper rotation matrices.
    """
    R = check_rotations("R", R, proper=True)
    v = R[..., :, 1]
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    alpha = np.arctan2(v[..., 0], v[..., 2])
    beta = np.arccos(np.clip(v[..., 1], -1.0, 1.0))
    Ry_gamma = np.swapaxes(angles_to_matrix(alpha, beta, np.zeros_like(alpha)), -1, -2) @ R
    gamma = np.arctan2(Ry_gamma[..., 0, 2], Ry_gamma[..., 0, 0])
    return alpha, beta, gamma
