"""Paths of a Clebsch-Gordan tensor product: e3nn's instructions, modes and normalization.

The normalization follows e3nn's ``o3.TensorProduct`` (input/output variances 1):
``alpha = {component: dim(l3), norm: dim(l1) dim(l2), none: 1}``, divided by the path fan-in
``x`` (``element``: sum of ``num_elements`` over the paths into the same output block, ``path``:
``num_elements`` times their count, ``none``: 1), times ``path_weight``; the path's coefficient
is ``sqrt(alpha)`` times the unit-norm ``wigner_3j``.
"""

from __future__ import annotations

from math import sqrt

from tpcore.irreps import Irreps, MulIr, as_irreps

#: shape of a path's weights, from the multiplicities (mul_in1, mul_in2, mul_out)
WEIGHT_SHAPES = {
    "uvw": lambda m1, m2, mo: (m1, m2, mo),
    "uvu": lambda m1, m2, mo: (m1, m2),
    "uuw": lambda m1, m2, mo: (m1, mo),
    "uuu": lambda m1, m2, mo: (m1,),
    "uvuv": lambda m1, m2, mo: (m1, m2),
}

#: how many products feed one output element (e3nn's ``num_elements``)
FAN_IN = {
    "uvw": lambda m1, m2: m1 * m2,
    "uvu": lambda m1, m2: m2,
    "uuw": lambda m1, m2: m1,
    "uuu": lambda m1, m2: 1,
    "uvuv": lambda m1, m2: 1,
}


def multiplicities_fit(mode: str, m1: int, m2: int, mo: int) -> bool:
    return {
        "uvw": True,
        "uvu": mo == m1,
        "uuw": m1 == m2,
        "uuu": m1 == m2 == mo,
        "uvuv": mo == m1 * m2,
    }[mode]


def _multiplicity_rule(mode: str) -> str:
    return {
        "uvw": "any",
        "uvu": "mul_out == mul_in1",
        "uuw": "mul_in1 == mul_in2",
        "uuu": "mul_in1 == mul_in2 == mul_out",
        "uvuv": "mul_out == mul_in1 * mul_in2",
    }[mode]


def full_product_irreps(irreps_in1: Irreps, irreps_in2: Irreps) -> Irreps:
    """Output irreps of e3nn's ``FullTensorProduct``: every ``mul1*mul2 x ir_out``, sorted."""
    out = [MulIr(m1 * m2, ir) for m1, ir1 in irreps_in1 for m2, ir2 in irreps_in2 for ir in ir1 * ir2]
    return Irreps(out).sort().irreps


