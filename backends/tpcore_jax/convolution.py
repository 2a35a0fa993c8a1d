"""The jax backend's convolution (:mod:`tpcore.convolution`): a pure function of arrays.

``jnp.take`` gathers the senders and ``jax.ops.segment_sum`` sums the messages into receivers;
jax differentiates both, to any order. Index values are checked on concrete arrays; under
``jax.jit`` they are traced and cannot be (``num_nodes`` must then be static).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tpcore.convolution import ArrayConvolution, index_bounds


def convolution(product) -> ArrayConvolution:
    return ArrayConvolution(product, _take, _scatter_sum, _bounds)


def _take(x, index):
    return jnp.take(x, index, axis=0)


def _scatter_sum(messages, index, n: int):
    return jax.ops.segment_sum(messages, index, num_segments=n)


def _bounds(index):
    # a concrete index read on the host: jnp reductions inside a jit trace would be tracers
    return None if isinstance(index, jax.core.Tracer) else index_bounds(np.asarray(index))
