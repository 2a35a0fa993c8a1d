"""The constants e3nn's generated code keeps in a ``TensorProduct``'s state_dict.

e3nn's ``o3.TensorProduct`` (0.4.4 to 0.6) compiles its product into ``torch.fx`` modules
``_compiled_main_left_right`` (and ``_compiled_main_right`` with ``compile_right=True``) whose
buffers are part of its state_dict: ``_w3j_{l1}_{l2}_{l3}`` for each instruction its code does not
specialize, and ``_triu_indices_{mul}`` for the ``uvu<v`` and ``u<vw`` modes. tpcore's adapter
computes its own coefficients; it writes these keys into its state_dict (from
:func:`tpcore.so3.wigner_3j`, equal to e3nn's) so that a checkpoint of a tpcore model loads into
plain e3nn with ``strict=True``. The rules below are e3nn's code generator's, mode by mode.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch

from tpcore.so3 import wigner_3j


def _has_zero(ls) -> bool:
    return 0 in ls


def _has_zero_or_is_cross(ls) -> bool:
    return 0 in ls or tuple(ls) == (1, 1, 1)


#: (mode, has_weight) -> the degrees (l1, l2, l_out) e3nn's specialized code computes without a w3j
LEFT_RIGHT_SPECIALIZED = {
    ("uvw", True): _has_zero, ("uvu", True): _has_zero, ("uvv", True): _has_zero, ("uvv", False): _has_zero,
    ("uuw", True): _has_zero, ("uuu", True): _has_zero_or_is_cross, ("uuu", False): _has_zero_or_is_cross,
}  # fmt: skip
RIGHT_SPECIALIZED = {
    ("uvw", True): _has_zero, ("uvu", True): _has_zero, ("uvv", True): _has_zero,
    ("uuu", True): _has_zero, ("uuu", False): _has_zero,  # (right() computes 1 x 1 -> 1 with its w3j)
}  # fmt: skip
#: modes whose operands are gathered by the upper-triangle indices of the channel pairs
TRIANGULAR = ("uvu<v", "u<vw")


def codegen_state(
    irreps_in1, irreps_in2, irreps_out, instructions: Sequence, *, specialized_code: bool,
    compile_left_right: bool = True, compile_right: bool = False, dtype: torch.dtype = torch.float64, device=None,
) -> Dict[str, torch.Tensor]:
    """e3nn's generated-code buffers, keyed as in its state_dict (``_compiled_main_left_right.<name>``).

    ``instructions`` are e3nn ``Instruction``-like tuples ``(i_in1, i_in2, i_out, mode, has_weight, ...)``;
    ``irreps_*`` are sequences of ``(mul, ir)`` with ``ir.l`` and ``mul * ir.dim``.
    """
    programs = [("_compiled_main_left_right", LEFT_RIGHT_SPECIALIZED)] if compile_left_right else []
    if compile_right and not any(ins[3] in TRIANGULAR for ins in instructions):  # (e3nn has no right() for these)
        programs.append(("_compiled_main_right", RIGHT_SPECIALIZED))
    state: Dict[str, torch.Tensor] = {}
    for program, specialized in programs:
        for i_in1, i_in2, i_out, mode, has_weight, *_ in instructions:
            blocks = (irreps_in1[i_in1], irreps_in2[i_in2], irreps_out[i_out])
            if any(mul * ir.dim == 0 for mul, ir in blocks):
                continue  # e3nn generates no code for an empty block
            ls = tuple(ir.l for _, ir in blocks)
            rule = specialized.get((mode, bool(has_weight)))
            name = f"{program}._w3j_{ls[0]}_{ls[1]}_{ls[2]}"
            if not (specialized_code and rule is not None and rule(ls)) and name not in state:
                state[name] = torch.tensor(wigner_3j(*ls), dtype=dtype, device=device)
            if mode in TRIANGULAR:  # (in the order e3nn's graph reads them: the w3j first)
                mul = blocks[0][0]
                state.setdefault(f"{program}._triu_indices_{mul}", torch.triu_indices(mul, mul, 1, device=device))
    return state
