"""``TensorProduct``: a tpcore plan as a pure JAX function ``tp(x1, x2, weights=None)``.

The plan's float64 coefficients are converted once, at build time, to the requested dtype and
device and closed over; a call has no side effects and checks only static shapes and dtypes
(:func:`tpcore.validation.check_call`), so ``jax.jit``, ``jax.grad`` (to any order), ``jax.vmap``
and sharded inputs work on the object as on any function. Weights are an argument, never state.
"""

from __future__ import annotations

import jax

from tpcore.devices import jax_device
from tpcore.devices import jax_device_name as device_name
from tpcore.dtypes import jax_dtype
from tpcore.execute import PlanFunction
from tpcore.spec import TensorProductSpec

from .ops import JaxOps

class TensorProduct(PlanFunction):
    """``tp(x1, x2, weights=None)`` for a :class:`~tpcore.spec.TensorProductSpec`, a pure JAX function.

    ``x1 (..., irreps_in1.dim)`` and ``x2 (..., irreps_in2.dim)`` broadcast over their batch shapes;
    ``weights`` are ``(weight_numel,)`` (shared) or ``(..., weight_numel)`` (one vector per sample),
    required when ``weight_numel > 0``. Inputs must have the dtype the function was built for
    (with 64-bit types off, jax turns float64 numpy inputs into float32 on entry, as for any jitted
    function). ``spec``, ``strategy``, ``weight_numel``, ``dtype`` and ``device`` describe it.

    It pickles and deep-copies as ``(spec, strategy, dtype, device name)``: the constants and the
    jitted function are rebuilt on load, on the named device of the loading process.
    """

    array_kind = "jax"

    def __init__(self, spec: TensorProductSpec, *, strategy: str | None = None, device=None, dtype="float32"):
        self.device = jax_device(device)
        super().__init__(spec, JaxOps(self.device), jax_dtype(dtype).name, strategy)
        # One XLA computation per input signature instead of one dispatch (and compilation) per plan
        # op in eager use; nested in a user's jit it is inlined. Shape and dtype checks run while
        # tracing, on static shapes, so their errors read the same under every transformation;
        # array types are checked before, as jit would reject a list or a torch tensor in its own words.
        self._compiled = jax.jit(self.evaluate)

    def __call__(self, x1, x2, weights=None):
        self.check_arrays(x1, x2, weights)
        return self._compiled(x1, x2, weights)

    def __getstate__(self):
        return {"spec": self.spec, "strategy": self.strategy, "dtype": self.dtype.name, "device": device_name(self.device)}

    def __setstate__(self, state):
        TensorProduct.__init__(self, **state)

    @property
    def strategy(self) -> str:
        return self.plan.strategy

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    def __repr__(self) -> str:
        where = "default" if self.device is None else f"{self.device.platform}:{self.device.id}"
        return (
            f"TensorProduct({self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> {self.spec.irreps_out}, "
            f"strategy={self.strategy}, weight_numel={self.weight_numel}, dtype={self.dtype.name}, device={where})"
        )


def build(spec: TensorProductSpec, *, device=None, dtype="float32", strategy: str | None = None) -> TensorProduct:
    return TensorProduct(spec, strategy=strategy, device=device, dtype=dtype)
