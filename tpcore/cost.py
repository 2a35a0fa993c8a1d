"""The cost model of each strategy, read off a :class:`~tpcore.descriptor.Descriptor` (multiply-add = 2 FLOPs).

The models follow the algorithms, not one plan, so they also cover strategies a backend may not
implement yet (:data:`MODEL_STRATEGIES`):

- cgtp ``dense`` multiplies each path's full coupling block ``(2l1+1)(2l2+1)(2l3+1)``; ``sparse``
  only its nonzero entries (the real CG selection rules, about ``(2l1+1)(2l2+1)`` per path);
  ``block`` couples each input pair once with the CG tensors of all its paths stacked (``K``
  output components; each x1 block with all of x2, :func:`block_groups`, for the edge harmonics
  without weights), in the cheapest of three contraction orders; all add the weight contraction
  of the path's mode. ``fused`` multiplies and scatters one term per nonzero entry and channel
  triple of every path at once (a product, a weight and a scatter-add each). ``folded`` multiplies
  the outer product ``x1 (x) x2`` by one dense ``(dim1 dim2, dim_out)`` matrix with the weights
  folded in (per channel, ``(u, e1 e2, e_out)``, for products of ``uuu`` paths on one multiplicity);
  its fold, a scatter of one value per weighted coupling entry and channel triple, is done once per
  call (:func:`per_call_flops`).
- s2grid ``matrix`` evaluates/projects with dense ``(G, dim)`` SH tables on ``G = res_beta *
  res_alpha`` grid points; ``fft`` does the same per ``cos(beta)`` ring with Legendre tables and a
  real FFT in ``alpha`` (``2.5 n log2 n`` per ring), the "FFT-in-alpha" of the Gaunt TP paper.
- gtp changes basis to 2D Fourier coefficients, convolves (``fft``: three zero-padded 2D FFTs of
  size ``N x N``; ``direct``: all ``s1^2 s2^2`` products), and maps back; complex products count 4x.
- mtp embeds both inputs as ``n x n`` matrices (``n = (l~+1)^2``), multiplies, and maps back.

Coefficient bytes count the float tables an implementation keeps (complex = 2 floats); index
arrays are not counted. For implemented strategies they equal the plan's tables, which the tests check.
"""

from __future__ import annotations

from math import inf, log2

import numpy as np

from tpcore import so3
from tpcore.cgtp_paths import pair_count
from tpcore.coefficients import gtp_from_fourier, mtp_degree
from tpcore.descriptor import Descriptor, SegmentPath

#: strategies each variant's cost model covers, in the order :func:`flops` reports them
MODEL_STRATEGIES: dict[str, tuple[str, ...]] = {
    "cgtp": ("block", "folded", "dense", "sparse", "fused"),
    "gtp": ("fft", "direct"),
    "s2grid": ("matrix", "fft"),
    "mtp": ("matmul",),
}


def _pairs(p: SegmentPath) -> int:
    """Input channel pairs ``(u, v)`` the path multiplies (all, ``u == v``, or ``u < v``)."""
    return pair_count(p.mode, p.seg1.mul, p.seg2.mul)


def _weight_flops(p: SegmentPath) -> int:
    return 2 * p.seg_out.dim * p.triples if p.weight is not None else 0


def block_merges_x2(d: Descriptor) -> bool:
    """Whether ``block`` couples each ``x1`` block with the whole ``x2`` at once (:func:`block_groups`):
    in products without weights whose ``x2`` has one channel per block (the edge harmonics), one
    group per ``x1`` block instead of per input pair; the extra rows of ``x2`` multiply once per row,
    not per channel. On jax (CPU, per edge under ``vmap``, 720 edges, float32) the full product of
    ``16x0e + 8x1o + 8x2e`` and of ``32x0e + 32x1o + 32x2e`` with the harmonics to L = 2, 3 (outputs
    to l = 2), as e3nn-jax's message passing calls it, ran 2.2x and 1.9x e3nn-jax forward and 1.7x
    and 2.1x forward+backward so; per input pair 1.1x and 0.8x, 1.1x and 1.2x."""
    return bool(d.paths) and all(p.weight is None and p.seg2.mul == 1 and p.connection.pairing == "uv" for p in d.paths)


