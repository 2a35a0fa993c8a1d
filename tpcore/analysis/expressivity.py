"""Which interactions a tensor product can express ("The Price of Freedom", ICML 2025).

Definitions used here (all read off a spec's paths, so they hold for any spec and any variant):

- An *interaction* is a triple ``ir_in1 (x) ir_in2 -> ir_out`` that some path of the spec couples
  with a nonzero coefficient. It is *antisymmetric* when ``l1 + l2 + l3`` is odd: its coupling
  tensor changes sign when the two inputs are swapped (for ``l1 == l2``), like the cross product
  ``1o x 1o -> 1e``. O(3) allows it whenever ``p3 = p1 p2``; the Gaunt variants (gtp, s2grid)
  cannot express it because the pointwise product of functions on the sphere is symmetric.
- The *independent output irreps* of a spec count the equivariant bilinear maps it computes
  separately, per channel: for cgtp every path (each has its own output irrep, or its own weight);
  for gtp/s2grid/mtp every output degree reached, because all paths into one output degree are
  summed with fixed coefficients (the Gaunt factors, or the matrix product's). For two signals
  ``s2_irreps(L)``, cgtp's full product has one per ordered triple ``(l1, l2, l3)`` with
  ``l1, l2 <= L`` and ``|l1 - l2| <= l3 <= l1 + l2`` (parity fixed by ``l1 + l2``):
  ``sum over l1, l2 <= L of 2 min(l1, l2) + 1`` = 6, 19, 44, ... for L = 1, 2, 3, ..., while the
  channel-wise variants give one per output degree, ``2L + 1``.
- The *interactability matrix* counts, for each pair of input blocks ``(i_in1, i_in2)``, the output
  irreps their paths reach (and how many of those paths are antisymmetric): which inputs can
  interact at all, and through how many channels of information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpcore.irreps import Irrep, Irreps, as_irreps
from tpcore.spec import VARIANTS, TensorProductSpec

#: a coupling this small counts as absent (the coefficients are float64 and O(1))
ZERO_COUPLING = 1e-12


@dataclass(frozen=True, order=True)
class Interaction:
    """``ir_in1 (x) ir_in2 -> ir_out``."""

    ir_in1: Irrep
    ir_in2: Irrep
    ir_out: Irrep

    @property
    def antisymmetric(self) -> bool:
        """``l1 + l2 + l3`` odd: the coupling is antisymmetric under exchanging equal-degree inputs."""
        return (self.ir_in1.l + self.ir_in2.l + self.ir_out.l) % 2 == 1

    @property
    def parity_allowed(self) -> bool:
        """``p3 == p1 p2``: O(3) (not only SO(3)) allows the coupling."""
        return self.ir_out.p == self.ir_in1.p * self.ir_in2.p

    def __str__(self) -> str:
        return f"{self.ir_in1} x {self.ir_in2} -> {self.ir_out}"


def interactions(spec: TensorProductSpec) -> tuple[Interaction, ...]:
    """The distinct interactions the paths of ``spec`` couple with a nonzero coefficient, sorted."""
    found = {
        Interaction(p.ir_in1, p.ir_in2, p.ir_out) for p in spec.paths if abs(p.normalization) > ZERO_COUPLING
    }
    return tuple(sorted(found))


def antisymmetric_interactions(spec: TensorProductSpec) -> tuple[Interaction, ...]:
    """The interactions of ``spec`` with ``l1 + l2 + l3`` odd (empty for gtp and s2grid)."""
    return tuple(i for i in interactions(spec) if i.antisymmetric)


def allowed_interactions(irreps_in1, irreps_in2, irreps_out) -> tuple[Interaction, ...]:
    """Every O(3)-equivariant interaction between these irreps: ``|l1-l2| <= l3 <= l1+l2``, ``p3 = p1 p2``."""
    irreps_in1, irreps_in2, irreps_out = (
        as_irreps(irreps_in1, "irreps_in1"),
        as_irreps(irreps_in2, "irreps_in2"),
        as_irreps(irreps_out, "irreps_out"),
    )
    found = {
        Interaction(ir1, ir2, ir3)
        for _, ir1 in irreps_in1
        for _, ir2 in irreps_in2
        for _, ir3 in irreps_out
        if ir3 in ir1 * ir2
    }
    return tuple(sorted(found))


def missing_interactions(spec: TensorProductSpec, any_output: bool = False) -> tuple[Interaction, ...]:
    """O(3)-allowed interactions between the spec's irreps that its paths do not express.

    With ``any_output``, every irrep the inputs' product contains counts as an output, not only
    ``spec.irreps_out``: e.g. the Gaunt TP of ``0e + 1o`` with itself misses ``1o x 1o -> 1e``
    although ``1e`` is not in its (natural-parity) output signal.
    """
    have = set(interactions(spec))
    outputs = spec.irreps_out
    if any_output:
        outputs = Irreps([(1, ir) for _, ir1 in spec.irreps_in1 for _, ir2 in spec.irreps_in2 for ir in ir1 * ir2])
    return tuple(i for i in allowed_interactions(spec.irreps_in1, spec.irreps_in2, outputs) if i not in have)


def independent_output_irreps(spec: TensorProductSpec) -> int:
    """Equivariant bilinear maps the spec computes separately, per channel (see the module docstring)."""
    live = [p for p in spec.paths if abs(p.normalization) > ZERO_COUPLING]
    if spec.variant == "cgtp":
        return len(live)
    return len({p.i_out for p in live})


def full_product_output_irreps(variant: str, L: int) -> int:
    """:func:`independent_output_irreps` of the variant's full product of ``s2_irreps(L)`` with itself."""
    from tpcore.analysis.flops import full_product_spec

    return independent_output_irreps(full_product_spec(variant, L))


