"""``TensorProduct``: a tpcore plan as a ``torch.nn.Module``.

The plan's float64 coefficients become non-persistent buffers in the module's dtype and device, so
they follow ``.to()``/``.double()``/``.cuda()`` without entering the ``state_dict``; complex
coefficients are stored as their real view (``torch.view_as_real``) because ``Module.to(dtype)``
would otherwise cast them to a real dtype and drop the imaginary part. The weights, if any, are one
Parameter ``weight`` of shape ``(weight_numel,)`` in e3nn's flat layout, so a state_dict saved from
e3nn's ``FullyConnectedTensorProduct`` (or ``TensorProduct``) with the same irreps loads into it.
"""

from __future__ import annotations

import torch

from tpcore.execute import run_plan
from tpcore.plan import lower
from tpcore.spec import TensorProductSpec
from tpcore.validation import check_call

from .ops import TorchOps, torch_dtype

_CONST_PREFIX = "const_"


def torch_device(device) -> torch.device:
    """A checked ``torch.device`` from None (cpu), "cpu", "cuda" or "cuda:N"."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a torch device; expected None, 'cpu', 'cuda' or 'cuda:N' ({exc})") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"device {device!r} is not supported by the tpcore torch backend; expected None, 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was requested, but torch {torch.__version__} sees no CUDA device")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise RuntimeError(f"device {device!r} was requested, but torch sees {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return dev


class TensorProduct(torch.nn.Module):
    """``tp(x1, x2, weights=None)`` for a :class:`~tpcore.spec.TensorProductSpec`.

    ``x1 (..., irreps_in1.dim)`` and ``x2 (..., irreps_in2.dim)`` broadcast over their batch shapes;
    ``weights`` of shape ``(weight_numel,)`` (shared) or ``(..., weight_numel)`` (one vector per
    sample) replace the internal ``weight`` Parameter for this call. The output is
    ``(*batch, irreps_out.dim)`` in the module's dtype and device.
    """

    def __init__(self, spec: TensorProductSpec, *, strategy: str | None = None, device=None, dtype="float32"):
        super().__init__()
        self.spec = spec
        self.plan = lower(spec, strategy)
        self._ops = TorchOps()
        dtype, device = torch_dtype(dtype), torch_device(device)
        # An empty buffer that carries the module's dtype and device through .to(); every plan has
        # coefficients, but this keeps the answer independent of which ones.
        self.register_buffer("_anchor", torch.zeros(0, dtype=dtype, device=device), persistent=False)
        self._set_consts(dtype, device)
        if spec.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(spec.weight_numel, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def _set_consts(self, dtype: torch.dtype, device: torch.device) -> None:
        """(Re)create the coefficient buffers from the plan's float64 arrays."""
        self._complex_consts = []
        for name, value in self.plan.consts.items():
            tensor = self._ops.asarray(value, dtype, device)
            if tensor.is_complex():
                tensor = torch.view_as_real(tensor).clone()
                self._complex_consts.append(name)
            self.register_buffer(_CONST_PREFIX + name, tensor, persistent=False)

    def _apply(self, fn, recurse=True):
        # Module.to/.double()/.float()/.cuda() all come here. A dtype change recomputes the
        # coefficients from float64 instead of casting them, so a module built in float32 and
        # moved to float64 is as accurate as one built in float64.
        before = self._anchor.dtype
        target = fn(self._anchor).dtype
        if target != before:
            torch_dtype(target)  # only float32/float64; raise before any state changes
        super()._apply(fn, recurse)
        if self._anchor.dtype != before:
            self._set_consts(self._anchor.dtype, self._anchor.device)
        return self

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    @property
    def strategy(self) -> str:
        return self.plan.strategy

    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def extra_repr(self) -> str:
        return (
            f"{self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> {self.spec.irreps_out}, "
            f"mode={self.spec.mode}, strategy={self.strategy}, weight_numel={self.weight_numel}, "
            f"dtype={str(self.dtype).removeprefix('torch.')}, device={self.device}"
        )

    def _consts(self) -> dict:
        consts = {name: getattr(self, _CONST_PREFIX + name) for name in self.plan.consts}
        for name in self._complex_consts:
            consts[name] = torch.view_as_complex(consts[name])
        return consts

    def _check_devices(self, tensors: dict) -> None:
        module_device = self.device
        for name, tensor in tensors.items():
            if tensor.device != module_device:
                others = ", ".join(f"{n} on {t.device}" for n, t in tensors.items() if n != name)
                raise RuntimeError(
                    f"{name} is on device {tensor.device}, but this tensor product's coefficients are on "
                    f"{module_device} ({others}); move the inputs or the module with .to()"
                )

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            weights = self.weight
        given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
        self._check_devices(given)
        call = check_call(
            self.spec,
            x1_shape=tuple(x1.shape),
            x2_shape=tuple(x2.shape),
            weights_shape=None if weights is None else tuple(weights.shape),
            dtypes={name: str(t.dtype).removeprefix("torch.") for name, t in given.items()},
            expected_dtype=str(self.dtype).removeprefix("torch."),
        )
        batch, Z = call.batch_shape, call.batch_size
        d1, d2 = x1.shape[-1], x2.shape[-1]
        x1 = x1.broadcast_to(batch + (d1,)).reshape(Z, d1)
        x2 = x2.broadcast_to(batch + (d2,)).reshape(Z, d2)
        if call.per_sample_weights:
            weights = weights.broadcast_to(batch + (weights.shape[-1],)).reshape(Z, weights.shape[-1])
        out = run_plan(self.plan, self._ops, self._consts(), x1, x2, weights, call.per_sample_weights)
        return out.reshape(batch + (self.spec.irreps_out.dim,))


def build(spec: TensorProductSpec, *, device=None, dtype="float32", strategy: str | None = None) -> TensorProduct:
    """The factory behind every torch Implementation."""
    return TensorProduct(spec, strategy=strategy, device=device, dtype=dtype)
