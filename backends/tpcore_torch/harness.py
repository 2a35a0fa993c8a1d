"""The torch backend's :class:`~tpcore.harness.Harness`: tensors in and out, autograd, CUDA sync."""

from __future__ import annotations

import numpy as np
import torch

from tpcore.harness import Harness


class TorchHarness(Harness):
    backend = "torch"

    def __init__(self):
        super().__init__(torch)

    def asarray(self, x, dtype, device=None):
        return torch.tensor(np.asarray(x), dtype=getattr(torch, dtype), device=device or "cpu")

    def to_numpy(self, x):
        return x.detach().to("cpu", torch.float64).numpy()

    def dtype_name(self, x):
        return str(x.dtype).removeprefix("torch.")

    def device_name(self, x):
        return str(x.device)

    def sync(self, x):
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return x

    def forward_function(self, tp):
        def forward(x1, x2, w):
            with torch.no_grad():
                return tp(x1, x2, w)

        return forward

    def vjp_function(self, tp):
        def vjp(x1, x2, w, g):
            inputs = _leaves(x1, x2, w)
            out = tp(*inputs)
            return _fill(inputs, _grad(out, [x for x in inputs if x is not None], g))

        return vjp

    def vjp2_function(self, tp):
        def vjp2(x1, x2, w, g, h1, h2):
            inputs = _leaves(x1, x2, w)
            present = [x for x in inputs if x is not None]
            out = tp(*inputs)
            gx1, gx2, *_ = _grad(out, present, g, create_graph=True)
            s = sum(((gx * h).sum() for gx, h in ((gx1, h1), (gx2, h2)) if gx is not None), out.new_zeros(()))
            return _fill(inputs, _grad(s, present))

        return vjp2


def _grad(out, inputs, grad_output=None, create_graph=False):
    """``torch.autograd.grad`` that answers None per input when ``out`` depends on no input at all
    (an output of empty blocks only is plain zeros without a graph, in e3nn as in tpcore)."""
    if not out.requires_grad:
        return [None] * len(inputs)
    return torch.autograd.grad(out, inputs, grad_output, create_graph=create_graph, allow_unused=True)


def _leaves(*xs):
    return tuple(None if x is None else x.detach().requires_grad_(True) for x in xs)


def _fill(inputs, grads):
    """One gradient per input (None for a None input; zeros for an input the output does not use)."""
    it = iter(grads)
    out = []
    for x in inputs:
        if x is None:
            out.append(None)
        else:
            grad = next(it)
            out.append(torch.zeros_like(x) if grad is None else grad)
    return tuple(out)
