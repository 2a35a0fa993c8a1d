"""The jax backend's convolution (:mod:`tpcore.convolution`): a pure function of arrays.

Convolutions of MACE's, NequIP's and SevenNet's shape (``uvu`` paths on the edge's spherical
harmonics, :func:`tpcore.convolution.edge_groups`) run as a few grouped contractions per call
(:class:`GroupedConvolution`); every other product gathers the senders with ``jnp.take``, runs the
built product and sums the messages into receivers with ``jax.ops.segment_sum``. jax
differentiates both, to any order, and either runs under ``jit`` and ``vmap``. Index values are
checked on concrete arrays; under ``jax.jit`` they are traced and cannot be (``num_nodes`` must
then be static).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tpcore.convolution import ArrayConvolution, _edge_groups, check_graph, index_bounds
from tpcore.dtypes import dtype_name
from tpcore.validation import check_call

from .ops import PRECISION


def convolution(product):
    groups = _edge_groups(product.spec)
    if groups is None:
        return ArrayConvolution(product, _take, _scatter_sum, _bounds)
    return GroupedConvolution(product, groups)


class GroupedConvolution:
    """``conv(x1, x2, weights, src, dst, num_nodes=None)`` as one contraction per edge group.

    Per :class:`~tpcore.convolution.EdgeGroup`: ``y = x2 @ coupling`` (one matmul for all groups),
    the sender's segment scaled by each path's weights, a product batched over edges and paths, a
    segment sum into receivers; the output is the groups' path blocks side by side (blocks of one
    output segment added, segments of no path zero). Couplings are the descriptor's float64 ones
    converted once to the product's dtype. Timings: docs/results/conv-cpu-jax.md.
    """

    strategy = "grouped"

    def __init__(self, product, groups):
        self.product, self.spec = product, product.spec
        self._segments = sorted({(g.start, g.mul, g.dim1) for g in groups})
        # columns (path, dim_out, dim1): per edge and path a (dim_out, dim1) matrix, so the product
        # is a plain batched matmul, no transposes (CPU, MACE's shape: columns (path, dim1, dim_out)
        # ran the forward 2x slower at C = 16; the descriptor's (dim1, path, dim_out) forward+backward
        # 10% slower at C = 32)
        couplings = [g.coupling.reshape(-1, g.dim1, g.paths, g.dim_out).transpose(0, 2, 3, 1).reshape(len(g.coupling), -1)
                     for g in groups]  # fmt: skip
        self._coupling = product.ops.asarray(np.concatenate(couplings, 1), product.dtype)
        self._coupling_splits = np.cumsum([g.coupling.shape[1] for g in groups])[:-1].tolist()
        self._weight_splits, piece = _weight_pieces(groups, self.spec.weight_numel)
        self._groups = [
            (self._segments.index((g.start, g.mul, g.dim1)), g.mul, g.dim1, g.paths, g.dim_out,
             None if g.weight_index is None else tuple(piece[int(s)] for s in g.weight_index[0]), _path_starts(g))
            for g in groups
        ]  # fmt: skip
        self._compiled = jax.jit(self._evaluate, static_argnums=5)

    def __call__(self, x1, x2, weights, src, dst, num_nodes: int | None = None, x2_index=None):
        self.product.check_arrays(x1, x2, weights)
        n = check_graph(
            self.spec, tuple(x1.shape), tuple(x2.shape), None if weights is None else tuple(weights.shape),
            {"src": src, "dst": dst, "x2_index": x2_index}, num_nodes, _bounds,
        )  # fmt: skip
        if x2_index is not None:
            x2 = jnp.take(x2, x2_index, axis=0)  # x2 per edge from rows of its own (node-node products)
        given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
        check_call(
            self.spec, x1_shape=(x2.shape[0], x1.shape[1]), x2_shape=tuple(x2.shape),
            weights_shape=None if weights is None else tuple(weights.shape),
            dtypes={name: dtype_name(a) for name, a in given.items()}, expected_dtype=self.product.dtype.name,
        )  # fmt: skip
        return self._compiled(x1, x2, weights, src, dst, n)

    def _evaluate(self, x1, x2, w, src, dst, n: int):
        edges = x2.shape[0]
        # channels last: the contractions are then axpys over contiguous channels, which XLA's CPU
        # loops vectorize (channels first ran 1.5x slower at C = 128)
        gathered = [jnp.take(x1[:, start : start + mul * dim1].reshape(-1, mul, dim1).transpose(0, 2, 1), src, axis=0)
                    for start, mul, dim1 in self._segments]  # fmt: skip
        # split, not sliced: the reverse of a split is one concatenation, that of slices a sum of
        # zero-padded arrays, which XLA fused into one reduction costing a quarter of the step
        ys = jnp.split(jnp.matmul(x2, self._coupling, precision=PRECISION), self._coupling_splits, axis=-1)
        pieces = jnp.split(w, self._weight_splits, axis=-1) if self._weight_splits is not None else None
        blocks: dict[int, list] = {}
        for y, (segment, mul, dim1, paths, dim_out, weight_pieces, starts) in zip(ys, self._groups):
            y = y.reshape(edges, paths, dim_out, dim1)
            a = gathered[segment]  # (E, dim1, mul)
            if weight_pieces is None:
                m = jnp.einsum("eqki,eiu->eqku", y, a, precision=PRECISION)
            else:
                # the weights scale the sender's channels before the contraction: their derivative
                # is then a sum over dim1 (<= 2l+1) beside a matmul, not over dim_out after one
                w_group = jnp.stack([pieces[i] for i in weight_pieces], -2)  # (..., paths, mul)
                m = jnp.einsum("eqki,eqiu->eqku", y, a[:, None] * w_group[..., None, :], precision=PRECISION)
            nodes = jax.ops.segment_sum(m.reshape(edges, paths * dim_out * mul), dst, num_segments=n)
            nodes = nodes.reshape(n, paths, dim_out, mul).transpose(0, 1, 3, 2)
            for q, start in enumerate(starts):
                blocks.setdefault(start, []).append(nodes[:, q].reshape(n, mul * dim_out))
        return _assemble(blocks, self.spec.irreps_out.dim, n, x2.dtype)


def _weight_pieces(groups, numel: int) -> tuple[list | None, dict]:
    """Where to split the weights into one piece per weighted path, and the piece at each path's
    first weight (``uvu`` weights are one contiguous run of channels per path)."""
    runs = sorted((int(s), len(g.weight_index)) for g in groups if g.weight_index is not None for s in g.weight_index[0])
    if not runs:
        return None, {}
    for g in groups:
        if g.weight_index is not None and (g.weight_index != g.weight_index[0] + np.arange(g.mul)[:, None]).any():
            raise ValueError("a uvu path's weights are not one run of channels")
    bounds, piece = [], {}
    at = 0
    for start, length in runs:
        if start != at:
            bounds.append(start)
        piece[start] = len(bounds)
        at = start + length
        bounds.append(at)
    return [b for b in bounds if b < numel], piece


def _path_starts(g) -> tuple[int, ...]:
    """Per path, the first output column of its block ``(mul, dim_out)`` (``target`` is its flattening)."""
    target = g.target.reshape(g.mul, g.paths, g.dim_out)
    starts = target[0, :, 0]
    if (target != starts[None, :, None] + (np.arange(g.mul)[:, None, None] * g.dim_out + np.arange(g.dim_out))).any():
        raise ValueError("a uvu path's output columns are not one block (mul, 2l+1)")
    return tuple(int(s) for s in starts)


def _assemble(blocks: dict, dim: int, n: int, dtype):
    """The output ``(n, dim)`` from blocks by first column; blocks of one column range are added."""
    parts, at = [], 0
    for start in sorted(blocks):
        if start > at:
            parts.append(jnp.zeros((n, start - at), dtype))
        total = blocks[start][0]
        for b in blocks[start][1:]:
            total = total + b
        parts.append(total)
        at = start + total.shape[1]
    if at < dim:
        parts.append(jnp.zeros((n, dim - at), dtype))
    return jnp.concatenate(parts, axis=1) if parts else jnp.zeros((n, dim), dtype)


def _take(x, index):
    return jnp.take(x, index, axis=0)


def _scatter_sum(messages, index, n: int):
    return jax.ops.segment_sum(messages, index, num_segments=n)


def _bounds(index):
    # a concrete index read on the host: jnp reductions inside a jit trace would be tracers
    return None if isinstance(index, jax.core.Tracer) else index_bounds(np.asarray(index))
