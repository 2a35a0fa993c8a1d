"""cuEquivariance as a third peer of ``tpcore compare`` on torch (``cuequivariance_torch``, NVIDIA).

Built only where cuEquivariance has the same product, with its ``mul_ir`` layout (e3nn's) and the
``O3`` group:

- ``fc8``, ``fc16``, ``fc32``, ``fc_sh``: ``cuet.FullyConnectedTensorProduct`` with shared weights;
  the same numbers as e3nn's ``FullyConnectedTensorProduct`` on the same flat weights;
- ``conv16``, ``conv32``, ``conv128``: ``cuet.ChannelWiseTensorProduct`` with one weight vector per
  edge, MACE's own choice; the same inputs, paths, weight count and output dimension, but its output
  blocks are sorted by irrep and its normalization is its own, so it is a speed peer only;
- ``full``, ``uuu``: no cuEquivariance module computes them (``NotImplementedError``).

On a CUDA device cuEquivariance runs its fused kernels when ``cuequivariance-ops-torch`` is
installed and its plain torch path otherwise (``use_fallback``); on a CPU always the plain path.
"""

from __future__ import annotations

import importlib.util

#: the implementation name in compare's rows and tables
NAME = "cueq"


def available() -> bool:
    """Whether ``cuequivariance_torch`` is installed (asked without importing it)."""
    return importlib.util.find_spec("cuequivariance_torch") is not None


def build(shape_name: str, spec, device: str | None = None, dtype: str = "float32"):
    """cuEquivariance's module for the shape ``shape_name`` of ``spec``, called as ``tp(x1, x2, w)``.

    Raises :class:`NotImplementedError` with the reason where cuEquivariance has no such product.
    """
    if not available():
        raise NotImplementedError("cuequivariance_torch is not installed")
    import cuequivariance as cue
    import cuequivariance_torch as cuet
    import torch

    options = dict(layout=cue.mul_ir, internal_weights=False, device=torch.device(device or "cpu"),
                   dtype=getattr(torch, dtype), use_fallback=True if (device or "cpu").startswith("cpu") else None)
    irreps = [cue.Irreps("O3", str(x)) for x in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)]
    if shape_name.startswith("fc"):
        module = cuet.FullyConnectedTensorProduct(*irreps, shared_weights=True, **options)
        return _Call(module, shared=True)
    if shape_name.startswith("conv"):
        outputs = sorted({(ir.l, ir.p) for _, ir in spec.irreps_out})
        module = cuet.ChannelWiseTensorProduct(irreps[0], irreps[1], [cue.O3(l, p) for l, p in outputs],
                                               shared_weights=False, **options)
        if module.weight_numel != spec.weight_numel or module.irreps_out.dim != spec.irreps_out.dim:
            raise NotImplementedError(f"cuEquivariance's channel-wise product of {shape_name} has {module.weight_numel} "
                                      f"weights and output dimension {module.irreps_out.dim}, the shape "
                                      f"{spec.weight_numel} and {spec.irreps_out.dim}")
        return _Call(module, shared=False)
    raise NotImplementedError(f"cuEquivariance has no module for the {shape_name} shape")


class _Call:
    """``tp(x1, x2, w)`` for a cuEquivariance module (shared weights go in as ``(1, weight_numel)``)."""

    def __init__(self, module, shared: bool):
        self.module, self.shared = module, shared

    def __call__(self, x1, x2, w=None):
        return self.module(x1, x2, w.reshape(1, -1) if self.shared else w)


__all__ = ["NAME", "available", "build"]
