"""The fixed catalogue of specs every implementation is checked on: :data:`CATALOGUE`.

It covers every cgtp connection mode (e3nn's eight) with several multiplicities, both parities, odd
(antisymmetric, ``l1 + l2 + l3`` odd, e.g. the cross product ``1o x 1o -> 1e``) and even paths, the
path/irrep normalization options, e3nn's per-block variances, weightless cgtp, paths of different
modes summed into one output block, one larger cgtp up to ``L = 6``, blocks of multiplicity zero and
empty irreps, and the channel-wise variants (gtp, s2grid, mtp) unweighted and weighted for
``L = 1 .. 6`` and with zero channels.

Each :class:`Case` says how it is used: ``quick`` cases make the subset ``tpcore check`` runs by
default; ``core`` cases are the representatives on which the costlier checks (batch shapes, second
derivatives, bad input) run; ``heavy`` cases (``L >= 5``) are checked for the forward pass only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Callable

from tpcore.irreps import s2_irreps
from tpcore.report.workloads import convolution_spec
from tpcore.spec import TensorProductSpec

T = TensorProductSpec


@dataclass(frozen=True)
class Case:
    """One spec of the catalogue, with a stable ``id`` used in test ids and known-failure globs.

    The spec is built on first use (``make()``), because the larger specs take seconds to build
    and a test run or ``tpcore check`` rarely needs all of them.
    """

    id: str
    variant: str
    make: Callable[[], TensorProductSpec] = field(compare=False, repr=False)
    quick: bool = False
    core: bool = False
    heavy: bool = False
    #: whether a channel-wise spec is weighted (known without building it; cgtp cases ask the spec)
    weighted: bool = False

    @cached_property
    def spec(self) -> TensorProductSpec:
        spec = self.make()
        if spec.variant != self.variant or (self.variant != "cgtp" and spec.weighted != self.weighted):
            raise ValueError(f"case {self.id} declares variant={self.variant}, weighted={self.weighted}; its spec is {spec}")
        return spec

    @property
    def has_weights(self) -> bool:
        return self.spec.weight_numel > 0 if self.variant == "cgtp" else self.weighted

    @property
    def modes(self) -> frozenset[str]:
        """The connection modes of the spec's paths (channel-wise variants are "uuu" by construction)."""
        return self.spec.path_modes if self.variant == "cgtp" else frozenset({"uuu"})


def _cgtp(*args, **kwargs) -> Callable[[], TensorProductSpec]:
    return partial(T.cgtp, *args, **kwargs)


