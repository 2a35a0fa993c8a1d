"""e3nn's connection modes uvv, uvu<v, u<vw and the per-block variances, without e3nn.

Expected values come from the definition-level oracle (tpcore.reference.oracle, explicit loops over
channels) and from identities (cross products, sums over channels); tests/test_cgtp_e3nn.py checks
the same against e3nn itself.
"""

import dataclasses

import numpy as np
import pytest
from test_autodiff import run

from tpcore import TensorProductSpec, so3
from tpcore.analysis.flops import coefficient_bytes, flops, plan_coefficient_bytes
from tpcore.autodiff import ProgramVJP, VJPOps
from tpcore.cgtp_paths import MODES, channel_triples
from tpcore.execute import ArrayOps, PlanFunction
from tpcore.plan import STRATEGIES, lower
from tpcore.program import resolve
from tpcore.reference import oracle, reference
from tpcore.testing.catalogue import CASES_BY_ID

TOL = 1e-10
NEW_CASES = ["cgtp_uvv", "cgtp_uvu_lt_v", "cgtp_u_lt_vw", "cgtp_mixed_modes_variances"]
CGTP_STRATEGIES = [s for s in STRATEGIES["cgtp"] if s != "auto"]


def _close(got, expected):
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected), initial=0.0) <= TOL * max(1.0, float(np.max(np.abs(expected))))


def _inputs(spec, rng, batch=(4,), per_sample=False):
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,))
    w = rng.normal(size=(batch if per_sample else ()) + (spec.weight_numel,)) if spec.weight_numel else None
    return x1, x2, w


@pytest.mark.parametrize("case", NEW_CASES)
@pytest.mark.parametrize("strategy", CGTP_STRATEGIES)
@pytest.mark.parametrize("per_sample", [False, True], ids=["shared", "per_sample"])
def test_every_strategy_equals_the_oracle(case, strategy, per_sample):
    spec = CASES_BY_ID[case].spec
    x1, x2, w = _inputs(spec, np.random.default_rng(0), per_sample=per_sample)
    _close(PlanFunction(spec, ArrayOps(np), "float64", strategy)(x1, x2, w), oracle(spec, x1, x2, w))


@pytest.mark.parametrize("mode", ["uvv", "uvu<v", "u<vw"])
def test_the_folded_program_itself_handles_per_sample_weights(mode):
    """Folding per-sample weights (one matrix per sample) is right too, values and gradients."""
    spec = TensorProductSpec.cgtp("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e", mode=mode)
    plan = dataclasses.replace(lower(spec, "folded"), per_sample_ops=None)
    rng = np.random.default_rng(1)
    x1, x2, w = _inputs(spec, rng, batch=(3,), per_sample=True)
    _close(run(plan, x1, x2, w, per_sample=True), reference(spec, x1, x2, w))
    g = rng.normal(size=(3, spec.irreps_out.dim))
    out, (g1, g2, gw) = ProgramVJP(resolve(plan, True), VJPOps(np))(x1, x2, w, g)
    _close(out, reference(spec, x1, x2, w))
    # the product is linear in each argument: d/dw of sum(g * tp) is tp with unit weights, contracted
    unit = np.eye(spec.weight_numel)
    expected_gw = np.einsum("zo,zio->zi", g, np.stack([reference(spec, x1, x2, e) for e in unit], axis=1))
    _close(gw, expected_gw)


def test_uvu_lt_v_of_vectors_is_the_cross_product_of_each_pair_u_lt_v():
    """``1o x 1o -> 1e`` in uvu<v: channel ``q`` is ``x1[u] x x2[v] / sqrt(2)`` for the q-th pair ``u < v``,
    row by row: (0,1), (0,2), (0,3), (1,2), (1,3), (2,3) (e3nn's ``triu_indices``)."""
    spec = TensorProductSpec.cgtp("4x1o", "4x1o", "6x1e", mode="uvu<v", instructions=[(0, 0, 0, "uvu<v", False)])
    x1, x2 = np.random.default_rng(2).normal(size=(2, 5, 4, 3))
    # component normalization: sqrt(3) * wigner_3j(1, 1, 1) = eps / sqrt(2); fan-in 1
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    expected = np.stack([np.cross(x1[:, u], x2[:, v]) / np.sqrt(2) for u, v in pairs], axis=1)
    assert np.allclose(so3.wigner_3j(1, 1, 1) * np.sqrt(6), _levi_civita())
    for strategy in CGTP_STRATEGIES:
        got = PlanFunction(spec, ArrayOps(np), "float64", strategy)(x1.reshape(5, 12), x2.reshape(5, 12), None)
        _close(got, expected.reshape(5, 18))


