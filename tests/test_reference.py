"""The plan-based reference against the definition-level oracle, identities and O(3) symmetry."""

import numpy as np
import pytest

from tpcore import TensorProductSpec, s2_irreps, so3
from tpcore.reference import oracle, reference

TOL = 1e-10


def _close(a, b, tol=TOL):
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    assert a.shape == b.shape
    assert np.max(np.abs(a - b), initial=0.0) <= tol * scale, np.max(np.abs(a - b))


CGTP_CASES = [
    ("uvw", "2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x1e", "2x0e + 1x1o + 2x1e + 1x2e + 1x2o"),
    ("uvu", "2x0o + 2x1e + 2x2o", "1x0e + 2x1o", "2x0o + 2x1o + 2x1e + 2x2e + 2x3e"),
    ("uuw", "2x0e + 2x1o", "2x0e + 2x1o", "3x0e + 1x1o + 2x1e + 1x2e"),
    ("uuu", "2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x1e + 2x2e + 2x3o"),
    ("uvuv", "2x0e + 1x1o", "2x1o + 1x2e", "4x1o + 2x0e + 2x1e + 2x2e + 1x1o + 1x2o + 1x3o + 2x2o + 2x1o"),
]

CHANNELWISE_CASES = [
    ("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e + 2x3o"),
    ("1x0o + 1x1e + 1x2o", "1x0e + 1x1o + 1x2e", "1x0o + 1x1e + 1x2o + 1x3e + 1x4o"),
    ("3x1o + 3x3o", "3x0e + 3x2e", "3x1o + 3x2e + 3x5o"),  # degrees may be skipped
]


def _specs():
    for mode, a, b, c in CGTP_CASES:
        yield TensorProductSpec.cgtp(a, b, c, mode=mode)
    for variant in ("gtp", "s2grid", "mtp"):
        for a, b, c in CHANNELWISE_CASES:
            for weighted in (False, True):
                yield getattr(TensorProductSpec, variant)(a, b, c, weighted=weighted)


SPECS = list(_specs())


def _inputs(spec, rng, batch=(4,), per_sample=False):
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,))
    w = None
    if spec.weight_numel:
        w = rng.normal(size=(batch if per_sample else ()) + (spec.weight_numel,))
    return x1, x2, w


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_reference_equals_oracle(spec):
    rng = np.random.default_rng(0)
    x1, x2, w = _inputs(spec, rng)
    _close(reference(spec, x1, x2, w), oracle(spec, x1, x2, w))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.weight_numel], ids=str)
def test_per_sample_weights_equal_oracle(spec):
    rng = np.random.default_rng(1)
    x1, x2, w = _inputs(spec, rng, batch=(3,), per_sample=True)
    got = reference(spec, x1, x2, w)
    _close(got, oracle(spec, x1, x2, w))
    for z in range(3):  # one weight vector per sample == calling each sample with its own weights
        _close(got[z], reference(spec, x1[z], x2[z], w[z]))


@pytest.mark.parametrize("strategy", ["fft", "direct"])
def test_gtp_strategies_equal_oracle(strategy):
    from tpcore.execute import ArrayOps, PlanFunction

    spec = TensorProductSpec.gtp(*CHANNELWISE_CASES[0])
    rng = np.random.default_rng(2)
    x1, x2, _ = _inputs(spec, rng)
    _close(PlanFunction(spec, ArrayOps(np), "float64", strategy)(x1, x2), oracle(spec, x1, x2))


def _random_o3(rng, improper):
    R = so3.rand_matrix(rng=rng)
    return -R if improper else R


# mtp ignores parity: it is checked under rotations only (its inversion failure is tested below)
@pytest.mark.parametrize(
    "spec, improper", [(s, imp) for s in SPECS for imp in (False, True) if s.o3_equivariant or not imp], ids=str
)
def test_equivariance(spec, improper):
    rng = np.random.default_rng(3)
    x1, x2, w = _inputs(spec, rng)
    R = _random_o3(rng, improper)
    D1, D2, Dout = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
    _close(reference(spec, x1 @ D1.T, x2 @ D2.T, w), reference(spec, x1, x2, w) @ Dout.T)


def test_mtp_is_not_inversion_equivariant():
    spec = TensorProductSpec.mtp("1x0e + 1x1o", "1x0e + 1x1o", "1x0e + 1x1o + 1x2e")
    rng = np.random.default_rng(4)
    x1, x2, _ = _inputs(spec, rng)
    R = -np.eye(3)
    D1, D2, Dout = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
    assert np.max(np.abs(reference(spec, x1 @ D1.T, x2 @ D2.T) - reference(spec, x1, x2) @ Dout.T)) > 1e-3


