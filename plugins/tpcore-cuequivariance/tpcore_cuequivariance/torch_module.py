"""``CueTensorProduct``: a cuEquivariance segmented polynomial behind tpcore's torch calling convention.

Called like tpcore's own torch module: ``tp(x1, x2, weights=None)`` with broadcast batch shapes,
a ``weight`` Parameter in e3nn's flat layout (tpcore's), and ``weights=`` of shape
``(weight_numel,)`` or ``(..., weight_numel)``; its ``state_dict`` is ``{"weight"}``, so weights
port between this, tpcore's module and e3nn unchanged. cuEquivariance's module is built for one
dtype (its coefficients are cast once, at build): a dtype change with ``.to()`` builds it again
from the float64 coefficients.

On a CPU, and on a GPU without cuEquivariance's CUDA ops (``cuequivariance-ops-torch-*``),
cuEquivariance runs its ``naive`` method: plain torch einsums, differentiable twice.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from tpcore.descriptor import describe
from tpcore.devices import torch_device
from tpcore.dtypes import dtype_name, torch_dtype
from tpcore.spec import TensorProductSpec
from tpcore.validation import flatten_call

from .polynomial import translate

METHOD = "naive"


@contextlib.contextmanager
def _quiet(name: str):
    # cuEquivariance logs a warning per tensor product when the optional opt_einsum_fx is missing:
    # an optimization of its naive method's contraction order, not a problem of the result
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _cue_module(polynomial, dtype: torch.dtype, device: torch.device):
    import cuequivariance_torch as cuet

    with _quiet("cuequivariance_torch.primitives.segmented_polynomial_naive"):
        module = cuet.SegmentedPolynomial(polynomial, method=METHOD, math_dtype=dtype)
    return module.to(device)


class CueTensorProduct(torch.nn.Module):
    """``tp(x1, x2, weights=None)`` computed by cuEquivariance for a cgtp spec it accepts."""

    def __init__(self, spec: TensorProductSpec, *, device=None, dtype="float32"):
        super().__init__()
        self.spec = spec
        self.translation = translate(describe(spec))
        dtype, device = torch_dtype(dtype), torch_device(device)
        self.register_buffer("_anchor", torch.zeros(0, dtype=dtype, device=device), persistent=False)
        self._build_cue(dtype, device)
        if spec.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(spec.weight_numel, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def _build_cue(self, dtype: torch.dtype, device: torch.device) -> None:
        # In a plain dict, not a submodule: the state_dict is {"weight"} alone, as for tpcore's module.
        polynomial, index = self.translation.polynomial, self.translation.weight_index
        self._cue = {
            "module": None if polynomial is None else _cue_module(polynomial, dtype, device),
            # None: the single weight input is the flat weights themselves, no gather
            "index": None if _is_identity(index, self.spec.weight_numel) else
                     [torch.as_tensor(i, dtype=torch.long, device=device) for i in index],
            "built": (dtype, device),
        }  # fmt: skip

    def _apply(self, fn, recurse=True):
        # Module.to/.double()/.cuda() come here: a new dtype or device builds cuEquivariance's module
        # again, from the float64 coefficients rather than a cast of the old ones
        super()._apply(fn, recurse)
        if self._cue["built"] != (self._anchor.dtype, self._anchor.device):
            self._build_cue(self._anchor.dtype, self._anchor.device)
        return self

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def extra_repr(self) -> str:
        return f"{self.spec}, method={METHOD}, dtype={str(self.dtype).removeprefix('torch.')}, device={self.device}"

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            weights = self.weight
        given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
        for name, tensor in given.items():
            if isinstance(tensor, torch.Tensor) and tensor.device != self.device:
                raise RuntimeError(
                    f"{name} is on device {tensor.device}, but this tensor product is on {self.device}; "
                    "move the inputs or the module with .to()"
                )
        call, x1, x2, weights = flatten_call(self.spec, x1, x2, weights, torch, expected_dtype=dtype_name(self._anchor))
        module = self._cue["module"]
        if module is None or call.batch_size == 0:
            # nothing to multiply: zeros, still connected to every input so gradients are zeros, not None
            out = x1.new_zeros((call.batch_size, self.spec.irreps_out.dim))
            out = out + 0 * sum(t.sum() for t in (x1, x2, weights) if t is not None)
            return call.unflatten(out)
        if weights is not None and weights.dim() == 1:
            weights = weights[None]  # shared: cuEquivariance broadcasts a batch of one
        index = self._cue["index"]
        inputs = ([] if weights is None or not self.translation.weight_index else
                  [weights] if index is None else [weights[:, i] for i in index])  # fmt: skip
        [out] = module(inputs + [x1, x2])
        return call.unflatten(out)


def _is_identity(index, numel: int) -> bool:
    return len(index) == 1 and len(index[0]) == numel and bool((index[0] == range(numel)).all())


def build(spec: TensorProductSpec, *, device=None, dtype="float32") -> CueTensorProduct:
    """The factory of the ``torch/cgtp/cuequivariance`` implementation."""
    return CueTensorProduct(spec, device=device, dtype=dtype)