def block_groups(d: Descriptor) -> list[list[SegmentPath]]:
    """The paths ``block`` couples in one contraction, in order: those sharing an input pair (and
    pairing, mode, weighting, output multiplicity), or an ``x1`` block where :func:`block_merges_x2`."""
    merged = block_merges_x2(d)
    groups: dict[tuple, list] = {}
    for p in d.paths:
        key = (p.in1, None if merged else p.in2, p.connection.pairing, p.mode, p.weight is not None, p.seg_out.mul)
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def _block_x2_dim(d: Descriptor, p: SegmentPath) -> int:
    """Rows of ``x2`` in the coupling of ``p``'s group: its block, or all of ``x2`` (:func:`block_merges_x2`)."""
    return d.dims[1] if block_merges_x2(d) else p.seg2.dim


def _block_coupling_flops(d: Descriptor) -> int:
    """Coupling FLOPs of the ``block`` strategy: one contraction per group of paths (:func:`block_groups`)."""
    total = 0
    for paths in block_groups(d):
        p0 = paths[0]
        u, v, d1, d2 = p0.seg1.mul, p0.seg2.mul, p0.seg1.dim, _block_x2_dim(d, p0)
        K = sum(p.seg_out.dim for p in paths)
        if p0.connection.pairing != "uv":
            total += 2 * _pairs(p0) * d1 * d2 * (1 + K)
        else:
            total += 2 * min(u * v * d1 * d2 * (1 + K), v * d2 * d1 * K + u * v * d1 * K, u * d1 * d2 * K + u * v * d2 * K)
    return total


def flops(d: Descriptor) -> dict[str, int]:
    """FLOPs per sample (row) of each modelled strategy (see :data:`MODEL_STRATEGIES`)."""
    spec = d.spec
    if spec.variant == "cgtp":
        weights = sum(_weight_flops(p) for p in d.paths)
        d1, d2, dout = d.dims
        return {
            "block": _block_coupling_flops(d) + weights,
            "folded": _folded_flops(d),
            "dense": sum(2 * p.seg1.dim * p.seg2.dim * p.seg_out.dim * _pairs(p) for p in d.paths) + weights,
            "sparse": sum(2 * p.coupling.nnz * _pairs(p) for p in d.paths) + weights,
            "fused": 4 * fused_terms(d),
        }
    return channelwise_flops(spec.variant, spec.irreps_in1, spec.irreps_in2, spec.irreps_out, spec.channels)