@pytest.mark.parametrize("L1, L2, Lout", [(2, 2, 4), (3, 1, 3), (4, 3, 5)])
def test_gtp_equals_s2grid_equals_cgtp_with_gaunt_weights(L1, L2, Lout):
    C = 2
    a, b, c = s2_irreps(L1, mul=C), s2_irreps(L2, mul=C), s2_irreps(Lout, mul=C)
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=(6, a.dim))
    x2 = rng.normal(size=(6, b.dim))
    gtp = reference(TensorProductSpec.gtp(a, b, c), x1, x2)
    s2 = reference(TensorProductSpec.s2grid(a, b, c), x1, x2)
    instructions = [
        (i1, i2, io, "uuu", True)
        for i1, (_, ir1) in enumerate(a)
        for i2, (_, ir2) in enumerate(b)
        for io, (_, ir3) in enumerate(c)
        if ir3 in ir1 * ir2 and (ir1.l + ir2.l + ir3.l) % 2 == 0
    ]
    cg = TensorProductSpec.cgtp(a, b, c, instructions=instructions, irrep_normalization="none", path_normalization="none")
    w = np.concatenate([np.full(C, so3.gaunt_factor(p.ir_in1.l, p.ir_in2.l, p.ir_out.l)) for p in cg.paths])
    _close(gtp, s2)
    _close(s2, reference(cg, x1, x2, w))


def test_gaunt_product_of_constants_and_vectors():
    # f1 = 1 (Y_00 = 1) times f2 = x2 . Y gives back x2: out = (1/4pi) integral of Y Y_lm = delta.
    spec = TensorProductSpec.s2grid("1x0e", s2_irreps(2), s2_irreps(2))
    x2 = np.random.default_rng(6).normal(size=(3, 9))
    _close(reference(spec, np.ones((3, 1)), x2), x2)


@pytest.mark.parametrize("batch", [(), (0,), (3,), (2, 3)])
def test_batch_shapes(batch):
    spec = SPECS[0]
    rng = np.random.default_rng(7)
    x1, x2, w = _inputs(spec, rng, batch=batch)
    out = reference(spec, x1, x2, w)
    assert out.shape == batch + (spec.irreps_out.dim,)
    _close(out, oracle(spec, x1, x2, w))


def test_broadcast_batch_shapes():
    spec = SPECS[0]
    rng = np.random.default_rng(8)
    x1 = rng.normal(size=(2, 1, spec.irreps_in1.dim))
    x2 = rng.normal(size=(3, spec.irreps_in2.dim))
    w = rng.normal(size=(spec.weight_numel,))
    out = reference(spec, x1, x2, w)
    assert out.shape == (2, 3, spec.irreps_out.dim)
    _close(out[1, 2], reference(spec, x1[1, 0], x2[2], w))


def test_bilinearity():
    spec = SPECS[0]
    rng = np.random.default_rng(9)
    x1, x2, w = _inputs(spec, rng)
    y1 = rng.normal(size=x1.shape)
    _close(reference(spec, 2 * x1 + y1, x2, w), 2 * reference(spec, x1, x2, w) + reference(spec, y1, x2, w))


def test_bad_calls_raise_clear_errors():
    spec = TensorProductSpec.cgtp("2x0e + 1x1o + 1x2e", "1x0e", "1x0e")
    with pytest.raises(ValueError, match=r'x1 has last dimension 12, but irreps_in1 "2x0e\+1x1o\+1x2e" has dimension 10'):
        reference(spec, np.zeros((3, 12)), np.zeros((3, 1)), np.zeros(spec.weight_numel))
    with pytest.raises(ValueError, match="weights are required"):
        reference(spec, np.zeros((3, 10)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"weights have shape \(5,\)"):
        reference(spec, np.zeros((3, 10)), np.zeros((3, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="do not broadcast"):
        reference(spec, np.zeros((3, 10)), np.zeros((4, 1)), np.zeros(spec.weight_numel))
    with pytest.raises(ValueError, match="has no weights"):
        reference(TensorProductSpec.s2grid("1x0e", "1x0e", "1x0e"), np.zeros((1, 1)), np.zeros((1, 1)), np.ones(3))
