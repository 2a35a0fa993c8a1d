"""``E3nnTensorProduct``: e3nn's ``o3.TensorProduct`` behind tpcore's torch calling convention.

The module is called like tpcore's own torch module (``backends/tpcore_torch/module.py``):
``tp(x1, x2, weights=None)`` with broadcast batch shapes, a ``weight`` Parameter in e3nn's flat
layout (which is tpcore's), and ``weights=`` of shape ``(weight_numel,)`` or
``(..., weight_numel)``; its ``state_dict`` is ``{"weight"}``, as for tpcore's module. e3nn fixes at
construction whether weights are shared, so one e3nn module is built for each case
(``shared_weights=True`` keeps e3nn's fast shared-weight einsums).
"""

from __future__ import annotations

import contextlib

import torch
from e3nn import o3

from tpcore.devices import torch_device
from tpcore.dtypes import dtype_name, torch_dtype
from tpcore.spec import TensorProductSpec
from tpcore.validation import flatten_call

from .instructions import e3nn_arguments


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _e3nn_module(spec: TensorProductSpec, shared_weights: bool, dtype: torch.dtype, device: torch.device):
    # e3nn computes its Clebsch-Gordan buffers in the default dtype: build in float64, then cast, so
    # a float64 module is exact and a float32 one is the rounded float64 (as in tpcore).
    with _default_dtype(torch.float64):
        module = o3.TensorProduct(**e3nn_arguments(spec), shared_weights=shared_weights)
    return module.to(device=device, dtype=dtype)


class E3nnTensorProduct(torch.nn.Module):
    """``tp(x1, x2, weights=None)`` computed by e3nn for a cgtp :class:`~tpcore.spec.TensorProductSpec`."""

    def __init__(self, spec: TensorProductSpec, *, device=None, dtype="float32"):
        super().__init__()
        self.spec = spec
        dtype, device = torch_dtype(dtype), torch_device(device)
        self.register_buffer("_anchor", torch.zeros(0, dtype=dtype, device=device), persistent=False)
        self._build_e3nn(dtype, device)
        if spec.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(spec.weight_numel, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def _build_e3nn(self, dtype: torch.dtype, device: torch.device) -> None:
        # In a plain dict, not registered as submodules, so that the state_dict is ``{"weight"}``
        # alone, as for tpcore's torch module: weights port between the two (and e3nn) unchanged.
        shared = _e3nn_module(self.spec, True, dtype, device)
        per_sample = _e3nn_module(self.spec, False, dtype, device) if self.spec.weight_numel > 0 else None
        self._e3nn_modules = {"shared": shared, "per_sample": per_sample}

    def _apply(self, fn, recurse=True):
        # Module.to/.double()/.cuda() come here. A dtype change rebuilds e3nn's coefficients from
        # float64 instead of casting them, so a module built in float32 and moved to float64 is as
        # accurate as one built in float64; a device change moves them.
        before = self._anchor.dtype
        super()._apply(fn, recurse)
        if self._anchor.dtype != before:
            self._build_e3nn(self._anchor.dtype, self._anchor.device)
        else:
            for module in self._e3nn_modules.values():
                if module is not None:
                    module._apply(fn)
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
        return f"{self.spec}, dtype={str(self.dtype).removeprefix('torch.')}, device={self.device}"

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            weights = self.weight
        given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
        for name, tensor in given.items():
            if tensor.device != self.device:
                raise RuntimeError(
                    f"{name} is on device {tensor.device}, but this tensor product is on {self.device}; "
                    "move the inputs or the module with .to()"
                )
        call, x1, x2, weights = flatten_call(self.spec, x1, x2, weights, torch, expected_dtype=dtype_name(self._anchor))
        e3nn = self._e3nn_modules
        if self.spec.weight_numel == 0:
            out = e3nn["shared"](x1, x2)
        else:
            out = e3nn["per_sample" if call.per_sample_weights else "shared"](x1, x2, weights)
        return call.unflatten(out)

def build(spec: TensorProductSpec, *, device=None, dtype="float32") -> E3nnTensorProduct:
    """The factory of the ``torch/cgtp/e3nn`` implementation."""
    return E3nnTensorProduct(spec, device=device, dtype=dtype)
