"""What the conformance catalogue does not reach: modes mixed in one spec (several tensor products
in one polynomial, weights gathered out of e3nn's flat order), what ``accepts`` declines, the
module's dtype moves, the plugin's reason when cuEquivariance is missing, and second derivatives on
the accepted cases the suite checks only to first order."""

import importlib.util

import numpy as np
import pytest
import torch

import tpcore
from tpcore.descriptor import describe
from tpcore.reference import reference
from tpcore.spec import TensorProductSpec
from tpcore.testing import CATALOGUE, ConformanceCase, run_case
from tpcore_cuequivariance import plugin
from tpcore_cuequivariance.polynomial import accepts, decline, translate

def _mixed():
    """weighted uvw/uvu/uvv/uuu/uuw/uvw interleaved with weightless uvu/uuu, several paths into one block"""
    return TensorProductSpec.cgtp(
        "2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x1e",
        instructions=[(0, 0, 0, "uvw", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvv", True),
                      (1, 1, 2, "uuu", True), (1, 1, 0, "uvu", False), (0, 0, 0, "uuu", False),
                      (1, 0, 1, "uuw", True), (1, 1, 2, "uvw", True)],
        in1_var=[0.5, 2.0], out_var=[1.5, 1.0, 0.3])  # fmt: skip


def test_mixed_modes_are_one_polynomial_with_gathered_weights():
    spec = _mixed()
    t = translate(describe(spec))
    assert len(t.polynomial.operations) == 7  # one per (mode, weighted): the two uvw paths share one
    uvw = t.weight_index[0]  # the first path's 2x2x2 weights, then the last path's 2x2x2
    assert uvw.tolist() == list(range(8)) + list(range(spec.weight_numel - 8, spec.weight_numel))
    assert sorted(np.concatenate(t.weight_index).tolist()) == list(range(spec.weight_numel))


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixed_modes_match_the_reference(per_sample):
    spec = _mixed()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((3, spec.irreps_in1.dim)), rng.standard_normal((3, spec.irreps_in2.dim))
    w = rng.standard_normal((3, spec.weight_numel) if per_sample else spec.weight_numel)
    tp = tpcore.build(spec, backend="torch", impl="cuequivariance", dtype="float64")
    out = tp(*(torch.from_numpy(a) for a in (x1, x2, w))).numpy()
    np.testing.assert_allclose(out, reference(spec, x1, x2, w), rtol=0, atol=1e-12)


def test_mixed_modes_second_derivatives():
    spec = _mixed()
    tp = tpcore.build(spec, backend="torch", impl="cuequivariance", dtype="float64")
    gen = torch.Generator().manual_seed(0)
    args = [torch.randn(2, n, dtype=torch.float64, generator=gen, requires_grad=True)
            for n in (spec.irreps_in1.dim, spec.irreps_in2.dim, spec.weight_numel)]  # fmt: skip
    assert torch.autograd.gradgradcheck(tp, args)


@pytest.mark.parametrize(
    "spec, reason",
    [
        (TensorProductSpec.cgtp("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o", mode="uvu<v"), "mode uvu<v"),
        (TensorProductSpec.cgtp("3x0e + 3x1o", "3x0e + 3x1o", "1x0e + 1x1e", mode="u<vw"), "mode u<vw"),
        (TensorProductSpec.cgtp("2x0e", "2x0e", "4x0e + 2x0e", instructions=[(0, 0, 0, "uvuv", False), (0, 0, 1, "uvu", True)]),
         "uvuv beside other modes"),
        (TensorProductSpec.gtp("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o"), "a gtp spec"),
    ],
)
def test_accepts_declines_what_it_does_not_translate(spec, reason):
    d = describe(spec)
    assert not accepts(d) and reason in decline(d)
    if spec.variant == "cgtp" and spec.path_modes <= plugin.MODES:
        with pytest.raises(Exception, match="cuequivariance"):  # the kernel's refusal names it
            tpcore.build(spec, backend="torch", impl="cuequivariance")


def test_to_another_dtype_rebuilds_from_float64():
    spec = _mixed()
    tp = tpcore.build(spec, backend="torch", impl="cuequivariance", dtype="float32").to(torch.float64)
    assert list(tp.state_dict()) == ["weight"] and tp.weight.dtype == torch.float64
    x1, x2 = torch.randn(4, spec.irreps_in1.dim, dtype=torch.float64), torch.randn(4, spec.irreps_in2.dim, dtype=torch.float64)
    expected = reference(spec, x1.numpy(), x2.numpy(), tp.weight.detach().numpy())
    np.testing.assert_allclose(tp(x1, x2).detach().numpy(), expected, rtol=0, atol=1e-12)


def test_without_cuequivariance_the_plugin_says_why(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cuequivariance_torch" else find_spec(name, *a))
    assert plugin.probe() == "cuequivariance_torch: not installed (pip install 'tpcore-cuequivariance[cuequivariance]')"
    tpcore.registry.reset_registry()
    try:
        registry = tpcore.registry.get_registry()
        [info] = [p for p in registry.plugins if p.module == "tpcore_cuequivariance.plugin"]
        assert info.status == "failed" and "cuequivariance_torch: not installed" in info.error
        assert "torch/cgtp/cuequivariance" not in [i.key for i in registry.implementations("torch")]
        assert tpcore.build(_mixed(), backend="torch") is not None  # tpcore's own still work
    finally:
        monkeypatch.undo()
        tpcore.registry.reset_registry()


# The suite checks second derivatives on its core cases only; its grad2 check (against the float64
# reference's, tpcore.testing.reference_grads) on every other cgtp case the kernel accepts.
KEY = "torch/cgtp/cuequivariance"
NOT_CORE = [c.id for c in CATALOGUE if c.variant == "cgtp" and not c.core and not c.heavy and accepts(describe(c.spec))]


@pytest.mark.parametrize("case", NOT_CORE)
def test_second_derivatives_beyond_the_core_cases(case):
    run_case(ConformanceCase(KEY, "grad2", case, "float64", None, None))