def auto_strategy(
    d: Descriptor, backend: str | None = None, device: str | None = None, *,
    per_sample: bool = False, folded_limit: int | None = None,
) -> str:  # fmt: skip
    """The cgtp strategy ``auto`` runs for a descriptor, by its shape, the backend and the device type.

    ``device`` is the type of device that runs it (``"cpu"``, the default, or ``"cuda"``);
    ``per_sample`` asks for the program of per-sample weights, which ``folded`` cannot fold;
    ``folded_limit`` caps :func:`folded_bytes` where the rule may take ``folded`` (the plan's limit,
    :func:`tpcore.plan.folded_max_bytes`).

    On a CPU, measured forward+backward against e3nn in torch on one thread, 1000 rows, with the
    allocator in its steady state (:func:`tpcore.report.timing.steady_allocator`), on e3nn's fully
    connected layer (8, 16, 32 channels on both inputs; 8 channels with the edge harmonics), MACE's
    convolution (16, 32, 128 channels, per-edge weights), the full product and the channel-wise
    ``uuu`` product at L = 1..3 (``scripts/strategy_sweep.py``; docs/results/sweep-cpu-torch.txt):

    - a product without weights folds into one constant matrix, one GEMM of ``x1 (x) x2``
      (``folded``): the full product at L = 2, 3 ran 3.5x and 2.3x e3nn, ``fused`` 2.4x and 1.7x
      (at L = 1 2.7x against 2.9x); up to :data:`FOLDED_AUTO_MAX_BYTES_CPU` of its tables (the full
      product to L = 3);
    - ``fused`` was the fastest where it has few terms and no path mixes channels into every output
      channel (``uuu`` at L = 1, 2: 2.0-2.1x e3nn, ``block`` 0.6-1.0x; MACE's convolution at 16 and
      32 channels, L = 1: 1.05-1.26x, ``block`` 0.9x), and lost above (MACE's convolution at 16
      channels, L = 2, 944 terms: 0.97x, ``block`` 1.19x): its gathers cost per term and row, again
      in its backward (:mod:`tpcore_torch.fused` keeps only its inputs), and a ``w`` output repeats
      every product once per output channel (e3nn's layer with the edge harmonics at L = 1: 0.4x);
      :data:`FUSED_AUTO_MAX_TERMS`, and :data:`FUSED_AUTO_MAX_TERMS_EDGE` with one channel per block
      of the second input;
    - ``folded`` for weighted products with the edge harmonics, small tables: e3nn's layer with the
      edge harmonics at L = 1, 2 ran 1.6x and 1.2x (``block`` 1.0x, 1.0x; at 2.5 MiB, L = 3, 0.9x
      against 1.2x; jax at L = 1, 2: 1.30x and 1.22x e3nn-jax, ``block`` 0.97x and 0.98x); with
      several channels on both inputs it lost to ``dense`` even with small tables (8 channels at
      L = 1: 1.30x against 1.55x; jax 0.54x against 1.04x);
    - MACE's convolution past ``fused``'s terms: ``block`` at 16 and 32 channels (1.2-1.3x; its one
      coupling per input pair is shared by every path of the pair), ``dense`` from
      :data:`DENSE_AUTO_MIN_CHANNELS` (128 channels at L = 2, 3: 1.6x and 1.8x, ``block`` 1.4x and
      1.5x; per-path GEMMs of 128 rows);
    - several channels on both inputs: ``dense`` at every L (1.5-3.8x; 0.9-1.0x at L = 2, where e3nn
      itself reaches 8-45% of the matmul peak), ``block`` 0.3-1.5x;
    - past ``fused``'s terms, the channel-wise ``uuu`` (shared weights or none) folds per channel
      (``folded``, :attr:`~tpcore.descriptor.Descriptor.per_channel_dims`: one batched GEMM of the
      per-channel outer products, whatever the number of paths): 2.2-3.3x e3nn forward and
      1.5-2.2x forward+backward at L = 3..6, where ``block`` ran 1.1-1.7x and 1.1-1.3x; without
      weights alike (2.1-2.6x at L = 3, 4, ``block`` 1.0-1.1x), and there too only past ``fused``'s
      terms (at L = 1 ``fused`` 2.3x, ``folded`` 0.75x; the first rule folds the other products
      without weights first). On jax 2.3-4.9x e3nn-jax forward and 0.98-1.26x forward+backward at
      L = 1..4 where ``block`` ran 1.1-1.3x and 0.74-0.94x; from L = 5 XLA's reverse of the batched
      GEMM fell behind ``block``'s (1.13x and 1.05x against 1.20x and 1.25x), so jax folds up to
      :data:`FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX` (L = 4 on 8 channels). With per-sample weights
      it runs ``block`` (``dense`` chains contractions per path: 0.7x at L = 3).

    ``sparse`` was the fastest nowhere in torch on a CPU (in jax it was on ``uuu`` and the 8-channel
    fully connected layer at L = 1, 2.1x and 1.9x e3nn-jax, and lost at L = 3: not in the rule).

    On ``backend="jax"`` the rule takes no ``fused``: XLA's CPU gathers and scatter-adds made it
    0.2-0.6x e3nn-jax forward+backward where torch ran it at 1.3-2.5x (uuu at L = 2, 3, MACE's
    convolution at 16 channels L = 2, the full product at L = 3), below ``dense`` and ``block``
    (0.6-1.3x) on each. It folds products without weights while the fold multiplies at most
    :data:`FOLDED_AUTO_MAX_FLOPS_RATIO_JAX` times ``block``'s FLOPs (the full product of ``1x(0..L)``
    ran 1.95x and 3.45x e3nn-jax forward+backward folded at L = 1, 2, ``block`` 1.64x and 2.75x, at
    FLOP ratios 1.6 and 2.5; at L = 3, ratio 3.3, ``block`` 2.92x against 2.27x; products with
    channels, as in e3nn-jax's networks, fold the outer product of all channels: ``16x0e`` by itself
    folded ran 0.66x, ``block`` 1.81x, at ratio 241), and weighted ones with the edge harmonics as
    torch does, and keeps ``block`` for MACE's convolution at 128 channels (``dense`` there is
    measured in torch only).

    On ``device="cuda"`` (measured the same way in torch on an H200, 3000 rows, on the shapes of
    ``tpcore compare``, where every call is a few kernel launches and the launches dominate):

    - ``fused`` (7 kernels whatever the paths) was the fastest or within 1.25x of it on every
      convolution, ``uuu`` and full-product shape, up to 17000 terms (MACE's convolution at 128
      channels, L = 3: 2.1x e3nn, ``block`` 0.85x), so up to :data:`FUSED_AUTO_MAX_TERMS_CUDA`
      without ``w`` outputs;
    - then ``folded`` (one GEMM of the outer product ``x1 (x) x2`` with the folded weights) up to
      :data:`FOLDED_AUTO_MAX_BYTES_CUDA`: 2.7-8.9x e3nn on the fully connected layers up to 31 MiB;
      1.9x at 161 MiB where ``block`` was 1.7x, and 0.8x at 245 MiB where ``block`` was 1.4x;
    - else ``block`` (1.4-1.7x), never ``dense`` (0.7-1.3x: a chain of launches per path).

    jax keeps its CPU rule on a GPU: there ``fused`` ran 0.01-0.96x e3nn-jax and ``folded``
    0.26-1.5x, where ``dense`` and ``block`` ran 0.6-1.4x.
    """
    no_w_output = all(p.connection.output != "w" for p in d.paths)
    if device == "cuda" and backend != "jax":
        if no_w_output and fused_terms(d) <= FUSED_AUTO_MAX_TERMS_CUDA:
            return "fused"
        limit = FOLDED_AUTO_MAX_BYTES_CUDA if folded_limit is None else min(folded_limit, FOLDED_AUTO_MAX_BYTES_CUDA)
        return "folded" if not per_sample and folded_bytes(d) <= limit else "block"
    edge = all(p.seg2.mul == 1 for p in d.paths)  # one channel per block of x2: the edge harmonics
    limit = FOLDED_AUTO_MAX_BYTES_CPU if folded_limit is None else min(folded_limit, FOLDED_AUTO_MAX_BYTES_CPU)
    foldable = not per_sample and folded_bytes(d) <= limit
    if foldable and not d.weighted_paths and d.per_channel_dims is None:
        if backend != "jax" or _folded_flops(d) <= FOLDED_AUTO_MAX_FLOPS_RATIO_JAX * _block_coupling_flops(d):
            return "folded"
        foldable = False  # the fold multiplies mostly zeros: block below
    terms = FUSED_AUTO_MAX_TERMS_EDGE if edge else FUSED_AUTO_MAX_TERMS
    if backend != "jax" and no_w_output and fused_terms(d) <= terms:
        return "fused"
    if d.per_channel_dims is not None and not per_sample:
        jax_cap = FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX if backend == "jax" else inf
        if folded_bytes(d) <= min(jax_cap, inf if folded_limit is None else folded_limit):
            return "folded"
    if foldable and edge:
        return "folded"
    if backend != "jax" and edge and no_w_output and min(p.seg1.mul for p in d.paths) >= DENSE_AUTO_MIN_CHANNELS:
        return "dense"
    if no_w_output or edge:
        return "block"
    return "dense"


