"""cgtp specs reproduce e3nn's TensorProduct family with the same flat weights (float64)."""

import functools
import re

import numpy as np
import pytest

from tpcore import TensorProductSpec, reference
from tpcore.execute import ArrayOps, PlanFunction
from tpcore.registry import get_registry

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

TOL = 1e-10


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def _e3nn(module, x1, x2, weights=None):
    args = [torch.from_numpy(x1), torch.from_numpy(x2)]
    if weights is not None:
        args.append(torch.from_numpy(weights))
    with torch.no_grad():
        return module(*args).numpy()


def _inputs(spec, rng, batch=(5,)):
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,))
    w = rng.normal(size=(spec.weight_numel,))
    return x1, x2, w


@pytest.mark.parametrize(
    "irreps_in1, irreps_in2, irreps_out",
    [
        ("2x0e + 3x1o + 1x2e", "1x0e + 2x1o", "3x0e + 2x1o + 2x1e + 1x2e"),
        ("1x0o + 2x1e + 2x2o + 1x3e", "3x0e + 1x1o + 1x2e", "2x0o + 1x1e + 3x2o + 1x3e + 1x1o"),
        ("4x0e + 2x0e + 1x1o", "1x1o + 1x1o", "2x0e + 1x1e + 1x0e"),  # repeated irreps, unsimplified
    ],
)
@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
def test_fully_connected_equals_e3nn(irreps_in1, irreps_in2, irreps_out, irrep_normalization, path_normalization):
    rng = np.random.default_rng(0)
    spec = TensorProductSpec.cgtp(
        irreps_in1, irreps_in2, irreps_out,
        irrep_normalization=irrep_normalization, path_normalization=path_normalization,
    )  # fmt: skip
    module = o3.FullyConnectedTensorProduct(
        irreps_in1, irreps_in2, irreps_out,
        irrep_normalization=irrep_normalization, path_normalization=path_normalization,
        internal_weights=False, shared_weights=True,
    )  # fmt: skip
    assert spec.weight_numel == module.weight_numel
    assert [(p.i_in1, p.i_in2, p.i_out) for p in spec.paths] == [(i.i_in1, i.i_in2, i.i_out) for i in module.instructions]
    x1, x2, w = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2, w)
    got = reference(spec, x1, x2, w)
    assert np.max(np.abs(got - expected)) <= TOL * max(1.0, np.max(np.abs(expected)))


#: per mode, multiplicities ``(mul_in1, mul_in2, mul_out)`` that fit it (e3nn's rules)
MULTIPLICITIES = {
    "uvw": [(2, 3, 2), (1, 2, 3)],
    "uvu": [(3, 2, 3), (1, 4, 1)],
    "uvv": [(2, 3, 3), (4, 1, 1)],
    "uuw": [(3, 3, 2), (1, 1, 4)],
    "uuu": [(3, 3, 3), (1, 1, 1)],
    "uvuv": [(2, 3, 6), (1, 2, 2)],
    "uvu<v": [(3, 3, 3), (4, 4, 6)],
    "u<vw": [(3, 3, 2), (4, 4, 1)],
}
#: e3nn has no weightless uvw or u<vw (the weights pick the output channel)
NEEDS_WEIGHT = {"uvw", "u<vw"}
VARIANCES = {
    "unit": {},
    "custom": dict(in1_var=[0.5, 2.0, 1.0], in2_var=[3.0, 0.25], out_var=[1.5, 0.7, 2.0, 1.0, 0.2]),
}


def _mode_case(mode, muls, has_weight, variances="unit"):
    """Irreps, e3nn instructions (every allowed path, path weights 0.5, 1.5, 2.5) and variances."""
    m1, m2, mo = muls
    if mode == "uuw" and not has_weight:
        mo = 1  # e3nn (and tpcore) sum over u into mul_out == 1
    irreps = (f"{m1}x0e + {m1}x1o + {m1}x2e", f"{m2}x0e + {m2}x1o", f"{mo}x0e + {mo}x1o + {mo}x1e + {mo}x2e + {mo}x3o")
    every = TensorProductSpec.cgtp(*irreps, mode=mode)
    instructions = [(p.i_in1, p.i_in2, p.i_out, mode, has_weight, 0.5 + k % 3) for k, p in enumerate(every.paths)]
    return irreps, instructions, VARIANCES[variances]


MODE_CASES = [
    pytest.param(mode, muls, has_weight, variances,
                 id=f"{mode}-{'x'.join(map(str, muls))}-{'weighted' if has_weight else 'plain'}-{variances}")
    for mode, all_muls in MULTIPLICITIES.items()
    for muls in all_muls
    for has_weight in (True, False)
    for variances in VARIANCES
    if has_weight or mode not in NEEDS_WEIGHT
]


