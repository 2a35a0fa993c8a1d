"""The plan's primitive operations in ``jax.numpy`` (see :class:`tpcore.execute.ArrayOps`).

jax.numpy follows numpy closely (``einsum`` and ``@`` promote a real operand to complex, FFTs
accept empty batches), so only constant placement and matmul precision differ from the base class.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from tpcore.devices import jax_device
from tpcore.devices import jax_device_name as device_name
from tpcore.execute import ArrayOps

# On GPUs XLA computes float32 dots in TF32 by default (about 1e-3 relative error); the plans are
# a few small contractions, so full float32 precision costs little and keeps tpcore's 1e-5 bound.
PRECISION = jax.lax.Precision.HIGHEST


@partial(jax.jit, static_argnums=0, inline=True)
def _einsum(equation, *operands):
    """``jnp.einsum`` behind one jit made once: ``jnp.einsum`` makes a new jit on every call, and
    jax caches each trace of it under that new jit, so every traced build added entries (bounded
    only by jax's LRU of 2048, about 5 KB each); this jit's trace is cached by equation and shapes.
    ``inline=True`` leaves the same dot_general in the caller's jaxpr."""
    return jnp.einsum(equation, *operands, precision=PRECISION)


class JaxOps(ArrayOps):
    """:class:`ArrayOps` over ``jax.numpy``, placing constants on ``device``.

    ``device=None`` leaves constants uncommitted on the default device, so jit may move them next
    to inputs placed anywhere (a sharded batch included); an explicit device commits them there.
    """

    def __init__(self, device: jax.Device | str | None = None):
        super().__init__(jnp)
        self.device = jax_device(device)

    def __reduce__(self):
        return JaxOps, (device_name(self.device),)

    def asarray(self, value: np.ndarray, dtype, device=None):
        device = self.device if device is None else device
        if value.dtype.kind in "iu":  # gather indices: int32 is enough and needs no jax_enable_x64
            value = np.asarray(value, dtype=np.int32)
        elif value.dtype.kind == "c":
            value = np.asarray(value, dtype=self.complex_dtype(dtype))
        else:
            value = np.asarray(value, dtype=dtype)
        return jax.device_put(value, device)

    def complex_dtype(self, dtype):
        return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128

    def einsum(self, equation, *operands):
        return _einsum(equation, *operands)

    def matmul(self, x, matrix):
        return jnp.matmul(x, matrix, precision=PRECISION)

    def weight_fold(self, w, index, target, value, shape):
        lead = w.shape[:-1]
        out = jnp.zeros(lead + (int(np.prod(shape)),), dtype=w.dtype).at[..., target].add(w[..., index] * value)
        return out.reshape(lead + tuple(shape))

    def segment_sum(self, x, index, n):
        return jnp.zeros((x.shape[0], n), dtype=x.dtype).at[:, index].add(x)
