"""Worked example: 3D tetris chirality, which a CGTP can tell apart and a Gaunt TP provably cannot.

Each shape is four unit cubes; ``chiral_1`` and ``chiral_2`` are mirror images (``y -> -y``) that no
rotation maps onto each other. Both feature extractors here are one message-passing layer over the
graph of face-adjacent cubes, with component-normalized real SH ``Y`` up to ``L`` (signals
``s2_irreps(L)``: ``0e + 1o + 2e + ...``):

1. node signals ``x_i = sum over neighbours j of Y(r_j - r_i)``;
2. messages ``h_i = sum over neighbours j of TP1(x_j, Y(r_j - r_i))``;
3. invariants ``s_i = TP2(h_i, x_i)``, and the features ``sum_i s_i``.

With ``cgtp``, TP1 is the full CG product (every path, e.g. the cross product ``1o x 1o -> 1e``) and
TP2 pairs equal degrees into scalars ``0e`` *and pseudoscalars* ``0o``. Through
``1o x 1o -> 1e`` then ``1e . 1o`` the features contain ``sum (r_jk x r_ij) . r_im`` over chains of
bonds ``k-j-i-m``: the triple product of three consecutive bonds, the handedness of the chain. A
pseudoscalar changes sign under a reflection, so it separates the pair.

With ``gtp``/``s2grid``, TP1 and TP2 are Gaunt products. Why no Gaunt feature can separate mirror
images: a Gaunt TP is the pointwise product of functions on the sphere, ``f1(r) f2(r)``. The inputs
are functions of the shape that transform as scalar fields, ``f[g shape](r) = f[shape](g^-1 r)``
for every ``g`` in O(3) (reflections included: ``Y_l(-x) = (-1)^l Y_l(x)``), and pointwise products
and sums preserve that law. So every Gaunt feature is a scalar field of the shape, its scalar
(``0e``) part is the field's mean over the sphere, invariant under all of O(3), hence equal for
``shape`` and its mirror image; and a Gaunt TP has no ``0o`` output to offer (the product of two
scalar fields is a scalar field: ``TensorProductSpec.gtp(..., "0o")`` is rejected). In path terms, a
pseudo-parity irrep (``p != (-1)^l``) arises from natural-parity inputs only through an
antisymmetric path (``l1 + l2 + l3`` odd), exactly the paths the Gaunt TP lacks; a cgtp pruned of
its antisymmetric paths (:func:`even_paths_only`) is as blind as the Gaunt TP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpcore import so3
from tpcore.irreps import Irrep, Irreps, MulIr, s2_irreps
from tpcore.reference import reference
from tpcore.spec import TensorProductSpec

#: four-cube shapes (the e3nn tetris example); chiral_1 and chiral_2 are mirror images in y
SHAPES: dict[str, np.ndarray] = {
    name: np.array(cubes, dtype=np.float64)
    for name, cubes in {
        "chiral_1": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)],
        "chiral_2": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)],
        "square": [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)],
        "line": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)],
        "corner": [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)],
        "L": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)],
        "T": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)],
        "zigzag": [(0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)],
    }.items()
}
MIRROR_PAIR = ("chiral_1", "chiral_2")
#: cubes closer than this are neighbours (face-adjacent cubes are 1 apart)
NEIGHBOUR_CUTOFF = 1.01


def graph(positions: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, edges, edge_sh)``: node signals ``x_i = sum over neighbours j of Y(r_j - r_i)``, the
    directed edges ``(i, j)`` and their SH ``Y(r_j - r_i)``; SH are component-normalized up to ``L``."""
    ls = list(range(L + 1))
    bonds = positions[None, :, :] - positions[:, None, :]
    distance = np.linalg.norm(bonds, axis=-1)
    edges = np.argwhere((distance > 0) & (distance < NEIGHBOUR_CUTOFF))
    edge_sh = so3.spherical_harmonics(ls, bonds[edges[:, 0], edges[:, 1]])
    x = np.zeros((len(positions), edge_sh.shape[-1]))
    np.add.at(x, edges[:, 0], edge_sh)
    return x, edges, edge_sh


