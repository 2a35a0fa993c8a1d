"""Message passing as one op: a tensor product per edge, gathered from and summed into nodes.

``conv = tpcore.build_conv(spec, backend=...)`` and ``conv(x1, x2, weights, src, dst, num_nodes)``
computes, for every node ``n < num_nodes``,

    out[n] = sum over the edges e with dst[e] == n of TP(x1[src[e]], x2[e], w[e])

with ``x1 (nodes, irreps_in1.dim)`` node features (the sender's are gathered per edge), ``x2
(edges, irreps_in2.dim)`` edge features (e.g. spherical harmonics), ``weights`` None (the product's
own), shared ``(weight_numel,)`` or per edge ``(edges, weight_numel)``, and ``src``, ``dst``
integer ``(edges,)`` indices. It is the interaction of MACE, NequIP and SevenNet, written once for
every variant and backend; a backend registers how it wraps a built product
(``Backend.convolution``). Indices are checked before any sum: a wrong dtype, length or an index
out of range is an error naming the argument, never a silent wrong sum (values are checked where
they are known, i.e. outside of jit tracing and torch's compilers).
"""

from __future__ import annotations

from typing import Callable

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

    ``indices`` maps ``"src"`` and ``"dst"`` to ``(shape, dtype name, array)``; ``bounds(array)``
    returns the ``(min, max)`` of an index as ints, or None to skip the value check (traced values).
    """
    for name, shape, irreps, label in (("x1", x1_shape, spec.irreps_in1, "irreps_in1"), ("x2", x2_shape, spec.irreps_in2, "irreps_in2")):
        if len(shape) != 2 or shape[1] != irreps.dim:
            rows = "nodes" if name == "x1" else "edges"
            raise ValueError(f"{name} has shape {tuple(shape)}, but a convolution takes ({rows}, {irreps.dim}) for {label} \"{irreps}\"")
    edges, nodes_in = x2_shape[0], x1_shape[0]
    nodes_out = nodes_in if num_nodes is None else num_nodes
    if isinstance(nodes_out, bool) or not isinstance(nodes_out, int) or nodes_out < 0:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
    if weights_shape is not None and len(weights_shape) == 2 and weights_shape[0] != edges:
        raise ValueError(f"weights have shape {tuple(weights_shape)}: per-edge weights need one row per edge ({edges}, as x2 has)")
    if weights_shape is not None and len(weights_shape) > 2:
        raise ValueError(f"weights have shape {tuple(weights_shape)}; a convolution takes ({spec.weight_numel},) or (edges, {spec.weight_numel})")
    for name, size, what in (("src", nodes_in, "x1 has"), ("dst", nodes_out, "num_nodes is")):
        shape, dtype, array = indices[name]
        if dtype not in INDEX_DTYPES:
            raise TypeError(f"{name} has dtype {dtype}; indices must be {' or '.join(INDEX_DTYPES)}")
        if len(shape) != 1 or shape[0] != edges:
            raise ValueError(f"{name} has shape {tuple(shape)}, but there are {edges} edges (x2 has shape {tuple(x2_shape)}): expected ({edges},)")
        found = bounds(array) if bounds is not None and edges else None
        if found is not None and (found[0] < 0 or found[1] >= size):
            raise ValueError(f"{name} holds indices from {found[0]} to {found[1]}, but {what} {size} {'rows' if name == 'src' else ''}".rstrip()
                             + f": every {name} must be in [0, {size})")  # fmt: skip
    return nodes_out


def build_conv(spec: TensorProductSpec, backend: str | None = None, impl: str | None = None, device=None, dtype=None):
    """The message-passing op of ``spec`` on ``backend`` (selected as :func:`tpcore.build` selects).

    The product is built by :func:`tpcore.build` with the same arguments; the backend's
    ``Backend.convolution`` wraps it (a ``torch.nn.Module`` on torch, a pure function of arrays on
    jax, a callable on numpy).
    """
    from tpcore.registry import get_registry

    registry = get_registry()
    chosen = registry.select(spec, backend=backend, impl=impl, device=device, dtype=dtype)
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

    def __call__(self, x1, x2, weights, src, dst, num_nodes: int | None = None):
        from tpcore.dtypes import dtype_name

        n = check_graph(
            self.spec, tuple(x1.shape), tuple(x2.shape), None if weights is None else tuple(weights.shape),
            {name: (tuple(i.shape), dtype_name(i), i) for name, i in (("src", src), ("dst", dst))}, num_nodes, self._bounds,
        )  # fmt: skip
        messages = self.product(self._take(x1, src), x2, weights)
        return self._scatter_sum(messages, dst, n)


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


__all__ = ["INDEX_DTYPES", "check_graph", "build_conv", "ArrayConvolution", "numpy_convolution", "index_bounds"]