def _levi_civita():
    eps = np.zeros((3, 3, 3))
    for (i, j, k), sign in {(0, 1, 2): 1, (1, 2, 0): 1, (2, 0, 1): 1, (0, 2, 1): -1, (2, 1, 0): -1, (1, 0, 2): -1}.items():
        eps[i, j, k] = sign
    return eps


def test_uvv_sums_the_first_input_into_the_second_inputs_channels():
    """Scalars times vectors in uvv: ``out[v] = sum_u W[u, v] a[u] x2[v] / sqrt(mul_in1)`` (fan-in ``mul_in1``)."""
    spec = TensorProductSpec.cgtp("3x0e", "2x1o", "2x1o", mode="uvv")
    rng = np.random.default_rng(3)
    a, x2, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 2))
    expected = np.einsum("uv,zu,zvk->zvk", w, a, x2) / np.sqrt(3)
    for strategy in CGTP_STRATEGIES:
        _close(PlanFunction(spec, ArrayOps(np), "float64", strategy)(a, x2.reshape(5, 6), w.ravel()), expected.reshape(5, 6))


def test_u_lt_vw_weights_are_pairs_by_output_channels():
    spec = TensorProductSpec.cgtp("3x0e", "3x0e", "2x0e", mode="u<vw")
    (path,) = spec.paths
    assert path.weight_shape == (3, 2) and spec.weight_numel == 6
    rng = np.random.default_rng(4)
    a, b, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    products = np.stack([a[:, 0] * b[:, 1], a[:, 0] * b[:, 2], a[:, 1] * b[:, 2]], axis=1)  # pairs u < v
    _close(reference(spec, a, b, w.ravel()), products @ w / np.sqrt(3))  # fan-in: 3 pairs


def test_mode_table_matches_the_weight_shapes_and_fan_ins():
    for name, mode in MODES.items():
        for m1, m2, mo in [(3, 3, 3), (4, 4, 6), (2, 3, 6), (3, 2, 3), (2, 3, 3), (1, 1, 1)]:
            if not mode.fits(m1, m2, mo):
                continue
            u, v, out, local = channel_triples(name, m1, m2, mo)
            assert sorted(set(local)) == list(range(int(np.prod(mode.weight_shape(m1, m2, mo))))), name
            assert np.all(out < mo) and np.all(u < m1) and np.all(v < m2)
            fan_in = np.bincount(out, minlength=mo)  # pairs summed into each output channel
            assert set(fan_in) <= {mode.fan_in(m1, m2)}, name
    assert list(MODES) == ["uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"]


def test_default_paths_of_the_pair_modes_need_the_pair_count():
    spec = TensorProductSpec.cgtp("3x0e + 3x1o", "3x1o", "3x1o + 2x1o + 3x0e", mode="uvu<v")
    assert [(p.i_in1, p.i_in2, p.i_out) for p in spec.paths] == [(0, 0, 0), (1, 0, 2)]
    assert [p.weight_shape for p in spec.paths] == [(3,), (3,)]


@pytest.mark.parametrize(
    "mode, irreps, match",
    [
        ("uvv", ("2x0e", "3x0e", "2x0e"), "mode 'uvv' needs mul_out == mul_in2, got mul_in1=2, mul_in2=3, mul_out=2"),
        ("uvu<v", ("3x0e", "3x0e", "3x0e + 2x0e"), None),
        ("uvu<v", ("3x0e", "2x0e", "1x0e"), r"mode 'uvu<v' needs mul_in1 == mul_in2 and mul_out == mul_in1 \* \("),
        ("u<vw", ("3x0e", "2x0e", "5x0e"), "mode 'u<vw' needs mul_in1 == mul_in2, got mul_in1=3, mul_in2=2"),
    ],
)
def test_multiplicity_rules_of_the_new_modes(mode, irreps, match):
    if match is None:  # 2x0e has the wrong count of pairs: the default instructions skip it
        assert [p.i_out for p in TensorProductSpec.cgtp(*irreps, mode=mode).paths] == [0]
        with pytest.raises(ValueError, match=r"\(mul_in1 - 1\) / 2, got mul_in1=3, mul_in2=3, mul_out=2"):
            TensorProductSpec.cgtp(*irreps, instructions=[(0, 0, 1, mode)])
        return
    with pytest.raises(ValueError, match=match):
        TensorProductSpec.cgtp(*irreps, instructions=[(0, 0, 0, mode)])


