"""Cost models per algorithm: FLOPs per sample and coefficient memory (multiply-add = 2 FLOPs).

The models follow the algorithms, not one plan, so they also cover strategies a backend may not
implement yet (:data:`MODEL_STRATEGIES`):

- cgtp ``dense`` multiplies each path's full coupling block ``(2l1+1)(2l2+1)(2l3+1)``; ``sparse``
  only its nonzero entries (the real CG selection rules, about ``(2l1+1)(2l2+1)`` per path);
  ``block`` couples each input pair once with the CG tensors of all its paths stacked (``K``
  output components), in the cheapest of three contraction orders; all add the weight contraction
  of the path's mode. ``folded`` multiplies the outer product ``x1 (x) x2`` by one dense
  ``(dim1 dim2, dim_out)`` matrix with the weights folded in (its per-call fold is not counted:
  it does not grow with the batch).
- s2grid ``matrix`` evaluates/projects with dense ``(G, dim)`` SH tables on ``G = res_beta *
  res_alpha`` grid points; ``fft`` does the same per ``cos(beta)`` ring with Legendre tables and a
  real FFT in ``alpha`` (``2.5 n log2 n`` per ring), the "FFT-in-alpha" of the Gaunt TP paper.
- gtp changes basis to 2D Fourier coefficients, convolves (``fft``: three zero-padded 2D FFTs of
  size ``N x N``; ``direct``: all ``s1^2 s2^2`` products), and maps back; complex products count 4x.
- mtp embeds both inputs as ``n x n`` matrices (``n = (l~+1)^2``), multiplies, and maps back.

Coefficient bytes count the float tables an implementation keeps (complex = 2 floats); index
arrays are not counted. For implemented strategies they equal the plan's tables
(:func:`plan_coefficient_bytes`), which the tests check.
"""

from __future__ import annotations

from math import log2

import numpy as np

from tpcore import so3
from tpcore.cgtp_paths import MODES, pair_count, triple_count
from tpcore.coefficients import mtp_degree
from tpcore.irreps import s2_irreps
from tpcore.spec import TensorProductSpec

#: strategies each variant's cost model covers, in the order :func:`flops` reports them
MODEL_STRATEGIES: dict[str, tuple[str, ...]] = {
    "cgtp": ("block", "folded", "dense", "sparse"),
    "gtp": ("fft", "direct"),
    "s2grid": ("matrix", "fft"),
    "mtp": ("matmul",),
}


def _pairs(p) -> int:
    """Input channel pairs ``(u, v)`` the path multiplies (all, ``u == v``, or ``u < v``)."""
    return pair_count(p.mode, p.mul_in1, p.mul_in2)


def _channel_triples(p) -> int:
    """Channel combinations ``(u, v, out)`` a path couples (one weight each, when weighted)."""
    return triple_count(p.mode, p.mul_in1, p.mul_in2, p.mul_out)


def _weight_flops(p) -> int:
    return 2 * p.ir_out.dim * _channel_triples(p) if p.has_weight else 0


def _cg_nonzeros(p) -> int:
    return int(np.count_nonzero(np.abs(so3.wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l)) > 1e-14))


def _dims(irreps_in1, irreps_in2, irreps_out) -> tuple[int, int, int]:
    """Per-channel dimensions ``sum(2l+1)`` of a channel-wise product's inputs and output."""
    return tuple(sum(ir.dim for _, ir in irreps) for irreps in (irreps_in1, irreps_in2, irreps_out))


def _rfft_flops(n: int) -> float:
    return 2.5 * n * log2(max(n, 2))


def _block_coupling_flops(spec: TensorProductSpec) -> int:
    """Coupling FLOPs of the ``block`` strategy: one contraction per group of paths sharing an input pair."""
    groups: dict[tuple, list] = {}
    for p in spec.paths:
        groups.setdefault((p.i_in1, p.i_in2, MODES[p.mode].pairing, p.mode, p.has_weight, p.mul_out), []).append(p)
    total = 0
    for paths in groups.values():
        u, v, d1, d2 = paths[0].mul_in1, paths[0].mul_in2, paths[0].ir_in1.dim, paths[0].ir_in2.dim
        K = sum(p.ir_out.dim for p in paths)
        if MODES[paths[0].mode].pairing != "uv":
            total += 2 * _pairs(paths[0]) * d1 * d2 * (1 + K)
        else:
            total += 2 * min(u * v * d1 * d2 * (1 + K), v * d2 * d1 * K + u * v * d1 * K, u * d1 * d2 * K + u * v * d2 * K)
    return total


