r"""Real spherical harmonics in e3nn's basis.

Convention (e3nn): the l=1 harmonics are proportional to ``(x, y, z)`` and the polar axis of the
basis is ``y``: at the point ``(0, 1, 0)`` only the middle component ``m = 0`` of each ``Y_l`` is
non-zero (and positive). Equal to e3nn's ``o3.spherical_harmonics`` for every normalization.

Method: :math:`Y_0 = 1`, :math:`Y_1 = \sqrt 3\,x` and

.. math:: Y_l(x)_k = c_l \sum_{ij} C^{(1, l-1, l)}_{ijk}\, x_i\, Y_{l-1}(x)_j,

with :math:`C` = :func:`~tpcore.so3.wigner_3j`. This is exact: the degree-l polynomials that transform
like the irrep l are exactly the harmonic ones, so the l-part of :math:`x \otimes Y_{l-1}` is
:math:`Y_l` up to the constant :math:`c_l`, which is fixed so that :math:`|Y_l(x)|^2 = 2l+1` on the
unit sphere and the ``m = 0`` component at ``(0, 1, 0)`` is positive.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from math import pi, sqrt

import numpy as np

from ._util import as_degree
from .clebsch_gordan import wigner_3j

__all__ = ["spherical_harmonics", "NORMALIZATIONS"]

NORMALIZATIONS = ("component", "norm", "integral")


@functools.lru_cache(maxsize=1024)
def _recursion_constant(l: int) -> float:
    """c_l of the recursion, from the value at the pole (0, 1, 0) where Y_{l-1} = sqrt(2l-1) e_{m=0}."""
    C = wigner_3j(1, l - 1, l)
    value = sqrt(2 * l - 1) * C[1, l - 1, l]  # x = e_y (index 1), Y_{l-1} at its m=0 component
    # By equivariance |C x Y_{l-1}| is constant on the sphere and, at the pole, only the m=0 entry is
    # non-zero; dividing by it fixes both the norm sqrt(2l+1) and the sign.
    return sqrt(2 * l + 1) / value


def _component_sh(lmax: int, x: np.ndarray) -> list[np.ndarray]:
    """[Y_0(x), ..., Y_lmax(x)], component normalized, as homogeneous polynomials of x (..., 3)."""
    ys = [np.ones(x.shape[:-1] + (1,))]
    if lmax >= 1:
        ys.append(sqrt(3) * x)
    for l in range(2, lmax + 1):
        C = wigner_3j(1, l - 1, l).reshape(3 * (2 * l - 1), 2 * l + 1)
        outer = (x[..., :, None] * ys[-1][..., None, :]).reshape(-1, 3 * (2 * l - 1))
        y = (outer @ C).reshape(x.shape[:-1] + (2 * l + 1,))  # one 2D GEMM, not a three-operand einsum
        ys.append(_recursion_constant(l) * y)
    return ys


def _as_degrees(ls: int | Sequence[int]) -> list[int]:
    if isinstance(ls, (str, bytes)):
        raise ValueError(f"ls must be an int or a sequence of ints, got {ls!r}")
    if np.ndim(ls) == 0:
        return [as_degree("ls", ls)]
    return [as_degree(f"ls[{i}]", l) for i, l in enumerate(ls)]


def spherical_harmonics(
    ls: int | Sequence[int],
    x: np.ndarray,
    normalize: bool = True,
    normalization: str = "component",
) -> np.ndarray:
    r"""Real spherical harmonics :math:`Y_l(x)` for each ``l`` in ``ls``, concatenated, float64.

    Parameters
    ----------
    ls : int or sequence of int
        Degrees; the output holds the blocks of size ``2l+1`` in this order (repeats allowed).
    x : array of shape (..., 3)
        Points ``(x, y, z)``.
    normalize : bool
        If True, ``x`` is first divided by its norm (zero vectors give zero harmonics for l > 0, as in
        e3nn). If False the result is the homogeneous polynomial :math:`|x|^l Y_l(x/|x|)`.
    normalization : {"component", "norm", "integral"}
        * ``"component"`` (default): :math:`|Y_l(\hat x)|^2 = 2l+1`, i.e. each component has mean square
          1 over the sphere; :math:`Y_1(\hat x) = \sqrt3\,\hat x`.
        * ``"norm"``: :math:`|Y_l(\hat x)| = 1` (component / :math:`\sqrt{2l+1}`).
        * ``"integral"``: :math:`\int_{S^2} Y_{lm}^2 = 1` (component / :math:`\sqrt{4\pi}`); e3nn's default.

    Returns
    -------
    array of shape (..., sum(2l+1)), a fresh float64 array.

    Note: e3nn-jax defaults to "component" like tpcore, e3nn (torch) to "integral".
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    degrees = _as_degrees(ls)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] != 3:
        raise ValueError(f"x must have shape (..., 3), got shape {x.shape}")
    if normalize:
        # Same guard as torch.nn.functional.normalize (eps=1e-12): zero vectors stay zero, no NaN.
        x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    ys = _component_sh(max(degrees, default=0), x)
    blocks = []
    for l in degrees:
        if normalization == "norm":
            blocks.append(ys[l] / sqrt(2 * l + 1))
        elif normalization == "integral":
            blocks.append(ys[l] / sqrt(4 * pi))
        else:
            blocks.append(ys[l])
    if not blocks:
        return np.zeros(x.shape[:-1] + (0,))
    return np.concatenate(blocks, axis=-1)
