"""The path-level descriptor: a complete description of the product (checked against the oracle), and its cost model."""

import numpy as np
import pytest

from tpcore import TensorProductSpec
from tpcore.cgtp_paths import channel_triples
from tpcore.cost import flops, folded_matrix_size, per_call_flops
from tpcore.descriptor import describe
from tpcore.reference import oracle

SPECS = [
    TensorProductSpec.cgtp("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x2e", "2x0e + 2x1o + 2x1e + 1x2e", mode="uvw"),
    TensorProductSpec.cgtp("3x0e + 3x1o", "1x0e + 1x1o + 1x2e", "3x0e + 3x1o + 3x1e + 3x2e", mode="uvu"),
    TensorProductSpec.cgtp("2x1o + 3x0e", "2x1o + 3x0e", "2x1e + 3x0e", mode="uuu"),
    TensorProductSpec.cgtp("3x1o", "3x1o", "3x1e", mode="uvu<v"),
    TensorProductSpec.cgtp("1x0e + 1x1o", "1x0e + 1x1o", None, mode="uvuv"),
    TensorProductSpec.gtp("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e", weighted=True),
    TensorProductSpec.mtp("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e", weighted=False),
]


def _from_descriptor(spec, x1, x2, w):
    """The product summed straight from the descriptor: segments, channel triples, sparse couplings, weights."""
    d = describe(spec)
    Z = len(x1)
    out = np.zeros((Z, spec.irreps_out.dim))
    if d.degree_weights is not None:  # channel-wise: per-channel, per-degree scales of x1, x2 and the output
        scales = [w[..., s.start : s.stop].reshape(s.shape) for s in d.degree_weights]
        x1, x2 = x1.copy(), x2.copy()
        for x, operand, scale in ((x1, d.in1, scales[0]), (x2, d.in2, scales[1])):
            for n, seg in enumerate(operand):
                x[:, seg.start : seg.stop] *= np.repeat(scale[:, n], seg.dim)
    for p in d.paths:
        a = x1[:, p.seg1.start : p.seg1.stop].reshape(Z, p.seg1.mul, p.seg1.dim)
        b = x2[:, p.seg2.start : p.seg2.stop].reshape(Z, p.seg2.mul, p.seg2.dim)
        u, v, o, local = channel_triples(p.mode, p.seg1.mul, p.seg2.mul, p.seg_out.mul)
        W = np.ones(len(u)) if p.weight is None else w[p.weight.start + local]
        c = p.coupling
        for t in range(len(u)):
            term = W[t] * c.values * a[:, u[t], c.i] * b[:, v[t], c.j]  # (Z, nnz)
            cols = p.seg_out.start + o[t] * p.seg_out.dim + c.k
            np.add.at(out, (slice(None), cols), term)
    if d.degree_weights is not None:
        scale = w[..., d.degree_weights[2].start : d.degree_weights[2].stop].reshape(d.degree_weights[2].shape)
        for n, seg in enumerate(d.out):
            out[:, seg.start : seg.stop] *= np.repeat(scale[:, n], seg.dim)
    return out


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_the_descriptor_alone_computes_the_product(spec):
    """Everything a kernel needs is in the descriptor: summing it reproduces the definition-level oracle."""
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((4, spec.irreps_in1.dim))
    x2 = rng.standard_normal((4, spec.irreps_in2.dim))
    w = rng.standard_normal(spec.weight_numel) if spec.weight_numel else None
    np.testing.assert_allclose(_from_descriptor(spec, x1, x2, w), oracle(spec, x1, x2, w), atol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_segments_tile_each_operand(spec):
    d = describe(spec)
    for operand, irreps in ((d.in1, spec.irreps_in1), (d.in2, spec.irreps_in2), (d.out, spec.irreps_out)):
        assert [s.start for s in operand] == [0] + [s.stop for s in operand[:-1]]
        assert operand[-1].stop == irreps.dim
    weights = sorted((p.weight.start, p.weight.stop) for p in d.weighted_paths)
    assert all(a[1] == b[0] for a, b in zip(weights, weights[1:]))


def test_paths_that_multiply_no_channel_are_dropped_and_keep_the_weight_layout():
    spec = TensorProductSpec.cgtp("2x0e + 0x1o", "1x0e + 1x1o", "2x0e + 2x1o", mode="uvw")
    d = describe(spec)
    assert len(spec.paths) == 4 and len(d.paths) == 2  # the two paths from 0x1o go
    assert [p.weight.start for p in d.paths] == [p.weight_start for p in spec.paths if p.mul_in1]
    assert d.weight_numel == spec.weight_numel


def test_coupling_keeps_the_nonzero_entries_only():
    # 1o x 1o -> 0e: wigner_3j(1, 1, 0) = delta_ij / sqrt(3), three entries
    spec = TensorProductSpec.cgtp("1x1o", "1x1o", "1x0e", mode="uvw", path_normalization="none", irrep_normalization="none")
    (p,) = describe(spec).paths
    assert p.coupling.shape == (3, 3, 1) and p.coupling.nnz == 3
    np.testing.assert_allclose(np.sort(np.abs(p.coupling.values)), np.full(3, 1 / np.sqrt(3)), atol=1e-15)


def test_flops_count_by_hand():
    """1x1o (x) 1x1o -> 1x0e, uvw with one weight: dense 2*3*3*1 + 2, sparse 2*3 + 2, folded (2*1+1)*3*3."""
    spec = TensorProductSpec.cgtp("1x1o", "1x1o", "1x0e", mode="uvw")
    costs = flops(describe(spec))
    assert costs["dense"] == 2 * 3 * 3 * 1 + 2
    assert costs["sparse"] == 2 * 3 + 2
    assert costs["folded"] == 3 * 3 * 3
    # the fold scatters each weighted coupling entry once per channel triple: 3 entries x 1 triple
    assert per_call_flops(describe(spec)) == {"folded": 2 * 3}


def test_descriptor_is_cached_per_spec():
    spec = SPECS[0]
    assert describe(spec) is describe(TensorProductSpec.cgtp(spec.irreps_in1, spec.irreps_in2, spec.irreps_out, mode="uvw"))


def test_a_product_of_uuu_paths_on_one_multiplicity_is_one_product_per_channel():
    """``per_channel_dims``: ``(u, e1, e2, e_out)`` with ``e = sum(2l+1)`` over the segments, only when
    every path is ``uuu`` and every segment of the three operands has the same multiplicity."""
    uuu = TensorProductSpec.cgtp("4x0e + 4x1o + 4x2e", "4x0e + 4x1o", "4x0e + 4x1o + 4x1e + 4x2e", mode="uuu")
    assert describe(uuu).per_channel_dims == (4, 1 + 3 + 5, 1 + 3, 1 + 3 + 3 + 5)
    assert describe(SPECS[2]).per_channel_dims is None  # uuu, but 2 and 3 channels
    assert describe(SPECS[0]).per_channel_dims is None  # uvw
    mixed = TensorProductSpec.cgtp("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o",
                                   instructions=[(0, 0, 0, "uuu", True), (1, 1, 0, "uvu", True)])
    assert describe(mixed).per_channel_dims is None


def test_folded_per_channel_counts_by_hand():
    """4x(0e + 1o) twice into 4x(0e + 1o), uuu: per channel 4 x 4 outer-product entries (one
    multiply each) times a 16 x 4 matrix (2 * 4 each): 4 * 16 * 9 per row; the dense matrix of the
    other folds would be (16 * 16, 16), ``u^2`` times the work."""
    spec = TensorProductSpec.cgtp("4x0e + 4x1o", "4x0e + 4x1o", "4x0e + 4x1o", mode="uuu")
    assert flops(describe(spec))["folded"] == 4 * 16 * 9
    assert folded_matrix_size(describe(spec)) == 4 * 16 * 4 == (16 * 16 * 16) // 4**2
