""":class:`CupyTensorProduct`: a plan over a numpy-like namespace (cupy on a GPU), with ``vjp``."""

from __future__ import annotations

import contextlib
import importlib

from tpcore.autodiff import ProgramVJP, VJPOps
from tpcore.dtypes import dtype_name
from tpcore.execute import PlanFunction
from tpcore.validation import check_array_type, flatten_call


class CupyTensorProduct(PlanFunction):
    """``tp(x1, x2, weights=None)`` and ``tp.vjp(x1, x2, weights=None) -> (out, vjp_fn)`` over ``xp``.

    ``xp`` is cupy for the registered backend; any namespace with numpy's API works (the tests use
    numpy). Inputs are ``xp`` arrays ``(..., irreps.dim)`` with broadcastable batch shapes;
    ``weights`` are ``(weight_numel,)`` shared or ``(..., weight_numel)`` per sample.
    ``vjp_fn(g)`` returns the gradients of ``sum(g * out)`` as ``(g_x1, g_x2, g_weights)``, each
    shaped like its input (summed over the axes it was broadcast along); ``g_weights`` is None
    when no weights were passed. ``device`` (cupy only) is a CUDA device index, None for the current one at build time.

    It pickles and deep-copies as ``(spec, namespace name, dtype, strategy, device index)``; the
    coefficients are converted again on load, on that device.
    """

    def __init__(self, spec, xp, dtype, strategy: str | None = None, device: int | None = None):
        if device is None and hasattr(xp, "cuda"):
            device = xp.cuda.Device().id  # the current device: coefficients live there, inputs must too
        self.device = device
        with self._on_device(xp):
            super().__init__(spec, VJPOps(xp), dtype, strategy)
        self.vjps = {per_sample: ProgramVJP(program, self.ops, self.consts) for per_sample, program in self.programs.items()}

    @property
    def strategy(self) -> str:
        """The lowering strategy of its plan, ``auto`` resolved (as on the torch and jax builds)."""
        return self.plan.strategy

    def __getstate__(self):
        return {"spec": self.spec, "xp": self.ops.xp.__name__, "dtype": self.dtype.name,
                "strategy": self.strategy, "device": self.device}  # fmt: skip

    def __setstate__(self, state):
        state = dict(state)
        xp = importlib.import_module(state.pop("xp"))
        CupyTensorProduct.__init__(self, xp=xp, **state)

    def __repr__(self):
        where = "" if self.device is None else f", device={self.device}"
        return (f"CupyTensorProduct({self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> "
                f"{self.spec.irreps_out}, strategy={self.strategy!r}, dtype={self.dtype.name}, "
                f"xp={self.ops.xp.__name__}{where})")

    def __call__(self, x1, x2, weights=None):
        call, flat = self._prepare(x1, x2, weights)
        with self._on_device():
            out = self._empty_output() if call.batch_size == 0 else self.functions[call.per_sample_weights](*flat)
        return call.unflatten(out)

    def _empty_output(self):
        """The output of an empty batch, computed by no program (cuFFT rejects empty batches)."""
        return self.ops.xp.zeros((0, self.spec.irreps_out.dim), dtype=self.dtype)

    def vjp(self, x1, x2, weights=None):
        """``(out, vjp_fn)``; the forward keeps its intermediate values for ``vjp_fn(g)``."""
        call, flat = self._prepare(x1, x2, weights)
        program_vjp = self.vjps[call.per_sample_weights]
        empty = call.batch_size == 0  # cuFFT rejects empty batches: no program runs, every gradient is zero
        with self._on_device():
            tape = None if empty else program_vjp.forward(*flat)
        out = call.unflatten(self._empty_output() if empty else tape.out)

        def vjp_fn(g):
            check_array_type("g", g, self.array_kind)
            self._check_device("g", g)
            if tuple(g.shape) != out.shape:
                raise ValueError(f"g has shape {tuple(g.shape)}, but the output it is the gradient of has shape {out.shape}")
            if dtype_name(g) != self.dtype.name:
                raise TypeError(f"g has dtype {dtype_name(g)}, but the output has dtype {self.dtype.name}")
            with self._on_device():
                if empty:
                    grads = tuple(None if x is None else self.ops.xp.zeros_like(x) for x in flat)
                else:
                    grads = program_vjp.backward(tape, g.reshape(call.batch_size, self.spec.irreps_out.dim))
                return tuple(
                    None if grad is None else self._reduce(grad, call, original, flattened)
                    for grad, original, flattened in zip(grads, (x1, x2, weights), (True, True, call.per_sample_weights))
                )

        return out, vjp_fn

    # -- helpers -----------------------------------------------------------------------------------

    def _prepare(self, x1, x2, weights):
        """Checks, then the flat ``(Z, dim)`` inputs: ``(call, (x1, x2, weights))``."""
        self.check_arrays(x1, x2, weights)
        for name, x in (("x1", x1), ("x2", x2), ("weights", weights)):
            if x is not None:
                self._check_device(name, x)
        call, *flat = flatten_call(self.spec, x1, x2, weights, self.ops.xp, expected_dtype=self.dtype.name)
        return call, tuple(flat)

    def _reduce(self, grad, call, original, flattened):
        """The gradient of an input, back to the shape the caller passed (undoing flattening, broadcasting)."""
        if flattened:
            grad = grad.reshape(call.batch_shape + grad.shape[-1:])
        return self.ops.unbroadcast(grad, tuple(original.shape))

    def _check_device(self, name, x):
        if self.device is not None and x.device.id != self.device:
            raise ValueError(f"{name} is on cuda:{x.device.id}, but this tensor product was built for cuda:{self.device}")

    def _on_device(self, xp=None):
        if self.device is None:
            return contextlib.nullcontext()
        return (xp or self.ops.xp).cuda.Device(self.device)