#: ``auto`` takes ``fused`` up to this many terms (:func:`fused_terms`) on a CPU
FUSED_AUTO_MAX_TERMS = 1024
#: ... and up to this many where the second input has one channel per block (the edge harmonics)
FUSED_AUTO_MAX_TERMS_EDGE = 512
#: ``auto`` on a CPU takes ``dense`` over ``block`` for a convolution with the edge harmonics (no
#: ``w`` output) from this many channels of ``x1``
DENSE_AUTO_MIN_CHANNELS = 128
#: ``auto`` on a CPU takes ``folded`` for weighted products up to this many bytes of :func:`folded_bytes`
FOLDED_AUTO_MAX_BYTES_CPU = 2**20
#: ``auto`` on jax folds a product per channel (``uuu`` paths) up to this many bytes of :func:`folded_bytes`
FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX = 2 * 2**20
#: ``auto`` on jax folds a product without weights while :func:`flops` of ``folded`` are at most
#: this many times ``block``'s (a fold of channels multiplies mostly zeros)
FOLDED_AUTO_MAX_FLOPS_RATIO_JAX = 3
#: ``auto`` takes ``fused`` up to this many terms on a CUDA device
FUSED_AUTO_MAX_TERMS_CUDA = 20_000
#: ``auto`` on a CUDA device takes ``folded`` up to this many bytes of :func:`folded_bytes`
FOLDED_AUTO_MAX_BYTES_CUDA = 128 * 2**20


