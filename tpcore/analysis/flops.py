"""FLOPs per sample of each lowering strategy of a spec (multiply-add = 2 FLOPs).

Counts follow the plan's contractions: for cgtp, ``dense`` multiplies the full coupling block
``(2l1+1)(2l2+1)(2l3+1)`` and ``sparse`` only its nonzero entries (the CG selection rules); both
add the weight contraction of the path's mode. Channel-wise variants count their changes of basis,
the pointwise/convolution/matrix product and the projection back. Complex products count 4x.
"""

from __future__ import annotations

from math import log2

import numpy as np

from tpcore import so3
from tpcore.coefficients import mtp_degree
from tpcore.spec import TensorProductSpec


def _pairs(p) -> int:
    return p.mul_in1 if p.mode in ("uuw", "uuu") else p.mul_in1 * p.mul_in2


def _weight_flops(p) -> int:
    if not p.has_weight:
        return 0
    d3 = p.ir_out.dim
    return 2 * d3 * {
        "uvw": p.mul_in1 * p.mul_in2 * p.mul_out,
        "uvu": p.mul_in1 * p.mul_in2,
        "uuw": p.mul_in1 * p.mul_out,
        "uuu": p.mul_in1,
        "uvuv": p.mul_in1 * p.mul_in2,
    }[p.mode]


def _cgtp_flops(spec: TensorProductSpec) -> dict[str, int]:
    dense = sparse = 0
    for p in spec.paths:
        C = so3.wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l)
        dense += 2 * C.size * _pairs(p) + _weight_flops(p)
        sparse += 2 * int(np.count_nonzero(np.abs(C) > 1e-14)) * _pairs(p) + _weight_flops(p)
    return {"dense": dense, "sparse": sparse}


def flops(spec: TensorProductSpec) -> dict[str, int]:
    """FLOPs per sample, by strategy, for ``spec`` (cgtp: dense and sparse; others: their algorithms)."""
    if spec.variant == "cgtp":
        return _cgtp_flops(spec)
    C = spec.channels
    d1, d2, dout = (sum(ir.dim for _, ir in irreps) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
    L1, L2 = spec.irreps_in1.lmax, spec.irreps_in2.lmax
    if spec.variant == "s2grid":
        res_beta, res_alpha = so3.s2_grid_for_degree(L1 + L2 + spec.irreps_out.lmax)
        G = res_beta * res_alpha
        return {"matrix": C * (2 * G * (d1 + d2 + dout) + G)}
    if spec.variant == "gtp":
        s1, s2, N = 2 * L1 + 1, 2 * L2 + 1, 2 * (L1 + L2) + 1
        change = 4 * (d1 * s1 * s1 + d2 * s2 * s2 + N * N * dout)
        direct = 8 * (s1 * s1) * (s2 * s2)
        fft = 3 * 5 * N * N * int(np.ceil(log2(N * N))) * 2 + 6 * N * N
        return {"fft": C * (change + fft), "direct": C * (change + direct)}
    n = (mtp_degree(L1, L2) + 1) ** 2
    return {"matmul": C * (2 * n * n * (d1 + d2 + dout) + 2 * n**3)}


def coefficient_bytes(spec: TensorProductSpec, strategy: str | None = None, itemsize: int = 8) -> int:
    """Bytes of the coefficient arrays of the spec's plan at the given item size."""
    from tpcore.plan import lower

    plan = lower(spec, strategy)
    total = 0
    for value in plan.consts.values():
        per_item = value.itemsize if value.dtype.kind == "i" else itemsize * (2 if value.dtype.kind == "c" else 1)
        total += value.size * per_item
    return total
