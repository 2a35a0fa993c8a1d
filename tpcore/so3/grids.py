r"""Product quadrature grids on the sphere (Gauss-Legendre in cos(beta), uniform in alpha).

Point convention (e3nn): ``beta`` is the polar angle from the +y axis, ``alpha`` the azimuth about y,

.. math:: p(\beta, \alpha) = (\sin\beta \sin\alpha,\; \cos\beta,\; \sin\beta \cos\alpha).

Exactness rule: with ``res_beta`` Gauss-Legendre nodes (exact for polynomials of degree
``2 res_beta - 1`` in cos(beta)) and ``res_alpha`` uniform azimuths (exact for :math:`e^{im\alpha}`,
:math:`|m| < res_\alpha`), the grid integrates every polynomial in (x, y, z) of total degree <= d exactly
iff ``res_beta >= d // 2 + 1`` and ``res_alpha >= d + 1``. Both bounds are sharp: ``y^d`` (d even) needs
the first, ``(x + i z)^d`` the second.
"""

from __future__ import annotations

import functools
from math import pi

import numpy as np

from ._util import as_degree, as_positive, readonly

__all__ = ["s2_grid", "s2_grid_for_degree"]


def s2_grid_for_degree(degree: int) -> tuple[int, int]:
    """Smallest ``(res_beta, res_alpha) = (degree // 2 + 1, degree + 1)`` for which :func:`s2_grid`
    integrates every polynomial on the sphere of total degree <= ``degree`` exactly.

    E.g. products :math:`Y_{l_1} Y_{l_2} Y_{l_3}` need ``degree = l1 + l2 + l3``.
    """
    degree = as_degree("degree", degree)
    return degree // 2 + 1, degree + 1


@functools.lru_cache(maxsize=64)
def _s2_grid(res_beta: int, res_alpha: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    nodes, w_beta = np.polynomial.legendre.leggauss(res_beta)
    # leggauss sorts cos(beta) ascending; reverse so beta increases from the +y pole.
    cos_b, w_beta = nodes[::-1].copy(), w_beta[::-1].copy()
    betas = np.arccos(cos_b)
    alphas = 2 * pi * np.arange(res_alpha) / res_alpha
    sin_b = np.sqrt(1.0 - cos_b**2)
    points = np.stack(
        np.broadcast_arrays(
            sin_b[:, None] * np.sin(alphas)[None, :],
            cos_b[:, None],
            sin_b[:, None] * np.cos(alphas)[None, :],
        ),
        axis=-1,
    )
    weights = w_beta[:, None] * np.full(res_alpha, 2 * pi / res_alpha)[None, :]
    return readonly(betas), readonly(alphas), readonly(np.ascontiguousarray(points)), readonly(weights)


def s2_grid(res_beta: int, res_alpha: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Quadrature grid on the unit sphere, cached and read-only.

    Returns
    -------
    betas : (res_beta,)
        :math:`\arccos` of the Gauss-Legendre nodes, increasing in (0, pi).
    alphas : (res_alpha,)
        :math:`2\pi k / res_\alpha`, k = 0 .. res_alpha-1.
    points : (res_beta, res_alpha, 3)
        :math:`(\sin\beta\sin\alpha, \cos\beta, \sin\beta\cos\alpha)`.
    weights : (res_beta, res_alpha)
        Gauss-Legendre weight times :math:`2\pi/res_\alpha`; they sum to :math:`4\pi`, so
        :math:`\int_{S^2} f \approx \sum w f(p)` (exact per the rule in the module docstring).
    """
    return _s2_grid(as_positive("res_beta", res_beta), as_positive("res_alpha", res_alpha))