def folded_matrix_size(d: Descriptor) -> int:
    """Entries of ``folded``'s matrix: ``dim1 dim2 dim_out``, or ``u e1 e2 e_out`` folded per channel
    (a product of ``uuu`` paths on one multiplicity, :attr:`~tpcore.descriptor.Descriptor.per_channel_dims`)."""
    if d.per_channel_dims is not None:
        return int(np.prod(d.per_channel_dims))
    return int(np.prod(d.dims))


def _folded_flops(d: Descriptor) -> int:
    """``folded`` per row: the outer product (one multiply per entry) and its GEMM with the matrix."""
    if not d.paths:
        return 0
    if d.per_channel_dims is not None:
        u, e1, e2, eo = d.per_channel_dims
        return u * (2 * eo + 1) * e1 * e2
    d1, d2, dout = d.dims
    return (2 * dout + 1) * d1 * d2


def folded_bytes(d: Descriptor) -> int:
    """Bytes the ``folded`` strategy allocates besides the batch, estimated before allocating.

    Its dense matrix (:func:`folded_matrix_size`) in float64, once as the constant part of the paths
    without weights and once more as the matrix rebuilt from the weights on each call; and for
    every nonzero CG entry of a weighted path times its channel triples ``(u, v, w)``, the weight
    index, the target position and the CG value (8 bytes each) of the scatter.
    """
    dense = 8 * folded_matrix_size(d)
    weighted = d.weighted_paths
    scatter = sum(24 * p.coupling.nnz * p.triples for p in weighted)
    return dense * ((len(weighted) < len(d.paths)) + bool(weighted)) + scatter


def fused_terms(d: Descriptor) -> int:
    """Terms of the ``fused`` strategy: every nonzero coupling entry of every path times its channel triples."""
    return sum(p.coupling.nnz * p.triples for p in d.paths)


def per_call_flops(d: Descriptor) -> dict[str, int]:
    """FLOPs per call that do not grow with the rows: ``folded``'s fold of the shared weights."""
    fold = sum(2 * p.coupling.nnz * p.triples for p in d.weighted_paths)
    return {"folded": fold} if d.variant == "cgtp" else {}


def _dims(irreps_in1, irreps_in2, irreps_out) -> tuple[int, int, int]:
    """Per-channel dimensions ``sum(2l+1)`` of a channel-wise product's inputs and output."""
    return tuple(sum(ir.dim for _, ir in irreps) for irreps in (irreps_in1, irreps_in2, irreps_out))


def _rfft_flops(n: int) -> float:
    return 2.5 * n * log2(max(n, 2))


def _gtp_kept(L: int, irreps_out) -> int:
    """Fourier positions the gtp plan maps back to the output (half the spectrum the output reaches)."""
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


def coefficient_bytes(d: Descriptor, itemsize: int = 8) -> dict[str, int]:
    """Bytes of the float coefficient tables of each modelled strategy, at ``itemsize`` per float."""
    spec = d.spec
    if spec.variant == "cgtp":
        dense = sum(p.seg1.dim * p.seg2.dim * p.seg_out.dim for p in d.paths) * itemsize
        # block stacks the same CG tensors per group (with all of x2's rows where it merges x2);
        # sparse keeps only the nonzero values
        block = sum(p.seg1.dim * _block_x2_dim(d, p) * p.seg_out.dim for p in d.paths) * itemsize
        tables = {"block": block, "dense": dense, "sparse": sum(p.coupling.nnz for p in d.paths) * itemsize,
                  "fused": fused_terms(d) * itemsize}  # fmt: skip
        return {"block": block, "folded": _folded_bytes(d, tables[auto_strategy(d, per_sample=True)], itemsize)} | tables
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