@dataclass(frozen=True)
class Interactability:
    """Output irreps reached by each pair of input blocks: ``counts[i_in1, i_in2]``.

    ``antisymmetric[i_in1, i_in2]`` counts those reached through an antisymmetric path. Rows and
    columns are labelled by the input blocks (``"1o"``; with the multiplicity when it is not 1).
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: np.ndarray
    antisymmetric: np.ndarray


def interactability(spec: TensorProductSpec) -> Interactability:
    """The :class:`Interactability` matrix of ``spec``, read off its paths."""
    counts = np.zeros((len(spec.irreps_in1), len(spec.irreps_in2)), dtype=np.int64)
    odd = np.zeros_like(counts)
    reached = {(p.i_in1, p.i_in2, p.i_out, p.is_antisymmetric) for p in spec.paths if abs(p.normalization) > ZERO_COUPLING}
    for i1, i2, _, antisymmetric in reached:
        counts[i1, i2] += 1
        odd[i1, i2] += antisymmetric
    return Interactability(_labels(spec.irreps_in1), _labels(spec.irreps_in2), counts, odd)


def _labels(irreps: Irreps) -> tuple[str, ...]:
    return tuple(str(ir) if mul == 1 else f"{mul}x{ir}" for mul, ir in irreps)


@dataclass(frozen=True)
class VariantExpressivity:
    """One row of :func:`compare_variants`."""

    variant: str
    interactions: int
    antisymmetric: int
    parity_violating: int
    independent_outputs: int


def compare_variants(L: int, variants=VARIANTS) -> list[VariantExpressivity]:
    """Expressivity of each variant's full product of ``s2_irreps(L)`` with itself (outputs up to ``2L``)."""
    from tpcore.analysis.flops import full_product_spec

    rows = []
    for variant in variants:
        spec = full_product_spec(variant, L)
        found = interactions(spec)
        rows.append(
            VariantExpressivity(
                variant=variant,
                interactions=len(found),
                antisymmetric=sum(i.antisymmetric for i in found),
                parity_violating=sum(not i.parity_allowed for i in found),
                independent_outputs=independent_output_irreps(spec),
            )
        )
    return rows