@pytest.mark.parametrize("mode, muls, has_weight, variances", MODE_CASES)
def test_every_mode_equals_e3nn(mode, muls, has_weight, variances):
    rng = np.random.default_rng(1)
    irreps, instructions, var = _mode_case(mode, muls, has_weight, variances)
    spec = TensorProductSpec.cgtp(*irreps, instructions=instructions, **var)
    module = o3.TensorProduct(*irreps, instructions, internal_weights=False, shared_weights=True, **var)
    assert spec.weight_numel == module.weight_numel
    assert [p.weight_shape for p in spec.paths] == [tuple(i.path_shape) if i.has_weight else () for i in module.instructions]
    assert [p.normalization for p in spec.paths] == pytest.approx([i.path_weight for i in module.instructions], rel=1e-14)
    x1, x2, w = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2, w if has_weight else None)
    got = reference(spec, x1, x2, w if has_weight else None)
    assert np.max(np.abs(got - expected)) <= TOL * max(1.0, np.max(np.abs(expected)))


@pytest.mark.parametrize("mode", sorted(NEEDS_WEIGHT))
def test_modes_without_a_weightless_form_need_weights(mode):
    irreps, instructions, _ = _mode_case(mode, MULTIPLICITIES[mode][0], has_weight=False)
    message = f"mode '{re.escape(mode)}' mixes channels through its weights, so has_weight must be True"
    with pytest.raises(ValueError, match=message):
        TensorProductSpec.cgtp(*irreps, instructions=instructions)


@pytest.mark.parametrize("strategy", ["block", "folded", "dense", "sparse"])
def test_pair_modes_on_one_channel_have_no_pair_and_add_nothing(strategy):
    """A block of one channel has no pair ``u < v``: an empty weight block and no contribution, as in e3nn."""
    irreps = ("1x0e + 2x1o", "1x0e + 2x1o", "2x0e + 1x1e")
    # 1x0e x 1x0e: no pair; 2x1o x 2x1o: the pair (0, 1), into 2x0e (u<vw) and into 1x1e (uvu<v)
    instructions = [(0, 0, 0, "u<vw", True), (1, 1, 0, "u<vw", True), (1, 1, 1, "uvu<v", False)]
    spec = TensorProductSpec.cgtp(*irreps, instructions=instructions)
    module = o3.TensorProduct(*irreps, instructions, internal_weights=False, shared_weights=True)
    assert [p.weight_shape for p in spec.paths] == [(0, 2), (1, 2), ()] and spec.weight_numel == module.weight_numel == 2
    x1, x2, w = _inputs(spec, np.random.default_rng(7))
    expected = _e3nn(module, x1, x2, w)
    got = PlanFunction(spec, ArrayOps(np), "float64", strategy)(x1, x2, w)
    assert np.max(np.abs(got - expected)) <= TOL * np.max(np.abs(expected))
    alone = TensorProductSpec.cgtp("1x0e", "1x0e", "2x0e", mode="u<vw")  # a weighted path, but no weights at all
    module = o3.TensorProduct("1x0e", "1x0e", "2x0e", [(0, 0, 0, "u<vw", True)], internal_weights=False, shared_weights=True)
    assert alone.weight_numel == module.weight_numel == 0
    expected = _e3nn(module, x1[:, :1], x2[:, :1], np.zeros(0))
    assert np.array_equal(PlanFunction(alone, ArrayOps(np), "float64", strategy)(x1[:, :1], x2[:, :1], None), expected)


#: every mode in one spec, several paths (of different modes and fan-ins) into each output block
MIXED = ("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e")
MIXED_INSTRUCTIONS = [
    (0, 0, 0, "uvw", True, 1.0), (1, 1, 0, "uvu", True, 1.0), (1, 1, 0, "uvu<v", False, 2.0), (0, 0, 0, "uuu", True, 1.0),
    (0, 1, 1, "uvv", True, 1.0), (1, 0, 1, "uuw", True, 1.0), (0, 1, 1, "uvu<v", True, 0.5), (0, 1, 1, "uvv", False, 1.0),
    (1, 1, 2, "u<vw", True, 1.0), (1, 1, 2, "uvu<v", True, 1.0), (1, 1, 2, "uuu", False, 1.0),
]  # fmt: skip


@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
@pytest.mark.parametrize(
    "variances",
    [{}, dict(in1_var=[0.5, 2.0], in2_var=[1.5, 0.25], out_var=[2.0, 1.0, 0.3]),
     dict(in1_var=[0.0, 1.0], out_var=[1.0, 0.0, 4.0])],
    ids=["unit", "custom", "zeros"],
)
def test_variances_and_normalizations_of_mixed_modes_equal_e3nn(irrep_normalization, path_normalization, variances):
    rng = np.random.default_rng(4)
    options = dict(irrep_normalization=irrep_normalization, path_normalization=path_normalization, **variances)
    spec = TensorProductSpec.cgtp(*MIXED, instructions=MIXED_INSTRUCTIONS, **options)
    module = o3.TensorProduct(*MIXED, MIXED_INSTRUCTIONS, internal_weights=False, shared_weights=True, **options)
    assert [p.normalization for p in spec.paths] == pytest.approx([i.path_weight for i in module.instructions], rel=1e-14)
    x1, x2, w = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2, w)
    assert np.max(np.abs(reference(spec, x1, x2, w) - expected)) <= TOL * max(1.0, np.max(np.abs(expected)))


