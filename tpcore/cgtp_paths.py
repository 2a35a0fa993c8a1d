"""Paths of a Clebsch-Gordan tensor product: e3nn's instructions, modes and normalization.

The normalization follows e3nn's ``o3.TensorProduct``:
``alpha = {component: dim(l3), norm: dim(l1) dim(l2), none: 1}``, divided by the path fan-in
``x`` (``element``: the sum of ``in1_var[i1] * in2_var[i2] * num_elements`` over the paths into
the same output block, ``path``: the path's own term times their count, ``none``: 1; skipped when
``x == 0``), times ``out_var[i_out]`` and ``path_weight``; the path's coefficient is
``sqrt(alpha)`` times the unit-norm ``wigner_3j``. The variances are per block and default to 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import isfinite, sqrt
from typing import Callable

import numpy as np

from tpcore.irreps import Irreps, MulIr, as_irreps
from tpcore.paths import IRREP_NORMALIZATIONS, PATH_NORMALIZATIONS, Path, check_choice, renumber_weights


@dataclass(frozen=True)
class ConnectionMode:
    """How a path of e3nn's connection ``mode`` pairs the channels of its inputs and output.

    ``pairing`` chooses the input channel pairs ``(u, v)`` the path multiplies: ``uv`` every pair
    (row-major), ``uu`` the diagonal ``u == v``, ``u<v`` the strict upper triangle in row-major
    order (e3nn's ``triu_indices(mul, mul, 1)``). ``output`` says where pair number ``q`` goes:
    ``w`` to every output channel through its own weight (weights ``(pairs, mul_out)``), ``u`` or
    ``v`` to that input channel, ``q`` to channel ``q`` (one output channel per pair).
    ``weight_shape`` is e3nn's ``path_shape`` (the same flat order), ``fan_in`` e3nn's
    ``num_elements``: how many pairs feed one output element.
    """

    name: str
    pairing: str
    output: str
    rule: str
    fits: Callable[[int, int, int], bool]
    weight_shape: Callable[[int, int, int], tuple[int, ...]]
    fan_in: Callable[[int, int], int]
    #: e3nn has no weightless form: the output channel is chosen by the weights
    needs_weight: bool = False


def _upper_pairs(m1: int, m2: int) -> int:
    return m1 * (m2 - 1) // 2  # e3nn's expression (m1 == m2 for the u<v modes)


#: e3nn's connection modes, in e3nn's order (tpcore/cgtp_paths.py is the one place they are defined)
MODES: dict[str, ConnectionMode] = {m.name: m for m in (
    ConnectionMode("uvw", "uv", "w", "any", lambda m1, m2, mo: True,
                   lambda m1, m2, mo: (m1, m2, mo), lambda m1, m2: m1 * m2, needs_weight=True),
    ConnectionMode("uvu", "uv", "u", "mul_out == mul_in1", lambda m1, m2, mo: mo == m1,
                   lambda m1, m2, mo: (m1, m2), lambda m1, m2: m2),
    ConnectionMode("uvv", "uv", "v", "mul_out == mul_in2", lambda m1, m2, mo: mo == m2,
                   lambda m1, m2, mo: (m1, m2), lambda m1, m2: m1),
    ConnectionMode("uuw", "uu", "w", "mul_in1 == mul_in2", lambda m1, m2, mo: m1 == m2,
                   lambda m1, m2, mo: (m1, mo), lambda m1, m2: m1),
    ConnectionMode("uuu", "uu", "u", "mul_in1 == mul_in2 == mul_out", lambda m1, m2, mo: m1 == m2 == mo,
                   lambda m1, m2, mo: (m1,), lambda m1, m2: 1),
    ConnectionMode("uvuv", "uv", "q", "mul_out == mul_in1 * mul_in2", lambda m1, m2, mo: mo == m1 * m2,
                   lambda m1, m2, mo: (m1, m2), lambda m1, m2: 1),
    ConnectionMode("uvu<v", "u<v", "q", "mul_in1 == mul_in2 and mul_out == mul_in1 * (mul_in1 - 1) / 2",
                   lambda m1, m2, mo: m1 == m2 and mo == _upper_pairs(m1, m2),
                   lambda m1, m2, mo: (_upper_pairs(m1, m2),), lambda m1, m2: 1),
    ConnectionMode("u<vw", "u<v", "w", "mul_in1 == mul_in2", lambda m1, m2, mo: m1 == m2,
                   lambda m1, m2, mo: (_upper_pairs(m1, m2), mo), _upper_pairs, needs_weight=True),
)}  # fmt: skip

#: e3nn's connection modes by name: uvw uvu uvv uuw uuu uvuv uvu<v u<vw
CGTP_MODES = tuple(MODES)

#: shape of a path's weights, from the multiplicities (mul_in1, mul_in2, mul_out)
WEIGHT_SHAPES = {name: m.weight_shape for name, m in MODES.items()}

#: how many products feed one output element (e3nn's ``num_elements``)
FAN_IN = {name: m.fan_in for name, m in MODES.items()}


def multiplicities_fit(mode: str, m1: int, m2: int, mo: int) -> bool:
    return MODES[mode].fits(m1, m2, mo)


def _multiplicity_rule(mode: str) -> str:
    return MODES[mode].rule


def pair_count(mode: str, m1: int, m2: int) -> int:
    """How many input channel pairs ``(u, v)`` a path of ``mode`` multiplies."""
    return {"uv": m1 * m2, "uu": m1, "u<v": _upper_pairs(m1, m2)}[MODES[mode].pairing]


def triple_count(mode: str, m1: int, m2: int, mo: int) -> int:
    """How many ``(u, v, out channel)`` a path of ``mode`` sums (its weights, when it has them)."""
    return pair_count(mode, m1, m2) * (mo if MODES[mode].output == "w" else 1)


def channel_pairs(mode: str, m1: int, m2: int) -> tuple[np.ndarray, np.ndarray]:
    """The input channels ``(u, v)`` a path of ``mode`` multiplies, one entry per pair ``q``."""
    pairing = MODES[mode].pairing
    if pairing == "uu":
        return np.arange(m1), np.arange(m1)
    if pairing == "u<v":
        u, v = np.triu_indices(m1, 1, m2)
        return u, v
    u, v = np.meshgrid(np.arange(m1), np.arange(m2), indexing="ij")
    return u.ravel(), v.ravel()


def channel_triples(mode: str, m1: int, m2: int, mo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ``(u, v, out channel, flat weight index within the path)`` a path of ``mode`` sums.

    ``out[z, o, k] = sum over triples (u, v, o, i) of W[i] * C[a, b, k] x1[z, u, a] x2[z, v, b]``
    (``W[i] = 1`` without weights), which is e3nn's definition of each mode.
    """
    u, v = channel_pairs(mode, m1, m2)
    q = np.arange(len(u))
    output = MODES[mode].output
    if output == "w":
        w = np.arange(mo)
        return np.repeat(u, mo), np.repeat(v, mo), np.tile(w, len(q)), (q[:, None] * mo + w[None, :]).ravel()
    out = {"u": u, "v": v, "q": q}[output]
    return u, v, out, q


def full_product_irreps(irreps_in1: Irreps, irreps_in2: Irreps) -> Irreps:
    """Output irreps of e3nn's ``FullTensorProduct``: every ``mul1*mul2 x ir_out``, sorted.

    Like e3nn (which simplifies its inputs first), empty blocks (``mul1 * mul2 == 0``) are left out.
    """
    out = [MulIr(m1 * m2, ir) for m1, ir1 in irreps_in1 for m2, ir2 in irreps_in2 if m1 * m2 for ir in ir1 * ir2]
    return Irreps(out).sort().irreps


def _full_product_instructions(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps) -> list[tuple]:
    unsorted = [
        (i1, i2, ir)
        for i1, (m1, ir1) in enumerate(irreps_in1)
        for i2, (m2, ir2) in enumerate(irreps_in2)
        if m1 * m2
        for ir in ir1 * ir2
    ]
    position = Irreps([MulIr(1, ir) for *_, ir in unsorted]).sort().p
    return [(i1, i2, position[k], "uvuv", False) for k, (i1, i2, _) in enumerate(unsorted)]


def build_cgtp(
    cls, irreps_in1, irreps_in2, irreps_out, mode, instructions, path_normalization, irrep_normalization,
    in1_var=None, in2_var=None, out_var=None,
):  # fmt: skip

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
    if isinstance(instructions, (str, bytes)) or not isinstance(instructions, Iterable):
        raise TypeError(f"instructions must be None or a sequence of tuples {INSTRUCTION_FORM}, "
                        f"got {type(instructions).__name__} {instructions!r}")
    parsed = [_parse_instruction(k, ins, mode, irreps_in1, irreps_in2, irreps_out) for k, ins in enumerate(instructions)]
    in1_var = _variances("in1_var", in1_var, irreps_in1, "irreps_in1")
    in2_var = _variances("in2_var", in2_var, irreps_in2, "irreps_in2")
    out_var = _variances("out_var", out_var, irreps_out, "irreps_out")

    def elements(i1, i2, path_mode):  # e3nn's in1_var * in2_var * num_elements
        return in1_var[i1] * in2_var[i2] * FAN_IN[path_mode](irreps_in1[i1].mul, irreps_in2[i2].mul)

    paths = []
    for i1, i2, io, path_mode, has_weight, path_weight in parsed:
        (m1, ir1), (m2, ir2), (mo, ir3) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
        alpha = {"component": ir3.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
        siblings = [p for p in parsed if p[2] == io]
        x = {
            "element": sum(elements(s[0], s[1], s[3]) for s in siblings),
            "path": elements(i1, i2, path_mode) * len(siblings),
            "none": 1,
        }[path_normalization]
        if x > 0:
            alpha /= x
        alpha *= out_var[io] * path_weight
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
        paths=renumber_weights(paths),
        irrep_normalization=irrep_normalization,
        path_normalization=path_normalization,
    )


def _variances(name: str, var, irreps: Irreps, irreps_name: str) -> tuple[float, ...]:
    """e3nn's per-block variance list: ``None`` is all ones, else one non-negative float per block."""
    if var is None:
        return (1.0,) * len(irreps)
    try:
        values = tuple(float(v) for v in var)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of floats, one per block of {irreps_name}; got {var!r}") from error
    if len(values) != len(irreps):
        raise ValueError(
            f"{name} has {len(values)} entries, but {irreps_name} = {irreps} has {len(irreps)} blocks "
            "(one variance per block)"
        )
    bad = [v for v in values if not (v >= 0 and v != float("inf"))]
    if bad:
        raise ValueError(f"{name} = {list(values)}: variances must be finite and non-negative, got {bad[0]}")
    return values


#: the form of one of e3nn's instructions, named in the errors
INSTRUCTION_FORM = "(i_in1, i_in2, i_out[, mode[, has_weight[, path_weight]]])"


def _parse_instruction(k, ins, default_mode, irreps_in1, irreps_in2, irreps_out):
    if isinstance(ins, (str, bytes, Mapping)) or not isinstance(ins, Iterable):
        raise TypeError(f"instructions[{k}] must be a tuple {INSTRUCTION_FORM}, got {type(ins).__name__} {ins!r}")
    ins = tuple(ins)
    if not 3 <= len(ins) <= 6:
        raise ValueError(f"instructions[{k}] = {ins!r}: expected {INSTRUCTION_FORM}")
    i1, i2, io = (_instruction_index(k, name, i) for name, i in zip(("i_in1", "i_in2", "i_out"), ins[:3]))
    mode = ins[3] if len(ins) > 3 else default_mode
    check_choice(f"instructions[{k}] mode", mode, CGTP_MODES)
    has_weight = _instruction_flag(k, ins[4]) if len(ins) > 4 else mode != "uvuv"
    path_weight = _instruction_path_weight(k, ins[5]) if len(ins) > 5 else 1.0
    for name, i, irreps in (("i_in1", i1, irreps_in1), ("i_in2", i2, irreps_in2), ("i_out", io, irreps_out)):
        if not 0 <= i < len(irreps):
            raise ValueError(f"instructions[{k}]: {name}={i} is out of range for {irreps} ({len(irreps)} blocks)")
    (m1, ir1), (m2, ir2), (mo, ir3) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
    if ir3 not in ir1 * ir2:
        raise ValueError(
            f"instructions[{k}]: {ir1} x {ir2} -> {ir3} is not allowed "
            f"(needs |l1-l2| <= l3 <= l1+l2 and p3 = p1*p2)"
        )
    if MODES[mode].needs_weight and not has_weight:
        raise ValueError(
            f"instructions[{k}]: mode {mode!r} mixes channels through its weights, so has_weight must be True"
        )
    if mode == "uuw" and not has_weight and mo != 1:
        raise ValueError(f"instructions[{k}]: mode 'uuw' without weights sums over u, so it needs mul_out == 1, got {mo}")
    if not multiplicities_fit(mode, m1, m2, mo):
        raise ValueError(
            f"instructions[{k}]: mode {mode!r} needs {_multiplicity_rule(mode)}, "
            f"got mul_in1={m1}, mul_in2={m2}, mul_out={mo}"
        )
    return i1, i2, io, mode, has_weight, path_weight


def _instruction_index(k: int, name: str, value) -> int:
    """A block index of instruction ``k``: an integer (``0.7`` is refused, not truncated to 0)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"instructions[{k}]: {name} must be an integer block index, got {type(value).__name__} {value!r}")
    return int(value)


def _instruction_flag(k: int, value) -> bool:
    """``has_weight`` of instruction ``k``: a bool (``"no"`` is refused, not read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"instructions[{k}]: has_weight must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _instruction_path_weight(k: int, value) -> float:
    """``path_weight`` of instruction ``k``: a finite real >= 0 (it enters as ``sqrt(path_weight)``, as in e3nn)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"instructions[{k}]: path_weight must be a real number >= 0, got {type(value).__name__} {value!r}")
    if not (isfinite(value) and value >= 0):
        raise ValueError(
            f"instructions[{k}]: path_weight must be finite and >= 0 (the path's coefficient is "
            f"sqrt(alpha * path_weight)), got {float(value)!r}"
        )
    return float(value)
