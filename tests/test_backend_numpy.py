"""The numpy backend, built through the registry like any plugin, against the float64 reference."""

import copy
import pickle

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, s2_irreps
from tpcore.plan import STRATEGIES
from tpcore.reference import reference

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}

SPECS = {
    "cgtp": TensorProductSpec.cgtp("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x1e", "2x0e + 1x1o + 2x1e + 1x2e + 1x2o"),
    "gtp": TensorProductSpec.gtp(s2_irreps(2, mul=3), s2_irreps(2, mul=3), s2_irreps(4, mul=3), weighted=True),
    "s2grid": TensorProductSpec.s2grid(s2_irreps(3, mul=2), s2_irreps(1, mul=2), s2_irreps(3, mul=2), weighted=True),
    "mtp": TensorProductSpec.mtp(s2_irreps(2, mul=2), s2_irreps(2, mul=2), s2_irreps(4, mul=2), weighted=True),
}

CASES = [(variant, strategy) for variant, strategies in STRATEGIES.items() for strategy in strategies]


@pytest.mark.parametrize("variant, strategy", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [(), (0,), (5,), (2, 3)])
def test_forward_matches_reference(variant, strategy, dtype, batch):
    spec = SPECS[variant]
    tp = tpcore.build(spec, backend="numpy", impl=strategy, dtype=dtype)
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,)).astype(dtype)
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,)).astype(dtype)
    w = rng.normal(size=(spec.weight_numel,)).astype(dtype)
    out = tp(x1, x2, w)
    expected = reference(spec, x1, x2, w)
    assert out.dtype == np.dtype(dtype) and out.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.max(np.abs(out - expected), initial=0.0) <= TOLERANCE[dtype] * scale


def test_default_impl_is_the_first_strategy():
    for variant, strategies in STRATEGIES.items():
        assert tpcore.registry.select(SPECS[variant], backend="numpy").name == strategies[0]


@pytest.mark.parametrize("variant, strategy", CASES)
def test_strategy_names_the_plan_like_the_torch_and_jax_builds(variant, strategy):
    """Issue 28 item 8: ``build(spec, backend="numpy").strategy`` raised AttributeError."""
    from tpcore.plan import resolve_strategy

    spec = SPECS[variant]
    tp = tpcore.build(spec, backend="numpy", impl=strategy)
    assert tp.strategy == (resolve_strategy(spec) if strategy == "auto" else strategy) == tp.plan.strategy
    assert pickle.loads(pickle.dumps(tp)).strategy == tp.strategy
    assert f"strategy={tp.strategy}" in repr(tp)


def test_dtype_mismatch_is_a_clear_error():
    spec = SPECS["cgtp"]
    tp = tpcore.build(spec, backend="numpy", dtype="float32")
    x1 = np.zeros((2, spec.irreps_in1.dim))
    x2 = np.zeros((2, spec.irreps_in2.dim), np.float32)
    with pytest.raises(TypeError, match="x1 has dtype float64, but this tensor product was built for float32"):
        tp(x1, x2, np.zeros(spec.weight_numel, np.float32))


# -- pickling and deep copies ------------------------------------------------------------------------


@pytest.mark.parametrize("variant, strategy", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_and_deepcopy_keep_what_defines_the_object(variant, strategy, dtype):
    spec = SPECS[variant]
    tp = tpcore.build(spec, backend="numpy", impl=strategy, dtype=dtype)
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=(3, spec.irreps_in1.dim)).astype(dtype)
    x2 = rng.normal(size=(3, spec.irreps_in2.dim)).astype(dtype)
    w = rng.normal(size=(3, spec.weight_numel)).astype(dtype)  # per sample
    for clone in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        assert type(clone) is type(tp) and clone.spec == spec and clone.ops.xp is np
        assert clone.plan.strategy == tp.plan.strategy and clone.dtype == tp.dtype
        assert clone.consts.keys() == tp.consts.keys()
        np.testing.assert_array_equal(clone(x1, x2, w), tp(x1, x2, w))


def test_pickles_hold_the_spec_not_the_converted_constants():
    spec = SPECS["s2grid"]
    tp = tpcore.build(spec, backend="numpy")
    constants = sum(c.nbytes for c in tp.consts.values())
    assert len(pickle.dumps(tp)) < len(pickle.dumps(spec)) + 2000 < constants


# -- arguments of the wrong kind -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, described",
    [(lambda a: a.tolist(), "a builtins.list"), (lambda a: None, "None"), (lambda a: 1.5, "a builtins.float")],
    ids=["list", "None", "float"],
)
@pytest.mark.parametrize("argument", ["x1", "x2", "weights"])
def test_non_arrays_are_named_with_the_array_type_expected(argument, given, described):
    spec = SPECS["cgtp"]
    tp = tpcore.build(spec, backend="numpy")
    rng = np.random.default_rng(2)
    args = {"x1": rng.normal(size=(2, spec.irreps_in1.dim)), "x2": rng.normal(size=(2, spec.irreps_in2.dim)),
            "weights": rng.normal(size=spec.weight_numel)}  # fmt: skip
    args[argument] = given(args[argument])
    if argument == "weights" and args[argument] is None:
        with pytest.raises(ValueError, match="weights are required"):
            tp(**args)
        return
    with pytest.raises(TypeError, match=rf"^{argument} is {described}, but this tensor product runs on numpy arrays: "
                       rf"pass numpy arrays \(e.g. numpy.asarray\({argument}\)\)$"):  # fmt: skip
        tp(**args)


def test_torch_tensors_into_a_numpy_build_are_named():
    torch = pytest.importorskip("torch")
    spec = SPECS["cgtp"]
    tp = tpcore.build(spec, backend="numpy", dtype="float32")
    x1, x2, w = (torch.zeros(n) for n in (spec.irreps_in1.dim, spec.irreps_in2.dim, spec.weight_numel))
    with pytest.raises(TypeError, match=r"^x1 is a torch.Tensor, but this tensor product runs on numpy arrays"):
        tp(x1, x2, w)
    with pytest.raises(TypeError, match=r"^weights is a torch.(nn.parameter.)?Parameter, but this tensor product runs on numpy"):
        tp(x1.numpy(), x2.numpy(), torch.nn.Parameter(w))


@pytest.mark.parametrize("dtype", ["int64", "float16", "complex128", "bool"])
def test_dtypes_build_rejects_are_never_suggested(dtype):
    spec = SPECS["cgtp"]
    tp = tpcore.build(spec, backend="numpy", dtype="float32")
    x2 = np.zeros((2, spec.irreps_in2.dim), np.float32)
    w = np.zeros(spec.weight_numel, np.float32)
    with pytest.raises(TypeError) as info:
        tp(np.zeros((2, spec.irreps_in1.dim), dtype), x2, w)
    message = str(info.value)
    assert message.startswith(f"x1 has dtype {dtype}, but this tensor product was built for float32; cast x1 to float32")
    assert "float32 or float64" in message and "build with" not in message
    with pytest.raises(TypeError, match='build with dtype="float64"'):  # a dtype build accepts may be suggested
        tp(np.zeros((2, spec.irreps_in1.dim)), x2, w)
