"""Coefficient tensors that define the channel-wise variants, shared by the spec and the plan.

The Gaunt variants couple ``(l1, l2) -> l3`` with ``gaunt(l1, l2, l3) = c * wigner_3j(l1, l2, l3)``.
The matrix TP embeds a signal ``x`` into a square matrix ``X[a, b] = sum_lm B[a, b, lm] x_lm``
over the space ``0 + 1 + ... + l~`` with Clebsch-Gordan blocks
``B[(la, ma), (lb, mb), (l, m)] = s * wigner_3j(la, lb, l)[ma, mb, m]`` where
``s = sqrt(dim(la) dim(lb))`` ("norm", the e3x/Price-of-Freedom choice) or ``sqrt(dim(l))``
("component"); the product ``X1 @ X2`` is mapped back with the same kind of tensor.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, sqrt

import numpy as np

from tpcore import so3


def mtp_degree(lmax1: int, lmax2: int) -> int:
    """``l~``: the largest degree of the matrix space of the matrix TP."""
    return ceil((lmax1 + lmax2) / 2)


@lru_cache(maxsize=None)
def mtp_basis(ltilde: int, ls: tuple[int, ...], irrep_normalization: str) -> np.ndarray:
    """``B`` of shape ``((l~+1)^2, (l~+1)^2, sum(2l+1 for l in ls))``, float64, read-only."""
    n = (ltilde + 1) ** 2
    B = np.zeros((n, n, sum(2 * l + 1 for l in ls)))
    col = 0
    for l in ls:
        for la in range(ltilde + 1):
            for lb in range(ltilde + 1):
                if abs(la - lb) <= l <= la + lb:
                    scale = sqrt((2 * la + 1) * (2 * lb + 1)) if irrep_normalization == "norm" else sqrt(2 * l + 1)
                    B[la**2 : (la + 1) ** 2, lb**2 : (lb + 1) ** 2, col : col + 2 * l + 1] = scale * so3.wigner_3j(la, lb, l)
        col += 2 * l + 1
    B.setflags(write=False)
    return B


@lru_cache(maxsize=None)
def _mtp_factor(ltilde: int, l1: int, l2: int, l3: int, irrep_normalization: str) -> float:
    B1 = mtp_basis(ltilde, (l1,), irrep_normalization)
    B2 = mtp_basis(ltilde, (l2,), irrep_normalization)
    B3 = mtp_basis(ltilde, (l3,), irrep_normalization)
    # sum_{abc ijk} B1[a,b,i] B2[b,c,j] B3[a,c,k] C[i,j,k]: the 3j first, as two matrix products
    C = so3.wigner_3j(l1, l2, l3)
    n, d1, d2, d3 = B1.shape[0], *C.shape
    X1 = (B1.reshape(n * n, d1) @ C.reshape(d1, d2 * d3)).reshape(n, n, d2, d3)  # [a, b, j, k]
    P = X1.transpose(0, 3, 1, 2).reshape(n * d3, n * d2) @ B2.transpose(0, 2, 1).reshape(n * d2, n)  # [(a, k), c]
    return float(np.sum(P.reshape(n, d3, n) * B3.transpose(0, 2, 1)))


def path_factor(variant, irreps_in1, irreps_in2, l1: int, l2: int, l3: int, irrep_normalization: str) -> float:
    """The scalar ``c`` with ``coupling(l1, l2 -> l3) = c * wigner_3j(l1, l2, l3)`` for a variant."""
    if variant in ("gtp", "s2grid"):
        return float(so3.gaunt_factor(l1, l2, l3))
    if variant == "mtp":
        ltilde = mtp_degree(irreps_in1.lmax, irreps_in2.lmax)
        return _mtp_factor(ltilde, l1, l2, l3, irrep_normalization)
    raise ValueError(f"path_factor is for gtp, s2grid and mtp, not {variant!r}")
