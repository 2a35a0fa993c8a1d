"""The torch backend's convolution (:mod:`tpcore.convolution`) as a ``torch.nn.Module``.

``conv(x1, x2, weights, src, dst, num_nodes=None)``: the message of every edge summed into its
receiver. Convolutions of MACE's, NequIP's and SevenNet's shape (``uvu`` paths on the edge's
spherical harmonics, :func:`tpcore.convolution.edge_groups`) run as a few grouped matrix products
per call, whose first and second derivatives are a few ops each; every other product gathers the
senders' rows, runs the wrapped module (its ``weight`` Parameter when ``weights`` is None) and sums
the messages into ``num_nodes`` receivers by ``index_add``. Both are plain tensor ops, so autograd
differentiates them to any order and TorchScript, ``torch.compile`` and ``torch.export`` see
through them. Eager calls check shapes, dtypes and index values; scripted, traced and compiled
calls check what TorchScript can (sizes), not values.
"""

from typing import List, Optional

import numpy as np
import torch

from tpcore.convolution import _edge_groups, check_graph, index_bounds
from tpcore.dtypes import dtype_name
from tpcore.validation import check_call, check_input_types

from .module import check_devices, compute_dtype

aten = torch.ops.aten  # (not torch.cat: other libraries replace Python-level torch functions)


class EdgeGroupProduct(torch.nn.Module):
    """One :class:`tpcore.convolution.EdgeGroup`: its messages summed into ``(nodes, mul * paths * dim_out)``."""

    def __init__(self, group, segment: int, dtype: torch.dtype, device):
        super().__init__()
        self.segment, self.mul, self.dim1 = segment, group.mul, group.dim1
        self.paths, self.dim_out = group.paths, group.dim_out
        self.weighted = group.weight_index is not None
        self.register_buffer("coupling", torch.as_tensor(group.coupling, dtype=dtype, device=device), persistent=False)
        index = group.weight_index.reshape(-1) if self.weighted else []
        self.register_buffer("weight_index", torch.as_tensor(index, dtype=torch.long, device=device), persistent=False)

    def forward(self, gathered: List[torch.Tensor], x2: torch.Tensor, w: torch.Tensor, dst: torch.Tensor, n: int) -> torch.Tensor:
        edges = x2.size(0)
        columns = self.paths * self.dim_out
        y = x2.matmul(self.coupling).view(edges, self.dim1, columns)
        a = gathered[self.segment]
        # the weights: shared ones broadcast over the edges, per-edge ones row by row; over 2l+1
        scale = w.index_select(-1, self.weight_index).view(-1, self.mul, self.paths, 1) if self.weighted else w
        if self.dim1 == 1:
            # scalars in: the weights scale the scalars, then one broadcast outer product (2-5x
            # faster than bmm, and one large product instead of two, also in both derivatives)
            a = a.view(edges, self.mul, 1, 1)
            m = (a * scale if self.weighted else a) * y.view(edges, 1, self.paths, self.dim_out)
        else:
            m = a.bmm(y)  # (edges, mul, paths * dim_out)
            if self.weighted:
                m = m.view(edges, self.mul, self.paths, self.dim_out) * scale
        m = m.reshape(edges, self.mul * columns)
        return m.new_zeros([n, self.mul * columns]).index_add(0, dst, m)