def test_variances_scale_the_normalization_as_e3nn_defines():
    """alpha / x with x = sum over the output's paths of in1_var * in2_var * fan-in, times out_var."""
    irreps = ("2x0e + 2x1o", "3x0e", "2x0e + 2x1o")
    plain = TensorProductSpec.cgtp(*irreps)
    spec = TensorProductSpec.cgtp(*irreps, in1_var=[4.0, 0.5], in2_var=[2.0], out_var=[9.0, 1.0])
    assert [(p.i_in1, p.i_out) for p in spec.paths] == [(0, 0), (1, 1)]  # one path per output block
    assert spec.paths[0].normalization == pytest.approx(plain.paths[0].normalization * np.sqrt(9.0 / (4.0 * 2.0)))
    assert spec.paths[1].normalization == pytest.approx(plain.paths[1].normalization * np.sqrt(1.0 / (0.5 * 2.0)))
    path = TensorProductSpec.cgtp(*irreps, path_normalization="none", in1_var=[4.0, 0.5], out_var=[9.0, 1.0])
    assert path.paths[0].normalization == pytest.approx(np.sqrt(9.0))  # component alpha 1, x = 1: only out_var
    assert TensorProductSpec.cgtp(*irreps, in1_var=[1, 1], in2_var=(1.0,), out_var=np.ones(2)) == plain
    x1, x2, w = _inputs(spec, np.random.default_rng(5))
    _close(reference(spec, x1, x2, w), oracle(spec, x1, x2, w))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in1_var=[1.0]), r"in1_var has 1 entries, but irreps_in1 = 2x0e\+2x1o has 2 blocks"),
        (dict(out_var=[1.0, 1.0, 1.0]), r"out_var has 3 entries, but irreps_out = 2x0e\+2x1o has 2 blocks"),
        (dict(in2_var=[-1.0]), r"in2_var = \[-1.0\]: variances must be finite and non-negative, got -1.0"),
        (dict(in1_var=[1.0, float("nan")]), "in1_var = .*finite and non-negative, got nan"),
        (dict(in2_var=1.0), "in2_var must be a sequence of floats, one per block of irreps_in2"),
        (dict(in2_var=["a"]), "in2_var must be a sequence of floats"),
    ],
)
def test_bad_variances_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorProductSpec.cgtp("2x0e + 2x1o", "3x0e", "2x0e + 2x1o", **kwargs)


def test_flops_of_the_new_modes_count_their_channel_pairs():
    spec = TensorProductSpec.cgtp("4x1o", "4x1o", "6x1e + 3x0e", instructions=[(0, 0, 0, "uvu<v"), (0, 0, 1, "u<vw")])
    pairs = 6  # u < v among 4 channels
    dense = 2 * (3 * 3 * 3) * pairs + 2 * (3 * 3 * 1) * pairs  # the coupling blocks 1x1->1 and 1x1->0
    weights = 2 * 3 * pairs + 2 * 1 * pairs * 3  # uvu<v: one weight per pair; u<vw: (pairs, 3)
    assert flops(spec)["dense"] == dense + weights
    nonzero = sum(np.count_nonzero(np.abs(so3.wigner_3j(1, 1, l)) > 1e-14) for l in (1, 0))
    assert flops(spec)["sparse"] == 2 * nonzero * pairs + weights
    assert flops(TensorProductSpec.cgtp("2x0e", "3x0e", "3x0e", mode="uvv"))["dense"] == 2 * 6 + 2 * 6


@pytest.mark.parametrize("case", NEW_CASES)
@pytest.mark.parametrize("strategy", CGTP_STRATEGIES)
def test_coefficient_memory_model_matches_the_plan(case, strategy):
    spec = CASES_BY_ID[case].spec
    assert coefficient_bytes(spec)[strategy] == plan_coefficient_bytes(spec, strategy)
