"""The jax backend's :class:`~tpcore.harness.Harness`: jitted forward and vector-Jacobian products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tpcore.devices import jax_device
from tpcore.harness import Harness


class JaxHarness(Harness):
    backend = "jax"

    def __init__(self):
        super().__init__(jnp)

    def asarray(self, x, dtype, device=None):
        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ValueError("float64 jax arrays need 64-bit mode: jax.config.update('jax_enable_x64', True)")
        array = jnp.asarray(np.asarray(x), dtype=dtype)
        target = jax_device(device)
        return array if target is None else jax.device_put(array, target)

    def to_numpy(self, x):
        return np.asarray(x, dtype=np.float64)

    def dtype_name(self, x):
        return np.dtype(x.dtype).name

    def device_name(self, x):
        (device,) = x.devices()
        return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"

    def sync(self, x):
        return jax.block_until_ready(x)

    def forward_function(self, tp):
        return jax.jit(lambda x1, x2, w: tp(x1, x2, w))

    def vjp_function(self, tp):
        return jax.jit(_vjp(tp))

    def vjp2_function(self, tp):
        vjp = _vjp(tp)

        def s(x1, x2, w, g, h1, h2):
            gx1, gx2, _ = vjp(x1, x2, w, g)
            return jnp.sum(gx1 * h1) + jnp.sum(gx2 * h2)

        def vjp2(x1, x2, w, g, h1, h2):
            if w is None:
                a1, a2 = jax.grad(lambda a, b: s(a, b, None, g, h1, h2), argnums=(0, 1))(x1, x2)
                return a1, a2, None
            return jax.grad(s, argnums=(0, 1, 2))(x1, x2, w, g, h1, h2)

        return jax.jit(vjp2)


def _vjp(tp):
    def vjp(x1, x2, w, g):
        if w is None:
            _, pullback = jax.vjp(lambda a, b: tp(a, b), x1, x2)
            return (*pullback(g), None)
        _, pullback = jax.vjp(tp, x1, x2, w)
        return pullback(g)

    return vjp