class ConvolutionProduct(torch.nn.Module):
    """Message passing with a tensor product per edge; ``product`` is a tpcore torch module."""

    __jit_unused_properties__ = ["spec", "strategy"]
    segments: List[List[int]]  # [start, mul, dim1] of each x1 segment the groups read

    def __init__(self, product: torch.nn.Module):
        super().__init__()
        if any(getattr(product, "_tiled", ())):
            raise ValueError(f"the product repeats multiplicity-1 inputs over channels ({product.spec.variant}); "
                             "a convolution takes the channel-wise product of tpcore.build instead")  # fmt: skip
        self.product = product  # a backend's module, or tpcore.torch's e3nn adapter around one
        self.dim_out = product.spec.irreps_out.dim
        self.groups = torch.nn.ModuleList()
        self.segments = []
        self._build_groups()
        # the state_dict is the product's, without the ``product.`` prefix: a convolution loads the
        # checkpoint of the e3nn product it replaces, and its own checkpoint loads back there
        self.register_state_dict_post_hook(_unprefix_product_keys)
        self.register_load_state_dict_pre_hook(_prefix_product_keys)

    def _build_groups(self) -> None:
        """The grouped form's tables in the product's compute dtype (from float64, never cast)."""
        groups = _edge_groups(self.product.spec)
        anchor = _core(self.product)._anchor
        self.grouped = groups is not None and compute_dtype(anchor.dtype) == anchor.dtype
        self.groups = torch.nn.ModuleList()
        self.segments = []
        target = []
        for g in groups if self.grouped else ():
            key = [g.start, g.mul, g.dim1]
            if key not in self.segments:
                self.segments.append(key)
            self.groups.append(EdgeGroupProduct(g, self.segments.index(key), anchor.dtype, anchor.device))
            target.append(g.target)
        target = np.concatenate(target) if target else np.zeros(0, dtype=np.int64)
        self.register_buffer("target", torch.as_tensor(target, dtype=torch.long, device=anchor.device), persistent=False)

    def _apply(self, fn, recurse=True):
        before = _core(self.product)._anchor.dtype
        super()._apply(fn, recurse)
        if _core(self.product)._anchor.dtype != before:
            self._build_groups()
        return self

    @property
    def spec(self):
        return self.product.spec

    @property
    def strategy(self) -> str:
        return "grouped" if self.grouped else self.product.strategy

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: Optional[torch.Tensor], src: torch.Tensor,
                dst: torch.Tensor, num_nodes: Optional[int] = None, x2_index: Optional[torch.Tensor] = None) -> torch.Tensor:  # fmt: skip
        return self.convolve(x1, x2, weights, src, dst, num_nodes, x2_index)

    def convolve(self, x1: torch.Tensor, x2: torch.Tensor, weights: Optional[torch.Tensor], src: torch.Tensor,
                 dst: torch.Tensor, num_nodes: Optional[int] = None, x2_index: Optional[torch.Tensor] = None) -> torch.Tensor:  # fmt: skip
        """The op itself (``forward`` calls it; a client's module with its own signature does too)."""
        n = x1.size(0) if num_nodes is None else num_nodes
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            self._check(x1, x2, weights, src, dst, num_nodes, x2_index)
        if x2_index is not None:
            x2 = x2.index_select(0, x2_index)  # x2 per edge from rows of its own (node-node products)
        if not self.grouped:
            messages = self.product(x1.index_select(0, src), x2, weights)
            return messages.new_zeros([n, messages.size(1)]).index_add(0, dst, messages)
        w = weights if weights is not None else self.product.weight
        if w is None:
            w = x2.new_zeros([0])
        edges = x2.size(0)
        gathered: List[torch.Tensor] = []
        for segment in self.segments:
            start, mul, dim1 = segment[0], segment[1], segment[2]
            gathered.append(x1.narrow(1, start, mul * dim1).index_select(0, src).view(edges, mul, dim1))
        nodes = aten.cat([g(gathered, x2, w, dst, n) for g in self.groups], 1)
        return nodes.new_zeros([n, self.dim_out]).index_add(1, self.target, nodes)

    @torch.jit.unused
    def _check(self, x1, x2, weights, src, dst, num_nodes, x2_index=None) -> None:
        from torch._subclasses.fake_tensor import is_fake

        # the values of a tracer's tensors (make_fx, torch.export, torch.compile) are not known
        indices = {"src": src, "dst": dst, "x2_index": x2_index}
        concrete = not (torch.compiler.is_compiling() or any(i is not None and is_fake(i) for i in indices.values()))
        check_graph(
            self.spec, tuple(x1.shape), tuple(x2.shape), None if weights is None else tuple(weights.shape), indices,
            num_nodes, index_bounds if concrete else None,
        )  # fmt: skip
        if not self.grouped:
            return  # the product checks the rest
        own, numel = self.product.weight, self.spec.weight_numel
        if weights is None and numel > 0 and (own is None or own.numel() != numel):
            raise ValueError(f"weights are required: the product has no internal weights (weight_numel={numel})")
        if weights is None and numel > 0:
            weights = own
        check_input_types(x1, x2, weights, "torch")
        given = {"x1": x1, "x2": x2, "src": src, "dst": dst} | ({} if weights is None else {"weights": weights}) \
            | ({} if x2_index is None else {"x2_index": x2_index})
        check_devices(given, _core(self.product).device, "the convolution's coefficients")
        edges = src.shape[0]  # (x2 has one row per edge, or is gathered to that by x2_index)
        check_call(
            self.spec, x1_shape=(edges, x1.shape[1]), x2_shape=(edges, x2.shape[1]),
            weights_shape=None if weights is None else tuple(weights.shape),
            dtypes={name: dtype_name(t) for name, t in given.items() if name not in ("src", "dst", "x2_index")},
            expected_dtype=dtype_name(_core(self.product)._anchor),
        )  # fmt: skip


def _core(product: torch.nn.Module) -> torch.nn.Module:
    """The backend's module under ``product`` (tpcore.torch's e3nn adapter keeps it as ``_tp``)."""
    return getattr(product, "_tp", product)


def _unprefix_product_keys(module, state_dict, prefix, local_metadata) -> None:
    start = prefix + "product."
    for key in [key for key in state_dict if key.startswith(start)]:
        state_dict[prefix + key[len(start):]] = state_dict.pop(key)


def _prefix_product_keys(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    # (keys already under ``product.`` are from a checkpoint saved before the prefix was dropped)
    for key in [key for key in state_dict if key.startswith(prefix) and not key.startswith(prefix + "product.")]:
        state_dict[prefix + "product." + key[len(prefix):]] = state_dict.pop(key)


def convolution(product: torch.nn.Module) -> ConvolutionProduct:
    return ConvolutionProduct(product)
