"""The ``folded`` strategy's product as an autograd Function that keeps its inputs, not their outer product.

``folded`` computes ``out = (x1 (x) x2) @ T(w)``: the outer product of the inputs, one row of
``dim1 * dim2`` entries per sample, times the weights folded into one ``(dim1 dim2, dim_out)``
matrix (:func:`tpcore.plan._lower_cgtp_folded`). With weights, autograd keeps that outer product
for the weights' gradient: on e3nn's fully connected layer with the edge harmonics at L = 1, 2,
1.7-1.9x e3nn's saved bytes. :class:`FoldedProduct` keeps ``x1``, ``x2`` and ``T`` and forms the
outer product again in backward (one broadcast multiply, against the two GEMMs of the backward).
:class:`ChannelFoldedProduct` does the same for ``folded`` per channel (products of ``uuu`` paths).

As :mod:`.fused`: the backward is differentiable torch ops (second derivatives work), and the
module runs this Function in eager calls only, the generated program under TorchScript, tracing,
``torch.compile`` and ``torch.func`` (:meth:`tpcore_torch.module.TensorProduct.forward`).
"""

from __future__ import annotations

from typing import Any

import torch


class FoldedProduct(torch.autograd.Function):
    """``FoldedProduct.apply(x1, x2, T)``: ``(x1 (x) x2) @ T`` for ``x1 (Z, dim1)``, ``x2 (Z, dim2)``
    and ``T (dim1 * dim2, dim_out)``, saving the inputs only."""

    @staticmethod
    def forward(ctx, x1, x2, T):
        ctx.save_for_backward(x1, x2, T)
        return _outer(x1, x2) @ T

    @staticmethod
    def backward(ctx, grad) -> tuple[Any, ...]:
        x1, x2, T = ctx.saved_tensors
        need_x1, need_x2, need_T = ctx.needs_input_grad
        grad_x1 = grad_x2 = grad_T = None
        if need_x1 or need_x2:
            grad_outer = (grad @ T.transpose(0, 1)).reshape(x1.shape[0], x1.shape[1], x2.shape[1])
            if need_x1:
                grad_x1 = grad_outer.matmul(x2.unsqueeze(-1)).squeeze(-1)
            if need_x2:
                grad_x2 = x1.unsqueeze(1).matmul(grad_outer).squeeze(1)
        if need_T:
            grad_T = _outer(x1, x2).transpose(0, 1) @ grad
        return grad_x1, grad_x2, grad_T


class ChannelFoldedProduct(torch.autograd.Function):
    """``ChannelFoldedProduct.apply(x1, x2, T, index1, index2)``: ``folded`` per channel, for products
    of ``uuu`` paths on ``u`` channels. ``x1[:, index1]`` is ``x1`` by channel, ``(Z, u, e1)`` (the
    index a permutation of its columns), and likewise ``x2``; ``T`` is ``(u, e1 * e2, e_out)``; the
    result ``out[z, c] = (x1[z, c] (x) x2[z, c]) @ T[c]`` is ``(Z, u, e_out)``. Saves the inputs only:
    the gathers and the outer products are formed again in backward."""

    @staticmethod
    def forward(ctx, x1, x2, T, index1, index2):
        ctx.save_for_backward(x1, x2, T, index1, index2)
        a, c = _by_channel(x1, index1, T.shape[0]), _by_channel(x2, index2, T.shape[0])
        return _channel_outer(a, c).bmm(T).transpose(0, 1)

    @staticmethod
    def backward(ctx, grad) -> tuple[Any, ...]:
        x1, x2, T, index1, index2 = ctx.saved_tensors
        need_x1, need_x2, need_T = ctx.needs_input_grad[:3]
        u = T.shape[0]
        a, c = _by_channel(x1, index1, u), _by_channel(x2, index2, u)
        grad_x1 = grad_x2 = grad_T = None
        g = grad.transpose(0, 1)  # (u, Z, e_out)
        if need_x1 or need_x2:
            grad_outer = g.bmm(T.transpose(1, 2)).reshape(u, a.shape[0], a.shape[2], c.shape[2])
            if need_x1:  # (u, Z, e1) -> x1's columns
                grad_a = grad_outer.matmul(c.transpose(0, 1).unsqueeze(-1)).squeeze(-1).transpose(0, 1)
                grad_x1 = x1.new_zeros(x1.shape).index_copy(-1, index1, grad_a.reshape(x1.shape[0], -1))
            if need_x2:
                grad_c = a.transpose(0, 1).unsqueeze(-2).matmul(grad_outer).squeeze(-2).transpose(0, 1)
                grad_x2 = x2.new_zeros(x2.shape).index_copy(-1, index2, grad_c.reshape(x2.shape[0], -1))
        if need_T:
            grad_T = _channel_outer(a, c).transpose(1, 2).bmm(g)
        return grad_x1, grad_x2, grad_T, None, None


def _by_channel(x: torch.Tensor, index: torch.Tensor, u: int) -> torch.Tensor:
    """``(Z, u, e)``: ``x``'s columns gathered by channel."""
    return x.index_select(-1, index).reshape(x.shape[0], u, -1)


def _channel_outer(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(u, Z, e1 * e2)``: per channel and row, the outer product of ``a``'s and ``c``'s."""
    return (a.transpose(0, 1).unsqueeze(-1) * c.transpose(0, 1).unsqueeze(-2)).reshape(a.shape[1], a.shape[0], -1)


def _outer(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``(Z, dim1 * dim2)``: each row the outer product of ``x1``'s and ``x2``'s, ``x1``'s index first."""
    return (x1.unsqueeze(2) * x2.unsqueeze(1)).reshape(x1.shape[0], -1)


__all__ = ["ChannelFoldedProduct", "FoldedProduct"]
