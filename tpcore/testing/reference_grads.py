"""Expected first and second derivatives of a spec, from the float64 reference alone (no autodiff).

Every variant is linear in ``x1`` and in ``x2``, and each weight coordinate enters with degree one
(cgtp is linear in the weights; weighted gtp/s2grid/mtp scale inputs and output by separate weight
groups). Hence, for ``L = sum(g * f(x1, x2, w))``:

- ``dL/dx1[z, i] = sum_k g[z, k] f(e_i, x2[z], w)[k]`` (the reference on identity rows), same for x2;
- ``dL/dw_j = sum g * (f(x1, x2, w + e_j) - f(x1, x2, w))`` exactly, summed over the batch when
  the weights are shared.

Second order (the :meth:`tpcore.harness.Harness.vjp2_function` contract): with
``s = <h1, gx1> + <h2, gx2>`` and linearity, ``<h1, gx1> = <g, f(h1, x2, w)>`` and
``<h2, gx2> = <g, f(x1, h2, w)>``, so ``ds/dx1`` is the first derivative wrt x1 at ``x2 := h2``,
``ds/dx2`` the one wrt x2 at ``x1 := h1``, and ``ds/dw`` the sum of both weight derivatives.
"""

from __future__ import annotations

import numpy as np

from tpcore.reference import reference
from tpcore.spec import TensorProductSpec


def reference_vjp(spec: TensorProductSpec, x1, x2, w, g):
    """``(gx1, gx2, gw)``: gradients of ``sum(g * f(x1, x2, w))`` for ``x1 (Z, dim1)``, ``x2 (Z, dim2)``.

    ``w`` is None, ``(weight_numel,)`` (shared: ``gw`` is summed over Z) or ``(Z, weight_numel)``.
    """
    x1, x2, g = (np.asarray(a, dtype=np.float64) for a in (x1, x2, g))
    w = None if w is None else np.asarray(w, dtype=np.float64)
    per_sample = w is not None and w.ndim == 2
    w_rows = None if w is None else (w[:, None] if per_sample else w)  # broadcasts against the unit rows
    e1, e2 = np.eye(spec.irreps_in1.dim), np.eye(spec.irreps_in2.dim)
    gx1 = np.einsum("zk,zik->zi", g, reference(spec, e1[None], x2[:, None], w_rows))
    gx2 = np.einsum("zk,zjk->zj", g, reference(spec, x1[:, None], e2[None], w_rows))
    if w is None:
        return gx1, gx2, None
    shifted = (w[:, None] if per_sample else w[None]) + np.eye(spec.weight_numel)
    diff = reference(spec, x1[:, None], x2[:, None], shifted) - reference(spec, x1, x2, w)[:, None]
    gw = np.einsum("zk,zjk->zj" if per_sample else "zk,zjk->j", g, diff)
    return gx1, gx2, gw


def reference_vjp2(spec: TensorProductSpec, x1, x2, w, g, h1, h2):
    """``(a1, a2, aw)``: gradients wrt ``(x1, x2, w)`` of ``<h1, gx1> + <h2, gx2>`` (see the module doc)."""
    a1, _, aw_h2 = reference_vjp(spec, x1, h2, w, g)
    _, a2, aw_h1 = reference_vjp(spec, h1, x2, w, g)
    return a1, a2, None if w is None else aw_h1 + aw_h2


__all__ = ["reference_vjp", "reference_vjp2"]
