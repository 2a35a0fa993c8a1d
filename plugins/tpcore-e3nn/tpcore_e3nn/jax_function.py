"""``E3nnJaxTensorProduct``: e3nn-jax's legacy ``FunctionalTensorProduct`` as tpcore's jax function.

e3nn-jax's modern ``e3nn_jax.tensor_product`` sorts irreps in its own order (0e, 0o, 1o, 1e, ...)
and has no instructions or weights; ``e3nn_jax.legacy.FunctionalTensorProduct`` takes e3nn's
instructions and keeps the irreps in the order given, so it maps a cgtp spec one to one (the
normalization conversion is in :func:`tpcore_e3nn.instructions.e3nn_jax_arguments`).

Its ``left_right`` works on one sample; the batch is a ``jax.vmap``, with the weights mapped too
when they are per sample. The call is jitted once; checks run on static shapes while tracing, so it
is a pure function like tpcore's own (``tp(x1, x2, weights=None)``, weights an argument). It
pickles as ``(spec, dtype, device name)`` and rebuilds e3nn-jax's object and the jitted call on load.
"""

from __future__ import annotations

import e3nn_jax
import jax
import jax.numpy as jnp
from e3nn_jax.legacy import FunctionalTensorProduct

from tpcore.devices import jax_device, jax_device_name
from tpcore.dtypes import jax_dtype
from tpcore.spec import TensorProductSpec
from tpcore.validation import check_input_types, flatten_call

from .instructions import e3nn_jax_arguments


class E3nnJaxTensorProduct:
    """``tp(x1, x2, weights=None)`` computed by e3nn-jax for a cgtp :class:`~tpcore.spec.TensorProductSpec`."""

    def __init__(self, spec: TensorProductSpec, *, device=None, dtype="float32"):
        self.spec = spec
        self.device = jax_device(device)
        self.dtype = jax_dtype(dtype)
        self._tp = FunctionalTensorProduct(**e3nn_jax_arguments(spec))
        self._compiled = jax.jit(self._forward)

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    def __call__(self, x1, x2, weights=None):
        check_input_types(x1, x2, weights, "jax")
        return self._compiled(x1, x2, weights)

    def __getstate__(self):
        return {"spec": self.spec, "device": jax_device_name(self.device), "dtype": self.dtype.name}

    def __setstate__(self, state):
        E3nnJaxTensorProduct.__init__(self, **state)

    def _forward(self, x1, x2, weights):
        call, x1, x2, weights = flatten_call(self.spec, x1, x2, weights, jnp, expected_dtype=self.dtype.name)
        if self.spec.weight_numel == 0:
            weights, weight_axis = [], None
        else:
            weight_axis = 0 if call.per_sample_weights else None
        # full float32 products, as tpcore's jax backend computes: a GPU's default (TF32) is off by 1e-4
        with jax.default_matmul_precision("float32"):
            out = jax.vmap(self._one_sample, in_axes=(0, 0, weight_axis))(x1, x2, weights)
        return call.unflatten(out)

    def _one_sample(self, x1, x2, weights):
        a = e3nn_jax.IrrepsArray(self._tp.irreps_in1, x1)
        b = e3nn_jax.IrrepsArray(self._tp.irreps_in2, x2)
        return self._tp.left_right(weights, a, b, fused=False).array

    def __repr__(self) -> str:
        return f"E3nnJaxTensorProduct({self.spec}, dtype={self.dtype.name})"


def build(spec: TensorProductSpec, *, device=None, dtype="float32") -> E3nnJaxTensorProduct:
    """The factory of the ``jax/cgtp/e3nn_jax`` implementation."""
    return E3nnJaxTensorProduct(spec, device=device, dtype=dtype)