def flops(spec: TensorProductSpec) -> dict[str, int]:
    """FLOPs per sample of each modelled strategy of ``spec`` (see :data:`MODEL_STRATEGIES`)."""
    if spec.variant == "cgtp":
        weights = sum(_weight_flops(p) for p in spec.paths)
        return {
            "block": _block_coupling_flops(spec) + weights,
            "folded": (2 * spec.irreps_out.dim + 1) * spec.irreps_in1.dim * spec.irreps_in2.dim if spec.paths else 0,
            "dense": sum(2 * p.ir_in1.dim * p.ir_in2.dim * p.ir_out.dim * _pairs(p) for p in spec.paths) + weights,
            "sparse": sum(2 * _cg_nonzeros(p) * _pairs(p) for p in spec.paths) + weights,
        }
    return channelwise_flops(spec.variant, spec.irreps_in1, spec.irreps_in2, spec.irreps_out, spec.channels)


def implementation_flops(spec: TensorProductSpec, impl: str) -> int:
    """FLOPs per sample of implementation ``impl`` of ``spec``: its strategy's model (``auto``
    resolved), or for implementations the models do not cover (plugins) the variant's first."""
    from tpcore.plan import STRATEGIES, resolve_strategy

    counts = flops(spec)
    strategy = resolve_strategy(spec, impl) if impl in STRATEGIES[spec.variant] else impl
    return int(counts.get(strategy, next(iter(counts.values()))))


def _gtp_kept(L: int, irreps_out) -> int:
    """Fourier positions the gtp plan maps back to the output (half the spectrum the output reaches)."""
    from tpcore.plan import gtp_from_fourier

    return len(gtp_from_fourier(L, tuple(ir.l for _, ir in irreps_out))[0])


def channelwise_flops(variant: str, irreps_in1, irreps_in2, irreps_out, channels: int) -> dict[str, int]:
    """FLOPs per sample of gtp/s2grid/mtp; they depend only on the degrees, not on the paths."""
    C = channels
    d1, d2, dout = _dims(irreps_in1, irreps_in2, irreps_out)
    L1, L2 = irreps_in1.lmax, irreps_in2.lmax
    if variant == "s2grid":
        res_beta, res_alpha = so3.s2_grid_for_degree(L1 + L2 + irreps_out.lmax)
        G = res_beta * res_alpha
        rings = 2 * res_beta * (d1 + d2 + dout) + 3 * res_beta * _rfft_flops(res_alpha)
        return {"matrix": C * (2 * G * (d1 + d2 + dout) + G), "fft": int(C * (rings + G))}
    if variant == "gtp":
        s1, s2, N = 2 * L1 + 1, 2 * L2 + 1, 2 * (L1 + L2) + 1
        change = 4 * (d1 * s1 * s1 + d2 * s2 * s2 + _gtp_kept(L1 + L2, irreps_out) * dout)
        direct = 8 * (s1 * s1) * (s2 * s2)
        fft = 3 * 5 * N * N * int(np.ceil(log2(N * N))) * 2 + 6 * N * N
        return {"fft": C * (change + fft), "direct": C * (change + direct)}
    if variant == "mtp":
        n = (mtp_degree(L1, L2) + 1) ** 2
        return {"matmul": C * (2 * n * n * (d1 + d2 + dout) + 2 * n**3)}
    raise ValueError(f"variant must be one of gtp, s2grid, mtp; got {variant!r}")


