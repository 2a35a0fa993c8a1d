"""The torch backend's convolution (:mod:`tpcore.convolution`) as a ``torch.nn.Module``.

``conv(x1, x2, weights, src, dst, num_nodes=None)``: the senders' rows of ``x1`` gathered per
edge, the product (the wrapped module, its ``weight`` Parameter when ``weights`` is None), and
the messages summed into ``num_nodes`` receivers by ``index_add``. Autograd differentiates it to
any order. Eager calls check shapes, dtypes and index values; scripted, traced and compiled calls
check what TorchScript can (sizes), not values.
"""

from __future__ import annotations

from typing import Optional

import torch

from tpcore.convolution import check_graph, index_bounds
from tpcore.dtypes import dtype_name


class ConvolutionProduct(torch.nn.Module):
    """Message passing with a tensor product per edge; ``product`` is a tpcore torch module."""

    __jit_unused_properties__ = ["spec", "strategy"]

    def __init__(self, product: torch.nn.Module):
        super().__init__()
        self.product = product

    @property
    def spec(self):
        return self.product.spec

    @property
    def strategy(self) -> str:
        return self.product.strategy

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: Optional[torch.Tensor], src: torch.Tensor,
                dst: torch.Tensor, num_nodes: Optional[int] = None) -> torch.Tensor:  # fmt: skip
        n = x1.size(0) if num_nodes is None else num_nodes
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            self._check(x1, x2, weights, src, dst, num_nodes)
        messages = self.product(x1.index_select(0, src), x2, weights)
        return messages.new_zeros([n, messages.size(1)]).index_add(0, dst, messages)

    @torch.jit.unused
    def _check(self, x1, x2, weights, src, dst, num_nodes) -> None:
        from torch._subclasses.fake_tensor import is_fake

        # the values of a tracer's tensors (make_fx, torch.export, torch.compile) are not known
        concrete = not (torch.compiler.is_compiling() or is_fake(src) or is_fake(dst))
        check_graph(
            self.spec, tuple(x1.shape), tuple(x2.shape), None if weights is None else tuple(weights.shape),
            {name: (tuple(i.shape), dtype_name(i), i) for name, i in (("src", src), ("dst", dst))}, num_nodes,
            index_bounds if concrete else None,
        )  # fmt: skip


def convolution(product: torch.nn.Module) -> ConvolutionProduct:
    return ConvolutionProduct(product)
