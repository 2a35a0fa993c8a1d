"""The numpy backend, built through the registry like any plugin, against the float64 reference."""

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


def test_dtype_mismatch_is_a_clear_error():
    spec = SPECS["cgtp"]
    tp = tpcore.build(spec, backend="numpy", dtype="float32")
    x1 = np.zeros((2, spec.irreps_in1.dim))
    x2 = np.zeros((2, spec.irreps_in2.dim), np.float32)
    with pytest.raises(TypeError, match="x1 has dtype float64, but this tensor product was built for float32"):
        tp(x1, x2, np.zeros(spec.weight_numel, np.float32))