def coefficient_bytes(spec: TensorProductSpec, itemsize: int = 8) -> dict[str, int]:
    """Bytes of the float coefficient tables of each modelled strategy, at ``itemsize`` per float."""
    if spec.variant == "cgtp":
        dense = sum(p.ir_in1.dim * p.ir_in2.dim * p.ir_out.dim for p in spec.paths) * itemsize
        # block stacks the same CG tensors per input pair; sparse keeps only the nonzero values
        return {"block": dense, "folded": _folded_bytes(spec, dense, itemsize), "dense": dense,
                "sparse": sum(_cg_nonzeros(p) for p in spec.paths) * itemsize}
    d1, d2, dout = _dims(spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
    L1, L2 = spec.irreps_in1.lmax, spec.irreps_in2.lmax
    if spec.variant == "s2grid":
        res_beta, res_alpha = so3.s2_grid_for_degree(L1 + L2 + spec.irreps_out.lmax)
        return {"matrix": res_beta * res_alpha * (d1 + d2 + dout) * itemsize, "fft": res_beta * (d1 + d2 + dout) * itemsize}
    if spec.variant == "gtp":
        s1, s2, N = 2 * L1 + 1, 2 * L2 + 1, 2 * (L1 + L2) + 1
        change = 2 * (d1 * s1 * s1 + d2 * s2 * s2 + _gtp_kept(L1 + L2, spec.irreps_out) * dout) * itemsize
        return {"fft": change, "direct": change + s1 * s2 * N * itemsize}
    n = (mtp_degree(L1, L2) + 1) ** 2
    return {"matmul": n * n * (d1 + d2 + dout) * itemsize}


def _folded_bytes(spec: TensorProductSpec, dense: int, itemsize: int) -> int:
    """folded: the CG value of each (weight, entry) pair, the dense part of the unweighted paths,
    and (with weights) block's tables for per-sample weights."""
    weighted = [p for p in spec.paths if p.has_weight]
    values = sum(_cg_nonzeros(p) * _channel_triples(p) for p in weighted) * itemsize
    constant = spec.irreps_in1.dim * spec.irreps_in2.dim * spec.irreps_out.dim * itemsize
    return values + (constant if len(weighted) < len(spec.paths) else 0) + (dense if weighted else 0)


def plan_coefficient_bytes(spec: TensorProductSpec, strategy: str | None = None, itemsize: int = 8) -> int:
    """Bytes of the float/complex coefficient arrays of the spec's lowered plan (index arrays excluded)."""
    from tpcore.plan import lower

    total = 0
    for value in lower(spec, strategy).consts.values():
        if value.dtype.kind in "fc":
            total += value.size * itemsize * (2 if value.dtype.kind == "c" else 1)
    return total


# -- growth with L --------------------------------------------------------------------------------


def full_product_spec(variant: str, L: int, channels: int = 1) -> TensorProductSpec:
    """The variant's product of two signals ``s2_irreps(L)`` with every output up to ``2L``.

    cgtp: e3nn's ``FullTensorProduct`` (one output irrep per path); gtp/s2grid/mtp: the channel-wise
    product into ``s2_irreps(2L)``. Used to compare variants at equal inputs.
    """
    x = s2_irreps(L, mul=channels)
    if variant == "cgtp":
        if channels != 1:
            raise ValueError(f"the cgtp full product mixes channels (uvuv); use channels=1, got {channels}")
        return TensorProductSpec.cgtp(x, x, None, mode="uvuv")
    return getattr(TensorProductSpec, variant)(x, x, s2_irreps(2 * L, mul=channels))


def scaling(variant: str, Ls, channels: int = 1) -> dict[str, list[int]]:
    """FLOPs per sample of each modelled strategy of :func:`full_product_spec` for each ``L`` in ``Ls``.

    Channel-wise variants are costed from their degrees alone, without building the spec (whose
    path factors are expensive at large ``L``).
    """
    table: dict[str, list[int]] = {s: [] for s in MODEL_STRATEGIES[variant]}
    for L in Ls:
        if variant == "cgtp":
            costs = flops(full_product_spec(variant, L, channels))
        else:
            x = s2_irreps(L, mul=channels)
            costs = channelwise_flops(variant, x, x, s2_irreps(2 * L, mul=channels), channels)
        for strategy, n in costs.items():
            table[strategy].append(n)
    return table


def growth_exponent(Ls, costs) -> float:
    """Least-squares slope of ``log(cost)`` against ``log(L)``: cost ~ L^slope over that range."""
    slope, _ = np.polyfit(np.log(np.asarray(Ls, dtype=float)), np.log(np.asarray(costs, dtype=float)), 1)
    return float(slope)
