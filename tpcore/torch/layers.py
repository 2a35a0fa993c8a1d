"""e3nn's layer classes (``FullyConnectedTensorProduct``, ``FullTensorProduct``,
``ElementwiseTensorProduct``, ``TensorSquare``) and :func:`from_e3nn`, on :class:`tpcore.torch.TensorProduct`.

Their irreps and instructions come from :mod:`tpcore.adapter_specs`; these classes only pass them on.
"""

from __future__ import annotations

from typing import Optional

import torch

from tpcore.adapter_specs import (
    adapter_irreps,
    elementwise_instructions,
    fully_connected_instructions,
    full_instructions,
    irrep_filter,
    square_instructions,
)
from tpcore.spec import check_choice

from .module import TensorProduct


class FullyConnectedTensorProduct(TensorProduct):
    """e3nn's ``o3.FullyConnectedTensorProduct``: every allowed ``uvw`` path, in e3nn's order."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, irrep_normalization=None, path_normalization=None, **kwargs):
        irreps_in1, irreps_in2 = adapter_irreps(irreps_in1, "irreps_in1"), adapter_irreps(irreps_in2, "irreps_in2")
        irreps_out = adapter_irreps(irreps_out, "irreps_out")
        instructions = fully_connected_instructions(irreps_in1, irreps_in2, irreps_out)
        super().__init__(
            irreps_in1, irreps_in2, irreps_out, instructions,
            irrep_normalization=irrep_normalization, path_normalization=path_normalization, **kwargs,
        )  # fmt: skip


class FullTensorProduct(TensorProduct):
    """e3nn's ``o3.FullTensorProduct``: every product irrep ``mul1*mul2 x ir``, unweighted, sorted."""

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        # simplified as in e3nn: empty blocks go (their data is empty), equal neighbours merge
        irreps_in1 = adapter_irreps(irreps_in1, "irreps_in1").simplify()
        irreps_in2 = adapter_irreps(irreps_in2, "irreps_in2").simplify()
        irreps_out, instructions = full_instructions(irreps_in1, irreps_in2, irrep_filter(filter_ir_out))
        super().__init__(irreps_in1, irreps_in2, irreps_out, instructions, irrep_normalization=irrep_normalization, **kwargs)


class ElementwiseTensorProduct(TensorProduct):
    """e3nn's ``o3.ElementwiseTensorProduct``: the i-th irrep of ``x`` times the i-th irrep of ``y``.

    Both inputs are simplified and their blocks split until the multiplicities pair up (as e3nn
    does); every product irrep allowed by ``filter_ir_out`` is a ``uuu`` path without weights.
    """

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps1, irreps2, irreps_out, instructions = elementwise_instructions(
            adapter_irreps(irreps_in1, "irreps_in1").simplify(), adapter_irreps(irreps_in2, "irreps_in2").simplify(),
            irrep_filter(filter_ir_out),
        )
        super().__init__(irreps1, irreps2, irreps_out, instructions, irrep_normalization=irrep_normalization, **kwargs)


class TensorSquare(TensorProduct):
    """e3nn's ``o3.TensorSquare(irreps_in, irreps_out=None, filter_ir_out=None)``: ``tp(x, weight=None)``.

    The product of ``x`` with itself reduced to irreps, each unordered pair of channels once
    (e3nn's ``uvu<v``/``u<vw`` paths) plus the diagonal for even output degrees. Without
    ``irreps_out`` it has no weights and outputs every product irrep (``filter_ir_out`` selects);
    with ``irreps_out`` it is fully connected with weights.
    """

    def __init__(self, irreps_in, irreps_out=None, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in = adapter_irreps(irreps_in, "irreps_in").simplify()
        irrep_normalization = irrep_normalization or "component"
        check_choice("irrep_normalization", irrep_normalization, ("component", "norm", "none"))
        if irreps_out is not None and filter_ir_out is not None:
            raise ValueError("TensorSquare takes irreps_out or filter_ir_out, not both (as in e3nn)")
        out = None if irreps_out is None else adapter_irreps(irreps_out, "irreps_out").simplify()
        irreps_out, instructions = square_instructions(irreps_in, out, irrep_filter(filter_ir_out), irrep_normalization)
        super().__init__(irreps_in, irreps_in, irreps_out, instructions, irrep_normalization="none", **kwargs)
        self.irreps_in = self.irreps_in1

    def forward(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        return self._product(x, x, weight)


def from_e3nn(module: torch.nn.Module, *, backend: str = "torch", impl: str | None = None) -> TensorProduct:
    """The tpcore module computing exactly what an e3nn ``o3.TensorProduct`` computes, weights included.

    Works for ``o3.TensorProduct`` and its subclasses with e3nn's two-input call
    (``FullyConnectedTensorProduct``, ``FullTensorProduct``, ``ElementwiseTensorProduct``), from
    e3nn 0.4.4 on. e3nn stores each instruction's final normalization factor (its
    ``irrep_normalization``, ``path_normalization``, variances and ``path_weight`` combined) as
    ``Instruction.path_weight``; the tpcore spec takes that factor as it is (no normalization of its
    own), so nothing is normalized twice and the result does not depend on settings e3nn does not
    keep. The result is a :class:`TensorProduct` (the base class) with e3nn's ``shared_weights``,
    ``internal_weights``, dtype, device and a copy of the weights.
    """
    if not isinstance(module, torch.nn.Module) or not hasattr(module, "instructions") or not hasattr(module, "irreps_in1"):
        raise TypeError(f"from_e3nn needs an e3nn o3.TensorProduct; got {type(module).__module__}.{type(module).__qualname__}")
    names = [cls.__name__ for cls in type(module).__mro__]
    if "TensorSquare" in names:
        raise ValueError(
            "from_e3nn converts the two-input products; for e3nn's TensorSquare build tpcore.torch.TensorSquare with the "
            "same arguments and load_state_dict(module.state_dict())"
        )
    instructions = []
    for k, ins in enumerate(module.instructions):
        factor = float(ins.path_weight)
        if not factor >= 0.0:
            raise ValueError(f"from_e3nn: instructions[{k}] has normalization factor {factor}; expected a finite factor >= 0")
        instructions.append((ins.i_in1, ins.i_in2, ins.i_out, ins.connection_mode, bool(ins.has_weight), factor**2))
    reference = module.weight if module.weight.numel() else module.output_mask
    converted = TensorProduct(
        str(module.irreps_in1), str(module.irreps_in2), str(module.irreps_out), instructions,
        irrep_normalization="none", path_normalization="none",
        internal_weights=bool(module.internal_weights), shared_weights=bool(module.shared_weights),
        compile_right=bool(getattr(module, "_did_compile_right", any(k.startswith("_compiled_main_right.") for k in module.state_dict()))),
        _specialized_code=getattr(module, "_specialized_code", None),
        backend=backend, impl=impl, dtype=reference.dtype, device=reference.device,
    )  # fmt: skip
    if converted.weight_numel != module.weight_numel:
        raise ValueError(f"from_e3nn: e3nn's module has {module.weight_numel} weights, the converted one {converted.weight_numel}")
    if isinstance(converted.weight, torch.nn.Parameter):
        with torch.no_grad():
            converted.weight.copy_(module.weight)
    return converted