def test_full_tensor_product_takes_variances():
    rng = np.random.default_rng(5)
    out_var = [0.5, 1.0, 2.0, 1.5, 3.0, 0.7, 0.1, 2.5]  # one per output block, in the sorted output's order
    var = dict(in1_var=[2.0, 0.5], in2_var=[0.25, 3.0], out_var=out_var)
    module = o3.FullTensorProduct("2x0e + 1x1o", "1x1o + 1x1e", **var)
    spec = TensorProductSpec.cgtp("2x0e + 1x1o", "1x1o + 1x1e", None, mode="uvuv", **var)
    assert str(spec.irreps_out) == str(module.irreps_out) and len(spec.irreps_out) == len(out_var)
    x1, x2, _ = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2)
    assert np.max(np.abs(reference(spec, x1, x2) - expected)) <= TOL * np.max(np.abs(expected))


def test_per_sample_weights_equal_e3nn_unshared():
    rng = np.random.default_rng(2)
    args = ("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o")
    spec = TensorProductSpec.cgtp(*args, mode="uvu")
    module = o3.TensorProduct(*args, [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in spec.paths],
                              internal_weights=False, shared_weights=False)  # fmt: skip
    x1, x2, _ = _inputs(spec, rng, batch=(7,))
    w = rng.normal(size=(7, spec.weight_numel))
    expected = _e3nn(module, x1, x2, w)
    assert np.max(np.abs(reference(spec, x1, x2, w) - expected)) <= TOL * np.max(np.abs(expected))


def test_full_tensor_product_equals_e3nn():
    rng = np.random.default_rng(3)
    spec = TensorProductSpec.cgtp("2x0e + 1x1o + 1x2e", "1x0o + 2x1e", None, mode="uvuv")
    module = o3.FullTensorProduct("2x0e + 1x1o + 1x2e", "1x0o + 2x1e")
    assert str(spec.irreps_out) == str(module.irreps_out)
    x1, x2, _ = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2)
    assert np.max(np.abs(reference(spec, x1, x2) - expected)) <= TOL * np.max(np.abs(expected))


# -- every implementation in the registry, every strategy ---------------------------------------


def _registry_cases():
    """One spec per mode (weighted, with variances) and the mixed spec (weightless paths of several modes)."""
    for mode, all_muls in MULTIPLICITIES.items():
        yield mode, _mode_case(mode, all_muls[0], True, "custom")
    yield "mixed", (MIXED, MIXED_INSTRUCTIONS, dict(in1_var=[0.5, 2.0], in2_var=[1.5, 0.25], out_var=[2.0, 1.0, 0.3]))


@functools.lru_cache(maxsize=None)
def _expected_by_e3nn():
    """``{name: (spec, x1, x2, w, e3nn's output)}``, with per-sample weights for the mixed spec."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = {}
        rng = np.random.default_rng(6)
        for name, (irreps, instructions, var) in _registry_cases():
            spec = TensorProductSpec.cgtp(*irreps, instructions=instructions, **var)
            per_sample = name == "mixed"
            module = o3.TensorProduct(*irreps, instructions, internal_weights=False, shared_weights=not per_sample, **var)
            x1, x2, w = _inputs(spec, rng, batch=(3,))
            if per_sample:
                w = rng.normal(size=(3, spec.weight_numel))
            w = w if spec.weight_numel else None
            out[name] = (spec, x1, x2, w, _e3nn(module, x1, x2, w))
        return out
    finally:
        torch.set_default_dtype(previous)


def _float64_cgtp_implementations():
    registry = get_registry()
    return [
        pytest.param(impl, id=impl.key)
        for impl in registry.implementations(variant="cgtp")
        if registry.reason(impl.backend) is None and "float64" in impl.capabilities.dtypes
    ]


@pytest.mark.parametrize("impl", _float64_cgtp_implementations())
def test_every_implementation_computes_every_mode_like_e3nn(impl, jax_x64):
    """Every registered cgtp implementation (each strategy of each backend, and plugins) in float64."""
    harness = get_registry().harness(impl.backend)
    checked = 0
    for name, (spec, x1, x2, w, expected) in _expected_by_e3nn().items():
        if impl.capabilities.unmet(spec.path_modes, "float64", None) or not get_registry().accepts(impl, spec):
            continue  # an implementation may claim fewer modes, a kernel fewer descriptors: never picked for these
        tp = impl.factory(spec, device=None, dtype="float64")
        args = [None if a is None else harness.asarray(a, "float64") for a in (x1, x2, w)]
        got = harness.to_numpy(harness.forward_function(tp)(*args))
        error = np.max(np.abs(got - expected))
        assert error <= TOL * max(1.0, np.max(np.abs(expected))), f"{impl.key} on {name}: error {error:.3g}"
        checked += 1
    assert checked or impl.capabilities.modes is not None