def _cgtp_cases():
    full_l6 = s2_irreps(6, mul=2) + s2_irreps(6, p=-1, mul=2)
    weightless_uuu = [(0, 0, 0, "uuu", False), (0, 0, 1, "uuu", False), (0, 1, 2, "uuu", False), (1, 1, 1, "uuu", False)]
    # every mode into "3x0e + 3x1o + 3x1e" (3 channels = the 3 pairs u < v of 3 channels), several per
    # output block, some without weights, with non-unit variances: e3nn's normalization sums over them
    mixed = [(0, 0, 0, "uvw", True), (1, 1, 0, "uvu", True), (1, 1, 0, "uvu<v", False, 2.0),
             (0, 1, 1, "uvv", True), (1, 0, 1, "uuw", True), (0, 1, 1, "uvu<v", True, 0.5),
             (1, 1, 2, "u<vw", True), (1, 1, 2, "uvu<v", True), (1, 1, 2, "uuu", False)]
    return [
        Case("cgtp_uvw_small", "cgtp", _cgtp("2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o + 1x1e"), quick=True, core=True),
        Case("cgtp_uvw_parities", "cgtp",
             _cgtp("1x0o + 2x1e + 1x2o", "2x0e + 1x1o + 1x2e", "1x0o + 1x0e + 2x1o + 1x1e + 1x2e + 1x2o + 1x3o")),
        Case("cgtp_uvw_path_norm", "cgtp",
             _cgtp("2x0e + 1x1o + 1x2e", "1x0e + 2x1o", "1x0e + 2x1o + 1x1e + 1x2e",
                   path_normalization="path", irrep_normalization="norm")),
        Case("cgtp_uvw_no_norm", "cgtp",
             _cgtp("1x0e + 1x1o", "1x1o + 1x2e", "1x0e + 1x1o + 1x1e + 1x2o",
                   path_normalization="none", irrep_normalization="none")),
        Case("cgtp_uvu", "cgtp",
             _cgtp("2x0o + 2x1e + 2x2o", "1x0e + 2x1o", "2x0o + 2x1o + 2x1e + 2x2e + 2x3e", mode="uvu"), core=True),
        Case("cgtp_uuw", "cgtp", _cgtp("2x0e + 2x1o", "2x0e + 2x1o", "3x0e + 1x1o + 2x1e + 1x2e", mode="uuw"), core=True),
        Case("cgtp_uuu", "cgtp",
             _cgtp("2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x1e + 2x2e + 2x3o", mode="uuu"), quick=True),
        Case("cgtp_uuu_weightless", "cgtp",
             _cgtp("3x1o + 3x1e", "3x1o + 3x1e", "3x0e + 3x1e + 3x1o", instructions=weightless_uuu), core=True),
        Case("cgtp_uvuv", "cgtp", _cgtp("2x0e + 1x1o", "2x1o + 1x2e", None, mode="uvuv"), core=True),
        Case("cgtp_uvv", "cgtp",
             _cgtp("2x0e + 1x1o + 2x2e", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e + 3x2e + 3x3o", mode="uvv")),
        Case("cgtp_uvu_lt_v", "cgtp",
             _cgtp("4x0e + 4x1o + 4x2e", "4x0e + 4x1o", "6x0e + 6x1o + 6x1e + 6x2e + 6x3o", mode="uvu<v")),
        Case("cgtp_u_lt_vw", "cgtp", _cgtp("3x0e + 3x1o", "3x0e + 3x1o + 3x1e", "2x0e + 1x1o + 2x1e + 1x2e", mode="u<vw")),
        Case("cgtp_mixed_modes_variances", "cgtp",
             _cgtp("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e", instructions=mixed,
                   in1_var=[0.5, 2.0], in2_var=[1.5, 0.25], out_var=[2.0, 1.0, 0.3]), core=True),
        Case("cgtp_uvw_L6", "cgtp", _cgtp(s2_irreps(6, mul=2), "1x0e + 1x1o + 1x2e", full_l6), heavy=True),
        # MACE's interaction convolution, 3 channels, edge harmonics to L = 2 (the benchmarks' conv shape)
        Case("cgtp_conv_uvu", "cgtp", partial(convolution_spec, 3, 2), core=True),
    ] + _empty_block_cases()


def _empty_block_cases():
    """Blocks of multiplicity zero (e3nn accepts them: their paths have no weights and write nothing)."""
    uvu = [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True), (0, 1, 2, "uvu", True), (2, 0, 3, "uvu", False)]
    return [
        Case("cgtp_uvw_empty_blocks", "cgtp",
             _cgtp("2x0e + 0x1o + 1x1o", "1x0e + 0x1e + 1x1o", "0x0e + 2x0e + 1x1o + 0x1e + 1x1e")),
        Case("cgtp_uvu_empty_blocks", "cgtp",
             _cgtp("2x0e + 0x1o + 2x1o", "1x0e + 0x1o", "2x0e + 0x1o + 2x1o + 2x1o", instructions=uvu)),
        Case("cgtp_empty_output", "cgtp", _cgtp("2x0e", "1x0e", "0x0e")),
        Case("cgtp_empty_input", "cgtp", _cgtp("", "1x0e + 1x1o", "1x0e + 1x1o")),
    ]


_CONSTRUCTORS = {"gtp": T.gtp, "s2grid": T.s2grid, "mtp": T.mtp}


def _signal_product(variant: str, L: int, p1: int, weighted: bool) -> TensorProductSpec:
    """Two 2-channel signals up to degree ``L`` (the first of parity ``p1``), output up to ``2L``."""
    return _CONSTRUCTORS[variant](
        s2_irreps(L, p=p1, mul=2), s2_irreps(L, mul=2), s2_irreps(2 * L, p=p1, mul=2), weighted=weighted
    )


def _channelwise_cases(variant: str):
    """``L = 1 .. 6``, unweighted and weighted; odd ``L`` use a pseudo-scalar first input (0o + 1e + ...)."""
    for L in range(1, 7):
        p1 = -1 if L % 2 else 1
        for weighted in (False, True):
            yield Case(
                f"{variant}_L{L}{'_weighted' if weighted else ''}",
                variant,
                partial(_signal_product, variant, L, p1, weighted),
                quick=(L, weighted) in ((1, False), (2, True)),
                core=L == 2,
                heavy=L >= 5,
                weighted=weighted,
            )


def _no_channels(variant: str) -> TensorProductSpec:
    """Signals with zero channels: an empty output, whatever the degrees."""
    return _CONSTRUCTORS[variant](s2_irreps(2, mul=0), s2_irreps(1, mul=0), s2_irreps(3, mul=0))


def _catalogue() -> tuple[Case, ...]:
    cases = list(_cgtp_cases())
    for variant in _CONSTRUCTORS:
        cases += _channelwise_cases(variant)
        cases.append(Case(f"{variant}_no_channels", variant, partial(_no_channels, variant)))
    return tuple(cases)


#: Every case, cgtp first, then gtp, s2grid and mtp.
CATALOGUE: tuple[Case, ...] = _catalogue()
CASES_BY_ID: dict[str, Case] = {case.id: case for case in CATALOGUE}


def cases(variant: str | None = None, quick: bool = False) -> list[Case]:
    """The catalogue's cases of ``variant`` (all if None), only the quick subset if ``quick``."""
    return [c for c in CATALOGUE if (variant is None or c.variant == variant) and (c.quick or not quick)]


__all__ = ["Case", "CATALOGUE", "CASES_BY_ID", "cases"]
