"""Specs for the e3nn-style adapters (:mod:`tpcore.torch`, :mod:`tpcore.jax`), framework-free.

The irreps and instructions of e3nn's layer classes (``FullyConnectedTensorProduct``,
``FullTensorProduct``, ``ElementwiseTensorProduct``, ``TensorSquare``) follow e3nn's rules and
order; an instruction is e3nn's tuple ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])``.
"""

from __future__ import annotations

from tpcore.irreps import Irrep, Irreps, MulIr, as_irreps
from tpcore.spec import TensorProductSpec


def adapter_irreps(value, name: str) -> Irreps:
    """tpcore ``Irreps`` from a string, blocks, or e3nn/e3nn-jax objects (read through their strings).

    e3nn's own layers pass lists of ``(mul, o3.Irrep)`` pairs or ``_MulIr`` objects too.
    """
    if _is_e3nn(value):
        return as_irreps(str(value), name)
    if isinstance(value, (list, tuple)) and any(_is_e3nn(item) or (isinstance(item, tuple) and any(_is_e3nn(i) for i in item)) for item in value):
        blocks = []
        for item in value:
            if isinstance(item, tuple) and len(item) == 2 and not _is_e3nn(item):
                mul, ir = item
                blocks.append(f"{int(mul)}x{ir}")
            else:
                blocks.append(str(item))
        value = "+".join(blocks)
    return as_irreps(value, name)


def _is_e3nn(value) -> bool:
    return type(value).__module__.startswith(("e3nn.", "e3nn_jax."))


def irrep_filter(filter_ir_out) -> set[Irrep] | None:
    """e3nn's ``filter_ir_out`` (irreps given as strings or e3nn objects) as a set of irreps; None keeps all."""
    return None if filter_ir_out is None else {Irrep(str(ir)) for ir in filter_ir_out}


def fully_connected_instructions(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> list[tuple]:
    """e3nn's ``FullyConnectedTensorProduct``: a weighted ``uvw`` path for every allowed block triple."""
    return [
        (i1, i2, io, "uvw", True, 1.0)
        for i1, (_, ir1) in enumerate(irreps_in1)
        for i2, (_, ir2) in enumerate(irreps_in2)
        for io, (_, ir3) in enumerate(irreps_out)
        if ir3 in ir1 * ir2
    ]


def full_instructions(irreps_in1: Irreps, irreps_in2: Irreps, keep: set[Irrep] | None) -> tuple[Irreps, list[tuple]]:
    """``(irreps_out, instructions)`` of e3nn's ``FullTensorProduct``: every product irrep
    ``mul1*mul2 x ir`` allowed by ``keep`` as an unweighted ``uvuv`` path, the output sorted."""
    out, instructions = [], []
    for i1, (m1, ir1) in enumerate(irreps_in1):
        for i2, (m2, ir2) in enumerate(irreps_in2):
            for ir in ir1 * ir2:
                if keep is None or ir in keep:
                    instructions.append((i1, i2, len(out), "uvuv", False))
                    out.append(MulIr(m1 * m2, ir))
    sorted_out = Irreps(out).sort()
    return sorted_out.irreps, [(i1, i2, sorted_out.p[io], mode, w) for i1, i2, io, mode, w in instructions]


def elementwise_instructions(irreps_in1: Irreps, irreps_in2: Irreps, keep: set[Irrep] | None):
    """``(irreps_in1, irreps_in2, irreps_out, instructions)`` of e3nn's ``ElementwiseTensorProduct``.

    The i-th irrep of ``x1`` times the i-th irrep of ``x2``: the input blocks are split until
    their multiplicities pair up (as e3nn does), and every product irrep allowed by ``keep`` is
    an unweighted ``uuu`` path.
    """
    blocks1, blocks2 = [(mul, ir) for mul, ir in irreps_in1], [(mul, ir) for mul, ir in irreps_in2]
    n1, n2 = sum(m for m, _ in blocks1), sum(m for m, _ in blocks2)
    if n1 != n2:
        raise ValueError(f"irreps_in1 has {n1} irreps and irreps_in2 {n2}; an elementwise product pairs them one to one")
    i = 0
    while i < len(blocks1):
        (m1, ir1), (m2, ir2) = blocks1[i], blocks2[i]
        if m1 < m2:
            blocks2[i:i + 1] = [(m1, ir2), (m2 - m1, ir2)]
        elif m2 < m1:
            blocks1[i:i + 1] = [(m2, ir1), (m1 - m2, ir1)]
        i += 1
    out, instructions = [], []
    for i, ((mul, ir1), (_, ir2)) in enumerate(zip(blocks1, blocks2)):
        for ir in ir1 * ir2:
            if keep is None or ir in keep:
                instructions.append((i, i, len(out), "uuu", False))
                out.append(MulIr(mul, ir))
    irreps1, irreps2 = (Irreps([MulIr(m, ir) for m, ir in blocks]) for blocks in (blocks1, blocks2))
    return irreps1, irreps2, Irreps(out), instructions


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