def scalar_readout(irreps_a: Irreps, irreps_b: Irreps) -> TensorProductSpec:
    """A weightless cgtp pairing each block of ``irreps_a`` with each equal-degree block of ``irreps_b``
    into one scalar: ``0e`` when the parities agree, ``0o`` (a pseudoscalar) when they differ."""
    pairs = [(i, j) for i, (_, a) in enumerate(irreps_a) for j, (_, b) in enumerate(irreps_b) if a.l == b.l]
    scalars = Irreps([MulIr(1, Irrep(0, irreps_a[i].ir.p * irreps_b[j].ir.p)) for i, j in pairs])
    instructions = [(i, j, k, "uvuv", False) for k, (i, j) in enumerate(pairs)]
    return TensorProductSpec.cgtp(irreps_a, irreps_b, scalars, mode="uvuv", instructions=instructions)


@dataclass(frozen=True)
class FeatureModel:
    """The two tensor products of one feature extractor (see the module docstring)."""

    variant: str
    L: int
    first: TensorProductSpec
    second: TensorProductSpec

    def features(self, positions: np.ndarray) -> np.ndarray:
        """The invariant features ``sum_i TP2(sum_j TP1(x_j, Y(r_j - r_i)), x_i)`` of one shape, float64."""
        x, edges, edge_sh = graph(positions, self.L)
        messages = reference(self.first, x[edges[:, 1]], edge_sh)
        hidden = np.zeros((len(positions), messages.shape[-1]))
        np.add.at(hidden, edges[:, 0], messages)
        return invariants(reference(self.second, hidden, x).sum(axis=0), self.second.irreps_out)


def feature_model(variant: str, L: int = 2) -> FeatureModel:
    """The extractor built on ``variant``: ``"cgtp"``, ``"gtp"`` or ``"s2grid"``."""
    x = s2_irreps(L)
    if variant == "cgtp":
        first = TensorProductSpec.cgtp(x, x, None, mode="uvuv")
        return FeatureModel(variant, L, first, scalar_readout(first.irreps_out, x))
    if variant in ("gtp", "s2grid"):
        build = getattr(TensorProductSpec, variant)
        return FeatureModel(variant, L, build(x, x, s2_irreps(2 * L)), build(s2_irreps(2 * L), x, x))
    raise ValueError(f"variant must be 'cgtp', 'gtp' or 's2grid', got {variant!r}")


def even_paths_only(model: FeatureModel) -> FeatureModel:
    """The same extractor with every antisymmetric path (``l1 + l2 + l3`` odd) pruned from both TPs."""
    first = model.first.with_paths([not p.is_antisymmetric for p in model.first.paths])
    second = model.second.with_paths([not p.is_antisymmetric for p in model.second.paths])
    return FeatureModel(model.variant, model.L, first, second)


def invariants(signal: np.ndarray, irreps: Irreps) -> np.ndarray:
    """O(3)-invariant (``0e``) or sign-flipping (``0o``) numbers of one irreps vector: each scalar
    block as it is, the norm of every other irrep (invariant under rotations and reflections)."""
    values = []
    for (mul, ir), s in zip(irreps, irreps.slices()):
        block = signal[s].reshape(mul, ir.dim)
        values.extend(block[:, 0] if ir.l == 0 else np.linalg.norm(block, axis=1))
    return np.array(values)


def pseudoscalar_mask(model: FeatureModel) -> np.ndarray:
    """Which entries of ``model.features(...)`` are pseudoscalars (``0o`` blocks)."""
    return np.array([ir.l == 0 and ir.p == -1 for mul, ir in model.second.irreps_out for _ in range(mul)])


def mirror_gap(model: FeatureModel) -> float:
    """``max |features(chiral_1) - features(chiral_2)|``: zero when the extractor cannot tell the pair apart."""
    a, b = (model.features(SHAPES[name]) for name in MIRROR_PAIR)
    return float(np.max(np.abs(a - b)))
