"""Message passing as one op: a tensor product per edge, gathered from and summed into nodes.

``conv = tpcore.build_conv(spec, backend=...)`` and ``conv(x1, x2, weights, src, dst, num_nodes)``
computes, for every node ``n < num_nodes``,

    out[n] = sum over the edges e with dst[e] == n of TP(x1[src[e]], x2[e], w[e])

with ``x1 (nodes, irreps_in1.dim)`` node features (the sender's are gathered per edge), ``x2
(edges, irreps_in2.dim)`` edge features (e.g. spherical harmonics), ``weights`` None (the product's
own), shared ``(weight_numel,)`` or per edge ``(edges, weight_numel)``, and ``src``, ``dst``
integer ``(edges,)`` indices. With ``x2_index`` (``(edges,)``, e.g. ``dst``), ``x2`` has rows of its
own (e.g. nodes) and edge ``e`` reads ``x2[x2_index[e]]``: the node-node products. It is the
interaction of MACE, NequIP and SevenNet, written once for every variant and backend; a backend
registers how it wraps a built product
(``Backend.convolution``). Indices are checked before any sum: a wrong dtype, length or an index
out of range is an error naming the argument, never a silent wrong sum (values are checked where
they are known, i.e. outside of jit tracing and torch's compilers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from tpcore.descriptor import Descriptor, describe
from tpcore.dtypes import dtype_name
from tpcore.spec import TensorProductSpec

#: integer dtypes an index may have
INDEX_DTYPES = ("int32", "int64")


def check_graph(
    spec: TensorProductSpec,
    x1_shape: tuple,
    x2_shape: tuple,
    weights_shape: tuple | None,
    indices: dict,
    num_nodes: int | None,
    bounds: Callable | None = None,
) -> int:
    """Check a convolution call's shapes and indices; returns the number of output nodes.

    ``indices`` maps ``"src"``, ``"dst"`` and ``"x2_index"`` to the index arrays of the call (of any
    framework; ``x2_index`` None or left out when ``x2`` has one row per edge); ``bounds(array)``
    returns the ``(min, max)`` of an index as ints, or None to skip the value check (traced values).
    """
    indices = {name: (tuple(i.shape), dtype_name(i), i) for name, i in indices.items() if i is not None}
    gathered = "x2_index" in indices
    for name, shape, irreps, label in (("x1", x1_shape, spec.irreps_in1, "irreps_in1"), ("x2", x2_shape, spec.irreps_in2, "irreps_in2")):
        if len(shape) != 2 or shape[1] != irreps.dim:
            rows = "nodes" if name == "x1" or gathered else "edges"
            raise ValueError(f"{name} has shape {tuple(shape)}, but a convolution takes ({rows}, {irreps.dim}) for {label} \"{irreps}\"")
    nodes_in = x1_shape[0]
    # one row of x2 per edge, or (gathered) one index into x2's rows per edge, as src has
    src_shape = indices["src"][0]
    edges = (src_shape[0] if len(src_shape) == 1 else -1) if gathered else x2_shape[0]
    counted = f"src has shape {tuple(src_shape)}" if gathered else f"x2 has shape {tuple(x2_shape)}"
    nodes_out = nodes_in if num_nodes is None else num_nodes
    if _symbolic(nodes_out):
        bounds = None  # a tracer's size (torch.export, make_fx): index values are not known either
    elif isinstance(nodes_out, bool) or not isinstance(nodes_out, int) or nodes_out < 0:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
    if weights_shape is not None and len(weights_shape) == 2 and weights_shape[0] != edges:
        raise ValueError(f"weights have shape {tuple(weights_shape)}: per-edge weights need one row per edge ({edges}, as {counted.split()[0]} has)")
    if weights_shape is not None and len(weights_shape) > 2:
        raise ValueError(f"weights have shape {tuple(weights_shape)}; a convolution takes ({spec.weight_numel},) or (edges, {spec.weight_numel})")
    checked = [("src", nodes_in, "x1 has", "rows"), ("dst", nodes_out, "num_nodes is", "")]
    if gathered:
        checked.append(("x2_index", x2_shape[0], "x2 has", "rows"))
    for name, size, what, unit in checked:
        shape, dtype, array = indices[name]
        if dtype not in INDEX_DTYPES:
            raise TypeError(f"{name} has dtype {dtype}; indices must be {' or '.join(INDEX_DTYPES)}")
        if len(shape) != 1 or shape[0] != edges:
            raise ValueError(f"{name} has shape {tuple(shape)}, but there are {edges} edges ({counted}): expected ({edges},)")
        found = bounds(array) if bounds is not None and edges else None
        if found is not None and (found[0] < 0 or found[1] >= size):
            raise ValueError(f"{name} holds indices from {found[0]} to {found[1]}, but {what} {size} {unit}".rstrip()
                             + f": every {name} must be in [0, {size})")  # fmt: skip
    return nodes_out


def _symbolic(size) -> bool:
    """Whether ``size`` is a size traced symbolically (torch's ``SymInt``), not a Python int."""
    return type(size).__name__ == "SymInt"


def build_conv(spec: TensorProductSpec, backend: str | None = None, impl: str | None = None, device=None, dtype=None):
    """The message-passing op of ``spec`` on ``backend`` (selected as :func:`tpcore.build` selects).

    An implementation with its own op (``Implementation.convolution``, e.g. a plugin's fused kernel)
    builds it; otherwise the product is built by :func:`tpcore.build` with the same arguments and the
    backend's ``Backend.convolution`` wraps it (a ``torch.nn.Module`` on torch, a pure function of
    arrays on jax, a callable on numpy).
    """
    from tpcore.registry import get_registry

    registry = get_registry()
    chosen = registry.select(spec, backend=backend, impl=impl, device=device, dtype=dtype)
    if chosen.convolution is not None:  # the implementation's own (fused) op
        return chosen.convolution(spec, device=device, dtype=dtype or registry.backends[chosen.backend].default_dtype)
    wrap = registry.backends[chosen.backend].convolution
    if wrap is None:
        offering = [name for name, b in registry.backends.items() if b.convolution is not None]
        raise ValueError(f"backend {chosen.backend!r} offers no convolution; backends that do: {', '.join(offering) or 'none'}")
    return wrap()(registry.build(spec, backend=chosen.backend, impl=chosen.name, device=device, dtype=dtype))


class ArrayConvolution:
    """The convolution over a numpy-like namespace: gather rows, the product, scatter-add rows.

    ``take(x, index)`` gathers rows, ``scatter_sum(messages, index, n)`` sums rows into ``n``
    rows, ``bounds(index)`` gives an index's ``(min, max)`` or None where values are traced.
    """

    def __init__(self, product, take: Callable, scatter_sum: Callable, bounds: Callable | None):
        self.product, self.spec = product, product.spec
        self._take, self._scatter_sum, self._bounds = take, scatter_sum, bounds

    @property
    def strategy(self) -> str:
        return self.product.strategy

    def __call__(self, x1, x2, weights, src, dst, num_nodes: int | None = None, x2_index=None):
        n = check_graph(
            self.spec, tuple(x1.shape), tuple(x2.shape), None if weights is None else tuple(weights.shape),
            {"src": src, "dst": dst, "x2_index": x2_index}, num_nodes, self._bounds,
        )  # fmt: skip
        if x2_index is not None:
            x2 = self._take(x2, x2_index)
        messages = self.product(self._take(x1, src), x2, weights)
        return self._scatter_sum(messages, dst, n)


@dataclass(frozen=True, eq=False)
class EdgeGroup:
    """Paths of a ``uvu`` convolution that share their ``x1`` segment and output degree.

    Per edge ``e``, with ``a (mul, dim1)`` the sender's segment and ``y`` the edge's ``x2``:
    ``m[u, q, k] = w[weight_index[u, q]] * sum_i a[u, i] * (y @ coupling)[i, q, k]`` for the
    group's ``paths`` paths ``q`` of output dimension ``dim_out``; ``m`` flattened is added into the
    receiver's output columns ``target``. One matrix product per edge and group (a ``bmm``), a
    weight broadcast over the ``2l+1`` components, one scatter: a handful of large ops in place of
    a few per path, which is what makes their first and second derivatives cheap.
    """

    start: int  # the x1 segment's flat columns [start, start + mul * dim1)
    mul: int
    dim1: int
    paths: int
    dim_out: int
    coupling: np.ndarray  # (dim2, dim1 * paths * dim_out), float64
    weight_index: np.ndarray | None  # (mul, paths) flat weight positions; None: unweighted paths
    target: np.ndarray  # (mul * paths * dim_out,) output columns of m flattened


@lru_cache(maxsize=64)
def _edge_groups(spec: TensorProductSpec) -> tuple[EdgeGroup, ...] | None:
    return edge_groups(describe(spec))


def edge_groups(d: Descriptor) -> tuple[EdgeGroup, ...] | None:
    """The convolution of ``d`` as :class:`EdgeGroup` s, or None when it is not of that shape.

    The shape is the one of MACE's, NequIP's and SevenNet's convolutions: a ``cgtp`` whose paths are
    all ``uvu`` with ``x2`` segments of one channel (the edge's spherical harmonics), weighted per
    path and channel or not at all.
    """
    if d.variant != "cgtp" or not d.paths or any(p.mode != "uvu" or p.seg2.mul != 1 for p in d.paths):
        return None
    dim2 = d.spec.irreps_in2.dim
    keyed: dict[tuple, list] = {}
    for p in d.paths:
        keyed.setdefault((p.in1, p.seg_out.dim, p.weight is not None), []).append(p)
    groups = []
    for (in1, dim_out, weighted), paths in sorted(keyed.items()):
        seg1 = d.in1[in1]
        coupling = np.zeros((dim2, seg1.dim, len(paths), dim_out))
        for q, p in enumerate(paths):
            c = p.coupling
            np.add.at(coupling, (p.seg2.start + c.j, c.i, q, c.k), c.values)
        u = np.arange(seg1.mul)
        weight_index = np.stack([p.weight.index()[:, 0] for p in paths], 1) if weighted else None
        target = np.stack([p.seg_out.start + (u[:, None] * dim_out + np.arange(dim_out)) for p in paths], 1)
        groups.append(EdgeGroup(seg1.start, seg1.mul, seg1.dim, len(paths), dim_out, coupling.reshape(dim2, -1),
                                weight_index, target.reshape(-1)))  # fmt: skip
    return tuple(groups)


def numpy_convolution(product) -> ArrayConvolution:
    """The numpy backend's convolution (``np.add.at`` sums repeated receivers)."""
    return ArrayConvolution(product, _numpy_take, _numpy_scatter_sum, index_bounds)


def _numpy_take(x, index):
    return x.take(index, axis=0)


def _numpy_scatter_sum(messages, index, n: int):
    import numpy as np

    out = np.zeros((n, messages.shape[1]), dtype=messages.dtype)
    np.add.at(out, index, messages)
    return out


def index_bounds(index) -> tuple[int, int]:
    """``(min, max)`` of a concrete index array (numpy, cupy, torch, eager jax)."""
    return int(index.min()), int(index.max())


__all__ = ["INDEX_DTYPES", "EdgeGroup", "check_graph", "build_conv", "edge_groups", "ArrayConvolution", "numpy_convolution", "index_bounds"]