def _full_product_instructions(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> list[tuple]:
    unsorted = [
        (i1, i2, ir)
        for i1, (_, ir1) in enumerate(irreps_in1)
        for i2, (_, ir2) in enumerate(irreps_in2)
        for ir in ir1 * ir2
    ]
    position = Irreps([MulIr(1, ir) for *_, ir in unsorted]).sort().p
    return [(i1, i2, position[k], "uvuv", False) for k, (i1, i2, _) in enumerate(unsorted)]


def build_cgtp(cls, irreps_in1, irreps_in2, irreps_out, mode, instructions, path_normalization, irrep_normalization):
    from tpcore.spec import CGTP_MODES, IRREP_NORMALIZATIONS, PATH_NORMALIZATIONS, Path, _renumber_weights, check_choice

    check_choice("mode", mode, CGTP_MODES)
    check_choice("path_normalization", path_normalization, PATH_NORMALIZATIONS)
    check_choice("irrep_normalization", irrep_normalization, IRREP_NORMALIZATIONS)
    irreps_in1 = as_irreps(irreps_in1, "irreps_in1")
    irreps_in2 = as_irreps(irreps_in2, "irreps_in2")
    if irreps_out is None:
        if mode != "uvuv" or instructions is not None:
            raise ValueError("irreps_out=None (the full tensor product) needs mode='uvuv' and instructions=None")
        irreps_out = full_product_irreps(irreps_in1, irreps_in2)
        instructions = _full_product_instructions(irreps_in1, irreps_in2, irreps_out)
    irreps_out = as_irreps(irreps_out, "irreps_out")

    if instructions is None:
        instructions = [
            (i1, i2, io)
            for i1, (m1, ir1) in enumerate(irreps_in1)
            for i2, (m2, ir2) in enumerate(irreps_in2)
            for io, (mo, ir3) in enumerate(irreps_out)
            if ir3 in ir1 * ir2 and multiplicities_fit(mode, m1, m2, mo)
        ]
    parsed = [_parse_instruction(k, ins, mode, irreps_in1, irreps_in2, irreps_out) for k, ins in enumerate(instructions)]

    paths = []
    for i1, i2, io, path_mode, has_weight, path_weight in parsed:
        (m1, ir1), (m2, ir2), (mo, ir3) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
        alpha = {"component": ir3.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
        siblings = [p for p in parsed if p[2] == io]
        fan_in = FAN_IN[path_mode](m1, m2)
        x = {
            "element": sum(FAN_IN[s[3]](irreps_in1[s[0]].mul, irreps_in2[s[1]].mul) for s in siblings),
            "path": fan_in * len(siblings),
            "none": 1,
        }[path_normalization]
        if x > 0:
            alpha /= x
        alpha *= path_weight
        paths.append(
            Path(
                i_in1=i1, i_in2=i2, i_out=io, ir_in1=ir1, ir_in2=ir2, ir_out=ir3,
                mul_in1=m1, mul_in2=m2, mul_out=mo, mode=path_mode, has_weight=has_weight,
                path_weight=path_weight, normalization=sqrt(alpha),
                weight_shape=WEIGHT_SHAPES[path_mode](m1, m2, mo) if has_weight else (),
            )
        )  # fmt: skip
    return cls(
        variant="cgtp",
        irreps_in1=irreps_in1,
        irreps_in2=irreps_in2,
        irreps_out=irreps_out,
        mode=mode,
        paths=_renumber_weights(paths),
        irrep_normalization=irrep_normalization,
        path_normalization=path_normalization,
    )


def _parse_instruction(k, ins, default_mode, irreps_in1, irreps_in2, irreps_out):
    from tpcore.spec import CGTP_MODES, check_choice

    ins = tuple(ins)
    if not 3 <= len(ins) <= 6:
        raise ValueError(
            f"instructions[{k}] = {ins!r}: expected (i_in1, i_in2, i_out[, mode[, has_weight[, path_weight]]])"
        )
    i1, i2, io = (int(i) for i in ins[:3])
    mode = ins[3] if len(ins) > 3 else default_mode
    check_choice(f"instructions[{k}] mode", mode, CGTP_MODES)
    has_weight = bool(ins[4]) if len(ins) > 4 else mode != "uvuv"
    path_weight = float(ins[5]) if len(ins) > 5 else 1.0
    for name, i, irreps in (("i_in1", i1, irreps_in1), ("i_in2", i2, irreps_in2), ("i_out", io, irreps_out)):
        if not 0 <= i < len(irreps):
            raise ValueError(f"instructions[{k}]: {name}={i} is out of range for {irreps} ({len(irreps)} blocks)")
    (m1, ir1), (m2, ir2), (mo, ir3) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
    if ir3 not in ir1 * ir2:
        raise ValueError(
            f"instructions[{k}]: {ir1} x {ir2} -> {ir3} is not allowed "
            f"(needs |l1-l2| <= l3 <= l1+l2 and p3 = p1*p2)"
        )
    if mode == "uvw" and not has_weight:
        raise ValueError(f"instructions[{k}]: mode 'uvw' mixes channels through its weights, so has_weight must be True")
    if mode == "uuw" and not has_weight and mo != 1:
        raise ValueError(f"instructions[{k}]: mode 'uuw' without weights sums over u, so it needs mul_out == 1, got {mo}")
    if not multiplicities_fit(mode, m1, m2, mo):
        raise ValueError(
            f"instructions[{k}]: mode {mode!r} needs {_multiplicity_rule(mode)}, "
            f"got mul_in1={m1}, mul_in2={m2}, mul_out={mo}"
        )
    return i1, i2, io, mode, has_weight, path_weight
