"""Specs for the e3nn-style adapters (:mod:`tpcore.torch`, :mod:`tpcore.jax`), framework-free."""

from __future__ import annotations

from tpcore.irreps import Irreps, MulIr
from tpcore.spec import TensorProductSpec


def channelwise_spec(variant: str, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, weighted: bool):
    """The ``variant`` (gtp, s2grid, mtp) spec; an input whose multiplicities are all 1 is widened.

    e3nn layers multiply features by spherical harmonics of multiplicity 1; a channel-wise variant
    needs one multiplicity, so such an input is repeated over the channels (the adapters repeat
    its values to match).
    """
    channels = {mul for mul, _ in irreps_in1 + irreps_in2 + irreps_out if mul != 1}
    if len(channels) > 1:
        raise ValueError(
            f"variant={variant!r} acts channel-wise and needs one multiplicity (or 1 for an input to repeat): got "
            f"irreps_in1={irreps_in1}, irreps_in2={irreps_in2}, irreps_out={irreps_out}"
        )
    C = channels.pop() if channels else 1

    def widened(irreps):
        return Irreps([MulIr(C, ir) for _, ir in irreps]) if all(mul == 1 for mul, _ in irreps) else irreps

    return getattr(TensorProductSpec, variant)(widened(irreps_in1), widened(irreps_in2), irreps_out, weighted=weighted)


def square_instructions(irreps_in: Irreps, irreps_out: Irreps | None, keep, irrep_normalization: str):
    """``(irreps_out, instructions)`` of e3nn's ``TensorSquare`` of ``irreps_in`` (simplified).

    Pairs ``i1 < i2`` of blocks are multiplied fully (``uvuv``, or ``uvw`` when ``irreps_out`` is
    given); a block with itself gives its channel pairs ``u < v`` (``uvu<v`` / ``u<vw``) and, for
    even ``l_out``, the diagonal ``u == v`` (``uuu`` / ``uuw``) with the normalization that makes
    the square of a unit-variance input unit-variance (e3nn's factors). Without ``irreps_out``
    every product irrep allowed by ``keep`` is an output block, sorted in e3nn's order.
    """

    def alpha(ir1, ir2, ir_out, diagonal: bool) -> float:
        if diagonal:
            if irrep_normalization == "component":
                return ir_out.dim / (ir1.dim + 2) if ir_out.l == 0 else ir_out.dim / 2
            if irrep_normalization == "norm":
                return ir_out.dim * ir1.dim if ir_out.l == 0 else ir1.dim * (ir1.dim + 2) / 2
            return 1.0
        return {"component": ir_out.dim, "norm": ir1.dim * ir2.dim}.get(irrep_normalization, 1.0)

    full = irreps_out is None
    out: list[MulIr] = []
    instructions = []
    for i1, (mul1, ir1) in enumerate(irreps_in):
        for i2, (mul2, ir2) in enumerate(irreps_in):
            if i1 > i2:
                continue
            targets = (
                [(None, ir) for ir in ir1 * ir2 if keep is None or ir in keep]
                if full
                else [(io, ir) for io, (_, ir) in enumerate(irreps_out) if ir in ir1 * ir2]
            )
            for io, ir in targets:
                pieces = []
                if i1 < i2:
                    pieces.append(("uvuv" if full else "uvw", mul1 * mul2, alpha(ir1, ir2, ir, False)))
                else:
                    if mul1 > 1:
                        pieces.append(("uvu<v" if full else "u<vw", mul1 * (mul1 - 1) // 2, alpha(ir1, ir2, ir, False)))
                    if ir.l % 2 == 0:
                        pieces.append(("uuu" if full else "uuw", mul1, alpha(ir1, ir2, ir, True)))
                for mode, mul_out, factor in pieces:
                    if full:
                        io = len(out)
                        out.append(MulIr(mul_out, ir))
                    instructions.append((i1, i2, io, mode, not full, factor))
    if not full:
        return irreps_out, instructions
    sorted_out = Irreps(out).sort()
    return sorted_out.irreps, [(i1, i2, sorted_out.p[io], mode, w, a) for i1, i2, io, mode, w, a in instructions]
