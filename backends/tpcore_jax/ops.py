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
    ``inline=True`` leaves the same dot_general in the caller's jaxpr.

    Axes of size 1 are reshaped away first (:func:`without_unit_axes`): XLA on a CPU keeps them in
    the layouts of a dot's reverse, where they cost copies; the channel axis ``v`` of the edge
    harmonics made the full product's forward+backward 1.5x slower, and under ``vmap`` a
    program traced per sample has a batch axis ``z`` of size 1 beside vmap's own.
    """
    equation, squeezed, shape = without_unit_axes(equation, operands)
    out = jnp.einsum(equation, *squeezed, precision=PRECISION)
    return out if shape is None else out.reshape(shape)


def without_unit_axes(equation: str, operands) -> tuple[str, list, tuple | None]:
    """``(equation, operands, shape)`` for the same einsum without the indices whose axes all have
    size 1; ``shape`` is the result's shape to restore (None: nothing removed)."""
    inputs, output = equation.split("->")
    subscripts = inputs.split(",")
    if "." in equation:
        return equation, list(operands), None
    sizes: dict[str, set] = {}
    for sub, x in zip(subscripts, operands):
        for c, n in zip(sub, x.shape):
            sizes.setdefault(c, set()).add(n)
    unit = {c for c, n in sizes.items() if n == {1}}
    if not unit:
        return equation, list(operands), None
    squeezed = [x.reshape(tuple(n for c, n in zip(sub, x.shape) if c not in unit)) for sub, x in zip(subscripts, operands)]
    kept = [sub.translate({ord(c): None for c in unit}) for sub in subscripts]
    shape = tuple(1 if c in unit else max(sizes[c]) for c in output)
    return ",".join(kept) + "->" + output.translate({ord(c): None for c in unit}), squeezed, shape


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
        if matrix.ndim != 2 or x.ndim < 3:
            return jnp.matmul(x, matrix, precision=PRECISION)
        # one GEMM over all leading axes: a leading axis of size 1 (one channel of the edge
        # harmonics) left in the dot costs copies in its reverse, as in :func:`_einsum`
        flat = jnp.matmul(x.reshape(-1, x.shape[-1]), matrix, precision=PRECISION)
        return flat.reshape(x.shape[:-1] + matrix.shape[-1:])

    def weight_fold(self, w, index, target, value, shape):
        lead = w.shape[:-1]
        out = jnp.zeros(lead + (int(np.prod(shape)),), dtype=w.dtype).at[..., target].add(w[..., index] * value)
        return out.reshape(lead + tuple(shape))

    def segment_sum(self, x, index, n):
        return jnp.zeros((x.shape[0], n), dtype=x.dtype).at[:, index].add(x)