def channelwise_tables(spec, strategy: str) -> dict[str, int]:
    """Bytes of the float64 (complex128) tables a gtp, s2grid or mtp plan computes, by table, from
    the degrees alone, before anything is allocated (the plan keeps fewer: these are what it builds
    them from). They grow as ``L^4`` (gtp, s2grid) and ``L^6`` (mtp) and do not depend on the channels.

    gtp: the Fourier coefficients of the spherical harmonics up to each operand's degree,
    ``(L+1)^2 (2L+1)^2`` complex, and the projection from the product's ``2(L1+L2)+1``-square
    spectrum to the output; s2grid: every degree's harmonics up to each operand's ``lmax`` on the
    grid, and the operand's own columns; mtp: the ``(n, n, dim)`` embedding of each operand.
    Computing gtp's Fourier coefficients takes about twice their size for a moment (an FFT of real samples).
    """
    irreps = (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
    L1, L2, Lo = (i.lmax for i in irreps)
    if spec.variant == "gtp":
        tables = {f"the spherical harmonics' Fourier coefficients up to l = {L}": 16 * (L + 1) ** 2 * (2 * L + 1) ** 2
                  for L in sorted({L1, L2, Lo})}
        N = 2 * (L1 + L2) + 1
        tables[f"the projection of the {N}x{N} product spectrum onto l <= {Lo}"] = 16 * N * N * (Lo + 1) ** 2
        if strategy == "direct":
            tables["the direct convolution's shift tensor"] = 8 * (2 * L1 + 1) * (2 * L2 + 1) * N
        return tables
    if spec.variant == "s2grid":
        res_beta, res_alpha = so3.s2_grid_for_degree(L1 + L2 + Lo)
        G = res_beta * res_alpha
        return {f"{name}'s spherical harmonics on the {res_beta}x{res_alpha} grid (l <= {i.lmax})":
                8 * G * ((i.lmax + 1) ** 2 + sum(ir.dim for _, ir in i))
                for name, i in zip(("irreps_in1", "irreps_in2", "irreps_out"), irreps)}  # fmt: skip
    if spec.variant == "mtp":  # one embedding per distinct list of degrees (cached)
        n = (mtp_degree(L1, L2) + 1) ** 2
        dims = {tuple(ir.l for _, ir in i): sum(ir.dim for _, ir in i) for i in irreps}
        return {f"the ({n}, {n}, {dim}) matrix embedding of degrees {list(ls)}": 8 * n * n * dim for ls, dim in dims.items()}
    raise ValueError(f"variant must be one of gtp, s2grid, mtp; got {spec.variant!r}")


def _folded_bytes(d: Descriptor, per_sample: int, itemsize: int) -> int:
    """folded: the CG value of each (weight, entry) pair, the dense part of the unweighted paths,
    and (with weights) the tables of the program ``auto`` picks for per-sample weights (``per_sample`` bytes)."""
    weighted = d.weighted_paths
    values = sum(p.coupling.nnz * p.triples for p in weighted) * itemsize
    constant = folded_matrix_size(d) * itemsize
    return values + (constant if len(weighted) < len(d.paths) else 0) + (per_sample if weighted else 0)


__all__ = ["DENSE_AUTO_MIN_CHANNELS", "FOLDED_AUTO_MAX_BYTES_CPU", "FOLDED_AUTO_MAX_BYTES_CUDA", "FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX", "FUSED_AUTO_MAX_TERMS", "FUSED_AUTO_MAX_TERMS_CUDA",
           "FUSED_AUTO_MAX_TERMS_EDGE", "MODEL_STRATEGIES", "auto_strategy", "channelwise_flops", "channelwise_tables", "coefficient_bytes", "flops", "folded_bytes", "folded_matrix_size", "fused_terms",
           "per_call_flops"]
