"""The ``fused`` strategy's product as an autograd Function that keeps only its inputs for backward.

``fused`` computes ``out[:, k] += value * w[weight] * x1[:, i1] * x2[:, i2]`` over every term of
every path (:func:`tpcore.plan.fused_entries`): two gathers, the products and one scatter-add.
Generated as a program, autograd keeps four ``(rows, terms)`` intermediates for the backward pass
(both gathers, their product and the gathered weights): 3-12x e3nn's saved bytes on MACE's
convolution at 16 channels, ``uuu`` and the full product. :class:`FusedProduct` keeps ``x1``, ``x2``
and ``w`` instead and gathers again in backward, which is as cheap as the scatters it replaces.

The backward is made of differentiable torch ops, so second derivatives (forces' gradients in
training) work as before. The module runs it in eager calls only
(:meth:`tpcore_torch.module.TensorProduct.forward`), and the generated program everywhere else:
TorchScript cannot script an autograd Function, ``torch.jit.trace`` would record it as an opaque
Python op, under ``torch.compile`` the double backward of a model that takes its forces by
``autograd.grad`` inside the compiled region came out wrong through this Function (the compiler's
partitioner decides what a compiled program keeps anyway), and ``torch.func`` transforms need a
Function form that costs three times as much per call (below).
"""

from __future__ import annotations

from typing import Any

import torch


class FusedProduct(torch.autograd.Function):
    """``FusedProduct.apply(x1, x2, w, i1, i2, weight, value, k, n)``: the fused strategy's output ``(Z, n)``.

    ``x1 (Z, dim1)``, ``x2 (Z, dim2)``; ``w`` of shape ``(weight_numel,)`` (shared) or
    ``(Z, weight_numel)`` (per sample), unused when ``weight`` is None; ``i1``, ``i2``, ``value``
    and ``k`` are the ``(terms,)`` constants of :func:`tpcore.plan.fused_entries`, and ``weight``
    the weight positions of its first ``len(weight)`` terms (the weighted ones).

    The classic form (``ctx`` in ``forward``): ``apply`` costs about 4 us there, against 12 us with a
    ``setup_context`` and a generated vmap rule, on calls of 40-100 us (the full product at L = 1).
    ``torch.func`` transforms therefore run the generated program instead.
    """

    @staticmethod
    def forward(ctx, x1, x2, w, i1, i2, weight, value, k, n: int):
        ctx.save_for_backward(x1, x2, w, i1, i2, weight, value, k)
        terms = _terms(x1.index_select(-1, i1) * x2.index_select(-1, i2) * value, w, weight)
        return terms.new_zeros([x1.shape[0], n]).index_add(1, k, terms)

    @staticmethod
    def backward(ctx, grad) -> tuple[Any, ...]:
        x1, x2, w, i1, i2, weight, value, k = ctx.saved_tensors
        need_x1, need_x2, need_w = ctx.needs_input_grad[:3]
        grad_terms = grad.index_select(1, k) * value
        a, c = x1.index_select(-1, i1), x2.index_select(-1, i2)
        scaled = _terms(grad_terms, w, weight)  # d out / d (x1[i1] x2[i2]) per term
        grad_x1 = x1.new_zeros(x1.shape).index_add(1, i1, scaled * c) if need_x1 else None
        grad_x2 = x2.new_zeros(x2.shape).index_add(1, i2, scaled * a) if need_x2 else None
        grad_w = None
        if need_w and weight is not None:
            m = len(weight)
            per_term = grad_terms[:, :m] * a[:, :m] * c[:, :m]
            if w.dim() == 1:
                grad_w = w.new_zeros(w.shape).index_add(0, weight, per_term.sum(0))
            else:
                grad_w = w.new_zeros(w.shape).index_add(1, weight, per_term)
        elif need_w:
            grad_w = w.new_zeros(w.shape)
        return grad_x1, grad_x2, grad_w, None, None, None, None, None, None


def _terms(terms: torch.Tensor, w: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``terms`` with its first ``len(weight)`` columns multiplied by their weights ``w[..., weight]``."""
    if weight is None:
        return terms
    m = len(weight)
    weighted = w.index_select(-1, weight)
    if m == terms.shape[-1]:
        return terms * weighted
    # (torch.ops.aten, not torch.cat: other libraries replace Python-level torch functions)
    return torch.ops.aten.cat([terms[:, :m] * weighted, terms[:, m:]], 1)


__all__ = ["FusedProduct"]
