"""The ``folded`` strategy's product as an autograd Function that keeps its inputs, not their outer product.

``folded`` computes ``out = (x1 (x) x2) @ T(w)``: the outer product of the inputs, one row of
``dim1 * dim2`` entries per sample, times the weights folded into one ``(dim1 dim2, dim_out)``
matrix (:func:`tpcore.plan._lower_cgtp_folded`). With weights, autograd keeps that outer product
for the weights' gradient: on e3nn's fully connected layer with the edge harmonics at L = 1, 2,
1.7-1.9x e3nn's saved bytes. :class:`FoldedProduct` keeps ``x1``, ``x2`` and ``T`` and forms the
outer product again in backward (one broadcast multiply, against the two GEMMs of the backward).

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
                grad_x1 = torch.matmul(grad_outer, x2.unsqueeze(-1)).squeeze(-1)
            if need_x2:
                grad_x2 = torch.matmul(x1.unsqueeze(1), grad_outer).squeeze(1)
        if need_T:
            grad_T = _outer(x1, x2).transpose(0, 1) @ grad
        return grad_x1, grad_x2, grad_T


def _outer(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``(Z, dim1 * dim2)``: each row the outer product of ``x1``'s and ``x2``'s, ``x1``'s index first."""
    return (x1.unsqueeze(2) * x2.unsqueeze(1)).reshape(x1.shape[0], -1)


__all__ = ["FoldedProduct"]
