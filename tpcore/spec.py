"""What a tensor product computes, independent of how and where: :class:`TensorProductSpec`.

One constructor per variant (see docs/variants.md for the math):

- :meth:`TensorProductSpec.cgtp` — Clebsch-Gordan TP with e3nn's instructions, connection modes,
  normalization and flat weight layout (``mode="uvw"`` with ``instructions=None`` is e3nn's
  ``FullyConnectedTensorProduct``).
- :meth:`TensorProductSpec.gtp` / :meth:`TensorProductSpec.s2grid` — the Gaunt TP of two spherical
  signals, via 2D Fourier convolution or a sphere grid (same numbers, different algorithm).
- :meth:`TensorProductSpec.mtp` — the matrix TP of "The Price of Freedom" (after e3x).

A spec is frozen and hashable, so lowered plans and converted coefficients can be cached on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tpcore.cgtp_paths import CGTP_MODES, build_cgtp
from tpcore.irreps import Irreps, as_irreps
from tpcore.paths import (
    IRREP_NORMALIZATIONS,
    PATH_NORMALIZATIONS,
    Path,
    check_choice,
    check_flag,
    check_size,
    renumber_weights,
)

VARIANTS = ("cgtp", "gtp", "s2grid", "mtp")


@dataclass(frozen=True)
class TensorProductSpec:
    """A backend-neutral description of an equivariant tensor product. Use the constructors."""

    variant: str
    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    mode: str
    paths: tuple[Path, ...]
    irrep_normalization: str = "component"
    path_normalization: str = "element"
    weighted: bool = False

    def __post_init__(self):
        for name in ("irreps_in1", "irreps_in2", "irreps_out"):
            irreps = getattr(self, name)
            check_size(f"{name} = {irreps}", "dimension", irreps.dim)
        check_size(f"this {self.variant} spec", "weight_numel", self.weight_numel)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def cgtp(
        cls,
        irreps_in1,
        irreps_in2,
        irreps_out,
        mode: str = "uvw",
        instructions: Sequence[tuple] | None = None,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        in1_var: Sequence[float] | None = None,
        in2_var: Sequence[float] | None = None,
        out_var: Sequence[float] | None = None,
    ) -> "TensorProductSpec":
        """Clebsch-Gordan tensor product, numerically e3nn's ``o3.TensorProduct``.

        ``instructions`` are e3nn's tuples ``(i_in1, i_in2, i_out[, mode[, has_weight[, path_weight]]])``;
        missing fields default to ``mode``, ``has_weight = mode != "uvuv"`` and ``1.0``. With
        ``instructions=None`` every allowed path (``|l1-l2| <= l3 <= l1+l2``, ``p3 = p1*p2``) whose
        multiplicities fit ``mode`` is taken in e3nn's order (loop over in1, in2, out), so that
        ``mode="uvw"`` is e3nn's ``FullyConnectedTensorProduct``. ``irreps_out=None`` with
        ``mode="uvuv"`` gives e3nn's ``FullTensorProduct`` (every product irrep, sorted).

        Modes (e3nn's; ``u``, ``v`` channels of the inputs, ``w`` of the output): ``uvw`` fully
        connected; ``uvu`` / ``uvv`` every pair into channel ``u`` / ``v``; ``uuw`` / ``uuu`` equal
        channels only; ``uvuv`` every pair into its own channel ``u * mul_in2 + v``; ``uvu<v``
        the pairs ``u < v`` into their own channels (``mul_out = mul (mul - 1) / 2``); ``u<vw``
        the pairs ``u < v`` fully connected to ``w``. Weight shapes and fan-ins are e3nn's
        (:data:`tpcore.cgtp_paths.MODES`).

        ``in1_var``, ``in2_var``, ``out_var``: e3nn's per-block variances (``None``: ones), which
        enter each path's normalization (see :mod:`tpcore.cgtp_paths`); they are not stored on
        the spec, only their effect on ``Path.normalization``.
        """
        return build_cgtp(
            cls, irreps_in1, irreps_in2, irreps_out, mode, instructions, path_normalization, irrep_normalization,
            in1_var=in1_var, in2_var=in2_var, out_var=out_var,
        )  # fmt: skip

    @classmethod
    def gtp(cls, irreps_in1, irreps_in2, irreps_out, weighted: bool = False) -> "TensorProductSpec":
        """Gaunt tensor product via 2D Fourier convolution (Luo et al. 2024), channel-wise.

        Inputs are spherical signals with ``C`` channels such as ``"4x0e + 4x1o + 4x2e"``; the output
        is ``out_lm = (1/4pi) * integral of f1 f2 Y_lm`` (component-normalized real SH), i.e. only
        the paths with ``l1 + l2 + l3`` even. ``weighted=True`` adds per-channel, per-degree
        weights on both inputs and on the output (``weight_numel = C * (n1 + n2 + n_out)``).
        """
        return _channelwise(cls, "gtp", irreps_in1, irreps_in2, irreps_out, weighted, "component")

    @classmethod
    def s2grid(cls, irreps_in1, irreps_in2, irreps_out, weighted: bool = False) -> "TensorProductSpec":
        """Gaunt tensor product on an exact sphere quadrature grid; the same numbers as :meth:`gtp`."""
        return _channelwise(cls, "s2grid", irreps_in1, irreps_in2, irreps_out, weighted, "component")

    @classmethod
    def mtp(
        cls, irreps_in1, irreps_in2, irreps_out, weighted: bool = False, irrep_normalization: str = "norm"
    ) -> "TensorProductSpec":
        """Matrix tensor product ("The Price of Freedom", after e3x's fused tensors), channel-wise.

        Each channel's input is embedded as a square matrix over ``0 + 1 + ... + l~``
        (``l~ = ceil((L1 + L2) / 2)``) with Clebsch-Gordan blocks, the two matrices are multiplied and
        the product is decomposed back. It ignores parity: equivariant under rotations only.
        """
        return _channelwise(cls, "mtp", irreps_in1, irreps_in2, irreps_out, weighted, irrep_normalization)

    # -- derived facts ----------------------------------------------------------------------------

    @property
    def weight_numel(self) -> int:
        if self.variant == "cgtp":
            return sum(p.weight_numel for p in self.paths)
        if not self.weighted:
            return 0
        return self.channels * (len(self.irreps_in1) + len(self.irreps_in2) + len(self.irreps_out))

    @property
    def channels(self) -> int:
        """Number of channels ``C`` of a channel-wise variant (gtp, s2grid, mtp)."""
        if self.variant == "cgtp":
            raise ValueError("channels is defined for the channel-wise variants gtp, s2grid and mtp, not cgtp")
        return self.irreps_in1[0].mul

    @property
    def path_modes(self) -> frozenset[str]:
        return frozenset(p.mode for p in self.paths)

    @property
    def o3_equivariant(self) -> bool:
        """False for mtp, which ignores parity (rotations only)."""
        return self.variant != "mtp"

    def with_paths(self, mask: Sequence[bool]) -> "TensorProductSpec":
        """A smaller cgtp spec keeping the paths where ``mask`` is true.

        Kept paths keep their normalization, so the result equals the original with the dropped
        paths' weights set to zero; weight slices are renumbered in the kept order.
        """
        if self.variant != "cgtp":
            raise ValueError(
                f"with_paths needs a cgtp spec; a {self.variant} spec computes all its paths at once by construction"
            )
        mask = _path_mask(mask, len(self.paths))
        kept = [p for p, keep in zip(self.paths, mask) if keep]
        return dataclasses.replace(self, paths=renumber_weights(kept))

    def __str__(self) -> str:
        return (
            f"TensorProductSpec.{self.variant}({self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, "
            f"mode={self.mode}, paths={len(self.paths)}, weight_numel={self.weight_numel})"
        )


def _path_mask(mask, n: int) -> list[bool]:
    """``mask`` as ``n`` bools; a string ("10100") or entries other than bools and 0/1 are refused."""
    if isinstance(mask, (str, bytes)) or not isinstance(mask, Iterable):
        raise TypeError(f"mask must be a sequence of {n} booleans (one per path), got {type(mask).__name__} {mask!r}")
    mask = list(mask)
    if len(mask) != n:
        raise ValueError(f"mask has {len(mask)} entries, but the spec has {n} paths")
    for i, keep in enumerate(mask):
        integral = isinstance(keep, (int, np.integer)) and keep in (0, 1)
        if not (isinstance(keep, (bool, np.bool_)) or integral):
            raise TypeError(f"mask[{i}] must be a bool (True keeps path {i}), got {type(keep).__name__} {keep!r}")
    return [bool(keep) for keep in mask]


def signal_parity(irreps: Irreps, name: str) -> int:
    """The ``p`` of a spherical signal ``C x (l, p * (-1)^l)``; raises if ``irreps`` is not one."""
    if len(irreps) == 0:
        raise ValueError(f"{name} is empty; expected a spherical signal such as '4x0e + 4x1o + 4x2e'")
    muls = {mul for mul, _ in irreps}
    if len(muls) != 1:
        # 0 channels is allowed (an empty signal, output of size 0), but not a mixture
        raise ValueError(f"{name} = {irreps!s} must have one multiplicity (the channels) for every degree")
    ls = [ir.l for _, ir in irreps]
    if ls != sorted(set(ls)):
        raise ValueError(f"{name} = {irreps!s} must list each degree l at most once, in increasing order")
    signs = {ir.p * (-1) ** ir.l for _, ir in irreps}
    if len(signs) != 1:
        raise ValueError(
            f"{name} = {irreps!s} mixes parities; a spherical signal has parity p*(-1)^l for one p "
            "(0e+1o+2e+... or 0o+1e+2o+...)"
        )
    return signs.pop()


def _channelwise(cls, variant, irreps_in1, irreps_in2, irreps_out, weighted, irrep_normalization):
    from tpcore.coefficients import path_factors

    irreps_in1 = as_irreps(irreps_in1, "irreps_in1")
    irreps_in2 = as_irreps(irreps_in2, "irreps_in2")
    irreps_out = as_irreps(irreps_out, "irreps_out")
    check_choice("irrep_normalization", irrep_normalization, ("component", "norm"))
    p1 = signal_parity(irreps_in1, "irreps_in1")
    p2 = signal_parity(irreps_in2, "irreps_in2")
    p_out = signal_parity(irreps_out, "irreps_out")
    channels = {irreps_in1[0].mul, irreps_in2[0].mul, irreps_out[0].mul}
    if len(channels) != 1:
        raise ValueError(
            f"{variant} acts channel-wise: irreps_in1 ({irreps_in1}), irreps_in2 ({irreps_in2}) and irreps_out "
            f"({irreps_out}) need the same multiplicity"
        )
    if p_out != p1 * p2:
        raise ValueError(
            f"irreps_out = {irreps_out} has signal parity {p_out:+d}, but the product of signals with parities "
            f"{p1:+d} and {p2:+d} has parity {p1 * p2:+d}"
        )
    lmax_sum = irreps_in1.lmax + irreps_in2.lmax
    if irreps_out.lmax > lmax_sum:
        raise ValueError(
            f"irreps_out = {irreps_out} goes up to l={irreps_out.lmax}, but the product of degrees up to "
            f"{irreps_in1.lmax} and {irreps_in2.lmax} has no component above l={lmax_sum}"
        )
    C = irreps_in1[0].mul
    blocks = [
        (i1, i2, io, ir1, ir2, ir3)
        for i1, (_, ir1) in enumerate(irreps_in1)
        for i2, (_, ir2) in enumerate(irreps_in2)
        for io, (_, ir3) in enumerate(irreps_out)
        if abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l and (variant == "mtp" or (ir1.l + ir2.l + ir3.l) % 2 == 0)
    ]
    factors = path_factors(variant, irreps_in1, irreps_in2, [(b[3].l, b[4].l, b[5].l) for b in blocks], irrep_normalization)
    paths = [Path(*block, C, C, C, "uuu", False, 1.0, c) for block, c in zip(blocks, factors)]
    return cls(
        variant=variant,
        irreps_in1=irreps_in1,
        irreps_in2=irreps_in2,
        irreps_out=irreps_out,
        mode="uuu",
        paths=tuple(paths),
        irrep_normalization=irrep_normalization,
        path_normalization="none",
        weighted=check_flag("weighted", weighted),
    )


__all__ = ["Path", "TensorProductSpec", "VARIANTS", "CGTP_MODES", "IRREP_NORMALIZATIONS", "PATH_NORMALIZATIONS"]
