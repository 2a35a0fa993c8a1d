"""Blocks of multiplicity zero (``0x0e``) and empty irreps: e3nn's shapes and numbers, every strategy.

A path with a zero multiplicity reads or writes nothing and has no weights; an empty output block
has size 0. Expected values come from e3nn (torch, float64) and from the definition-level oracle.
"""

import numpy as np
import pytest

from tpcore import TensorProductSpec, s2_irreps
from tpcore.execute import ArrayOps, PlanFunction
from tpcore.plan import STRATEGIES, lower
from tpcore.reference import oracle

TOL = 1e-10

#: (irreps_in1, irreps_in2, irreps_out): zero blocks in the output, in an input, everywhere, empty irreps
FULLY_CONNECTED = [
    ("2x0e", "1x0e", "0x0e"),
    ("0x0e + 1x1o", "1x0e", "2x1o"),
    ("1x0e + 0x1o", "1x1o", "1x1o + 0x0e"),
    ("2x0e + 0x1o", "0x1o + 1x0e", "1x0e + 0x1o + 2x1e"),
    ("1x0e", "1x0e", ""),
    ("", "1x0e", "1x0e"),
    ("0x0e", "0x0e", "0x0e"),
]


def _run(spec, strategy, x1, x2, w):
    return PlanFunction(spec, ArrayOps(np), "float64", strategy)(x1, x2, w)


def _inputs(spec, batch=(4,), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=batch + (spec.irreps_in1.dim,)), rng.normal(size=batch + (spec.irreps_in2.dim,)),
            rng.normal(size=(spec.weight_numel,)))  # fmt: skip


@pytest.mark.parametrize("irreps", FULLY_CONNECTED, ids=lambda a: " x ".join(a))
def test_fully_connected_equals_e3nn(irreps):
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    spec = TensorProductSpec.cgtp(*irreps)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        module = o3.FullyConnectedTensorProduct(*irreps, internal_weights=False, shared_weights=True)
    finally:
        torch.set_default_dtype(before)
    assert spec.weight_numel == module.weight_numel
    assert [(p.i_in1, p.i_in2, p.i_out) for p in spec.paths] == [tuple(i)[:3] for i in module.instructions]
    x1, x2, w = _inputs(spec)
    with torch.no_grad():
        expected = module(*(torch.from_numpy(a) for a in (x1, x2, w))).numpy()
    assert expected.shape == (4, spec.irreps_out.dim)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    for strategy in STRATEGIES["cgtp"]:
        got = _run(spec, strategy, x1, x2, w)
        assert got.shape == expected.shape, strategy
        assert np.max(np.abs(got - expected), initial=0.0) <= TOL * scale, strategy
    assert np.max(np.abs(oracle(spec, x1, x2, w) - expected), initial=0.0) <= TOL * scale


#: per mode: irreps_in1, irreps_in2, irreps_out and instructions, some on ``0x`` blocks
INSTRUCTED = {
    "uvu": ("2x0e + 0x1o", "1x0e + 0x1o", "2x0e + 0x1o + 2x1o", [(0, 0, 0), (1, 0, 1), (0, 1, 2)]),
    "uuw": ("2x0e + 0x1o", "2x0e + 0x1o", "3x0e + 3x1e + 0x1e", [(0, 0, 0), (1, 1, 1), (1, 1, 2)]),
    "uuu": ("2x0e + 0x1o", "2x0e + 0x1o", "2x0e + 0x1e", [(0, 0, 0), (1, 1, 1)]),
    "uvuv": ("2x0e + 0x1o", "1x0e + 0x1o", "2x0e + 0x1o + 0x1e", [(0, 0, 0), (1, 0, 1), (1, 1, 2)]),
}


@pytest.mark.parametrize("mode", sorted(INSTRUCTED))
def test_instructions_on_empty_blocks_equal_e3nn(mode):
    """e3nn's TensorProduct with explicit instructions touching ``0x`` blocks: no weights, no output."""
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    irreps_in1, irreps_in2, irreps_out, triples = INSTRUCTED[mode]
    instructions = [(i1, i2, io, mode, True) for i1, i2, io in triples]
    spec = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, instructions=instructions)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        module = o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions,
                                  internal_weights=False, shared_weights=True)  # fmt: skip
    finally:
        torch.set_default_dtype(before)
    assert spec.weight_numel == module.weight_numel
    x1, x2, w = _inputs(spec, seed=1)
    with torch.no_grad():
        expected = module(*(torch.from_numpy(a) for a in (x1, x2, w))).numpy()
    for strategy in STRATEGIES["cgtp"]:
        assert np.max(np.abs(_run(spec, strategy, x1, x2, w) - expected), initial=0.0) <= TOL * max(1.0, np.abs(expected).max())


def test_full_tensor_product_leaves_out_empty_products_like_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    spec = TensorProductSpec.cgtp("2x0e + 0x1o", "1x1o + 0x2e", None, mode="uvuv")
    assert str(spec.irreps_out) == str(o3.FullTensorProduct("2x0e + 0x1o", "1x1o + 0x2e").irreps_out) == "2x1o"


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
@pytest.mark.parametrize("weighted", [False, True])
def test_channelwise_with_zero_channels_gives_an_empty_output(variant, weighted):
    make = getattr(TensorProductSpec, variant)
    spec = make(s2_irreps(2, mul=0), s2_irreps(1, mul=0), s2_irreps(3, mul=0), weighted=weighted)
    assert spec.channels == 0 and spec.weight_numel == 0
    x1, x2, w = np.zeros((5, 0)), np.zeros((5, 0)), np.zeros(0)
    for strategy in STRATEGIES[variant]:
        assert _run(spec, strategy, x1, x2, w).shape == (5, 0)
    assert oracle(spec, x1, x2, w).shape == (5, 0)
    with pytest.raises(ValueError, match="one multiplicity"):
        make("2x0e + 0x1o", "2x0e", "2x0e")


def test_plans_skip_empty_paths_and_keep_the_weight_layout():
    spec = TensorProductSpec.cgtp("2x0e + 0x1o + 1x1o", "1x0e + 1x1o", "1x0e + 0x1o + 2x1o")
    assert any(0 in (p.mul_in1, p.mul_in2, p.mul_out) for p in spec.paths)
    for strategy in STRATEGIES["cgtp"]:
        plan = lower(spec, strategy)
        assert plan.spec is spec
        starts = {dict(op.params)["start"] for op in plan.ops if op.kind == "weights"}
        assert starts <= {p.weight_slice.start for p in spec.paths if p.weight_numel}
    x1, x2, w = _inputs(spec, batch=(3, 2), seed=2)
    expected = oracle(spec, x1, x2, w)
    for strategy in STRATEGIES["cgtp"]:
        np.testing.assert_allclose(_run(spec, strategy, x1, x2, w), expected, atol=1e-12)
