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


@lru_cache(maxsize=32)
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


def mtp_factors(ltilde: int, triples, irrep_normalization: str) -> np.ndarray:
    """The matrix TP's ``c(l1, l2, l3)`` for each of ``triples``, from Wigner 6j symbols.

    ``c = <T, wigner_3j(l1, l2, l3)>`` with ``T[i,j,k] = sum_{abc} B1[a,b,i] B2[b,c,j] B3[a,c,k]``
    (the ``B`` of :func:`mtp_basis`). Block by block ``(la, lb, lc)`` this is a full contraction
    of four unit-norm real 3j tensors around a tetrahedron; the real basis is the complex one times
    unitaries ``Q`` with ``Q Q^T`` the 1jm metric (e3nn's ``(-i)^l`` phase makes every real 3j equal
    ``(-1)^(l1+l2+l3)`` times the complex 3j symbol in that basis), so the contraction is Racah's
    ``(-1)^(la+lc+l3) {l1 l2 l3; lc la lb}`` and

        c = sum_{la, lb, lc <= l~} s(la, lb, l1) s(lb, lc, l2) s(la, lc, l3) (-1)^(la+lc+l3) {l1 l2 l3; lc la lb}

    over the blocks whose three triads obey the triangle rule, ``s`` the basis scale. ``O(l~^3)``
    symbols per path instead of dense ``((l~+1)^2)^2``-sized contractions; checked against that
    definition in the tests.
    """
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    out = np.zeros(len(triples))
    if not len(triples):
        return out
    grid = np.stack(np.meshgrid(*[np.arange(ltilde + 1)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    for rows in np.array_split(np.arange(len(triples)), max(1, len(triples) * len(grid) // 2**22)):
        l1, l2, l3 = (x[:, None] for x in triples[rows].T)
        la, lb, lc = (x[None, :] for x in grid.T)
        ok = _triangle(la, lb, l1) & _triangle(lb, lc, l2) & _triangle(la, lc, l3)
        path, block = np.nonzero(ok)
        (l1, l2, l3), (la, lb, lc) = triples[rows][path].T, grid[block].T
        sixj = so3.wigner_6j_array(np.stack([l1, l2, l3, lc, la, lb], axis=1))
        scale = _mtp_scale(la, lb, l1, irrep_normalization) * _mtp_scale(lb, lc, l2, irrep_normalization)
        scale = scale * _mtp_scale(la, lc, l3, irrep_normalization)
        out[rows] = np.bincount(path, weights=scale * np.where((la + lc + l3) % 2, -1.0, 1.0) * sixj, minlength=len(rows))
    return out


def _triangle(a, b, c):
    return (np.abs(a - b) <= c) & (c <= a + b)


def _mtp_scale(la, lb, l, irrep_normalization: str):
    """``s`` of :func:`mtp_basis`: ``sqrt(dim(la) dim(lb))`` ("norm") or ``sqrt(dim(l))`` ("component")."""
    if irrep_normalization == "norm":
        return np.sqrt((2.0 * la + 1) * (2 * lb + 1))
    return np.sqrt(2.0 * l + 1) * np.ones_like(la, dtype=np.float64)


def path_factors(variant, irreps_in1, irreps_in2, triples, irrep_normalization: str) -> list[float]:
    """The scalar ``c`` with ``coupling(l1, l2 -> l3) = c * wigner_3j(l1, l2, l3)`` for each triple."""
    if variant in ("gtp", "s2grid"):
        return [float(so3.gaunt_factor(*t)) for t in triples]
    if variant == "mtp":
        ltilde = mtp_degree(irreps_in1.lmax, irreps_in2.lmax)
        return [float(c) for c in mtp_factors(ltilde, triples, irrep_normalization)]
    raise ValueError(f"path_factor is for gtp, s2grid and mtp, not {variant!r}")


def path_factor(variant, irreps_in1, irreps_in2, l1: int, l2: int, l3: int, irrep_normalization: str) -> float:
    """The scalar ``c`` with ``coupling(l1, l2 -> l3) = c * wigner_3j(l1, l2, l3)`` for a variant."""
    return path_factors(variant, irreps_in1, irreps_in2, [(l1, l2, l3)], irrep_normalization)[0]


@lru_cache(maxsize=64)
def gtp_from_fourier(L: int, out_ls: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, M)``: the flat ``(2L+1)^2`` Fourier positions gtp reads and their map to the output SH.

    The product of real signals has ``H[-p] = conj(H[p])``, and ``M[-p] = conj(M[p])`` (the outputs
    are real), so the pair ``p, -p`` contributes ``2 Re(H[p] M[p])``: one of each pair is kept (the
    centre once), and only the frequencies the output degrees reach, about a quarter of the grid.
    ``out = Re(H_flat[..., kept] @ M)``.
    """
    N = 2 * L + 1
    rows = np.concatenate([l**2 + np.arange(2 * l + 1) for l in out_ls])
    full = so3.fourier_to_sh(L, max(out_ls))[:, :, rows].reshape(N * N, -1)
    mirror = (N * N - 1) - np.arange(N * N)  # flat index of -p
    needed = np.abs(full).max(axis=1) > 1e-14
    kept = np.nonzero(needed & (np.arange(N * N) <= mirror))[0]
    factor = np.where(kept == mirror[kept], 1.0, 2.0)
    return kept, full[kept] * factor[:, None]
