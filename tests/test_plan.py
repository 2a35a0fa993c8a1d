"""Strategy choice and the two-program plans (tpcore.plan), checked against the float64 reference."""

import dataclasses

import numpy as np
import pytest
from test_autodiff import assert_close, inputs, reference_grads, run

from tpcore import TensorProductSpec
from tpcore.autodiff import ProgramVJP, VJPOps
from tpcore.irreps import s2_irreps
from tpcore.cost import (
    FOLDED_AUTO_MAX_BYTES_CPU, FOLDED_AUTO_MAX_BYTES_CUDA, FUSED_AUTO_MAX_TERMS, FUSED_AUTO_MAX_TERMS_CUDA, FUSED_AUTO_MAX_TERMS_EDGE,
    FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX, auto_strategy, folded_bytes, fused_terms,
)
from tpcore.descriptor import describe
from tpcore.plan import STRATEGIES, lower, resolve_strategy
from tpcore.program import resolve
from tpcore.reference import reference


def fully_connected(L: int, mul: int = 8) -> TensorProductSpec:
    """e3nn's FullyConnectedTensorProduct of ``mul x (0..L)`` with ``1 x (0..L)`` into ``mul x (0..L)``."""
    return TensorProductSpec.cgtp(s2_irreps(L, mul=mul), s2_irreps(L), s2_irreps(L, mul=mul))


def test_auto_reads_the_shape_of_the_descriptor():
    """The rule measured on real-model shapes (tpcore.cost.auto_strategy): few terms fused, edge harmonics
    block, several channels on both inputs dense."""
    assert STRATEGIES["cgtp"][0] == "auto"
    uuu = TensorProductSpec.cgtp(s2_irreps(2, mul=8), s2_irreps(2, mul=8), s2_irreps(2, mul=8), mode="uuu")
    assert fused_terms(describe(uuu)) <= FUSED_AUTO_MAX_TERMS and resolve_strategy(uuu) == "fused"
    assert fused_terms(describe(fully_connected(2))) > FUSED_AUTO_MAX_TERMS
    # 8 channels x edge harmonics: folded while its tables are small (1.3-1.9x e3nn, block 1.0x), then block
    assert folded_bytes(describe(fully_connected(2))) <= FOLDED_AUTO_MAX_BYTES_CPU and resolve_strategy(fully_connected(2)) == "folded"
    assert folded_bytes(describe(fully_connected(3))) > FOLDED_AUTO_MAX_BYTES_CPU and resolve_strategy(fully_connected(3)) == "block"
    # few terms, but each product repeated per output channel (uvw): measured 0.44x e3nn fused
    assert fused_terms(describe(fully_connected(1))) <= FUSED_AUTO_MAX_TERMS and resolve_strategy(fully_connected(1)) == "folded"
    assert auto_strategy(describe(fully_connected(1)), per_sample=True) == "block"  # per-sample weights cannot fold
    assert resolve_strategy(fully_connected(1), backend="jax") == "folded"  # jax: 1.30x e3nn-jax, block 0.97x
    # per-sample weights cannot fold: the program for them is the backend's own pick (jax takes no fused)
    conv = convolution(1, 16)
    assert [op.kind for op in lower(conv, "folded", backend="jax").program(per_sample=True)] == [op.kind for op in lower(conv, "block").ops]
    assert [op.kind for op in lower(conv, "folded").program(per_sample=True)] == [op.kind for op in lower(conv, "fused").ops]
    # jax: XLA's gathers made fused 0.2-0.6x e3nn-jax; a channel-wise product folds per channel there
    # (1.17-1.26x e3nn-jax forward+backward at L = 1, 2, block 0.74-0.80x) while its matrix is small
    assert describe(uuu).per_channel_dims == (8, 9, 9, 9) and resolve_strategy(uuu, backend="jax") == "folded"
    uuu3 = TensorProductSpec.cgtp(s2_irreps(3, mul=8), s2_irreps(3, mul=8), s2_irreps(3, mul=8), mode="uuu")
    # past fused's terms it folds per channel (2.2x e3nn forward+backward at L = 3, block 1.1x)
    assert fused_terms(describe(uuu3)) > FUSED_AUTO_MAX_TERMS and resolve_strategy(uuu3) == "folded"
    uuu5 = TensorProductSpec.cgtp(s2_irreps(5, mul=8), s2_irreps(5, mul=8), s2_irreps(5, mul=8), mode="uuu")
    assert folded_bytes(describe(uuu5)) > FOLDED_AUTO_MAX_BYTES_PER_CHANNEL_JAX and resolve_strategy(uuu5, backend="jax") == "block"
    assert resolve_strategy(uuu5) == "folded" and auto_strategy(describe(uuu3), per_sample=True) == "block"
    # without weights too, but only past fused's terms (L = 1: fused 2.3x e3nn forward+backward, folded 0.75x)
    ir = s2_irreps(1, mul=8)
    plain = TensorProductSpec.cgtp(ir, ir, ir, mode="uuu", instructions=[
        (i, j, k, "uuu", False) for i in range(2) for j in range(2) for k in range(2) if abs(i - j) <= k <= i + j and (i + j + k) % 2 == 0])
    assert not describe(plain).weighted_paths and describe(plain).per_channel_dims is not None
    assert resolve_strategy(plain) == "fused" and resolve_strategy(plain, backend="jax") == "folded"
    # a product without weights folds into one constant matrix (torch 2.8-3.5x e3nn, fused 2.4-3.0x;
    # jax 2.1-2.9x e3nn-jax), a weighted one only with the edge harmonics
    full = TensorProductSpec.cgtp(s2_irreps(2), s2_irreps(2), None, mode="uvuv")
    assert fused_terms(describe(full)) <= FUSED_AUTO_MAX_TERMS_EDGE
    assert resolve_strategy(full) == resolve_strategy(full, backend="jax") == "folded"
    both = TensorProductSpec.cgtp(s2_irreps(2, mul=8), s2_irreps(2, mul=8), s2_irreps(2, mul=8))
    assert resolve_strategy(both) == "dense"
    assert lower(both).strategy == lower(both, "auto").strategy == "dense"
    # several channels on both inputs: dense even where folded's tables are small (fc8 at L = 1:
    # dense 1.66x e3nn forward+backward, folded 1.34x)
    small = TensorProductSpec.cgtp(s2_irreps(1, mul=8), s2_irreps(1, mul=8), s2_irreps(1, mul=8))
    assert folded_bytes(describe(small)) <= FOLDED_AUTO_MAX_BYTES_CPU and resolve_strategy(small) == "dense"
    assert resolve_strategy(small, backend="jax") == "dense"
    # MACE's convolution: fused up to FUSED_AUTO_MAX_TERMS_EDGE terms (16 channels at L = 1: 256), then
    # block (944 terms at L = 2: block 1.17x, fused 0.98x), dense from 128 channels (torch)
    assert fused_terms(describe(convolution(1, 16))) <= FUSED_AUTO_MAX_TERMS_EDGE and resolve_strategy(convolution(1, 16)) == "fused"
    assert FUSED_AUTO_MAX_TERMS_EDGE < fused_terms(describe(convolution(2, 16))) <= FUSED_AUTO_MAX_TERMS
    assert resolve_strategy(convolution(2, 16)) == "block"
    assert resolve_strategy(convolution(2, 128)) == "dense" and resolve_strategy(convolution(2, 128), backend="jax") == "block"


def convolution(L: int, mul: int) -> TensorProductSpec:
    from tpcore.report.workloads import convolution_spec

    return convolution_spec(mul, L)


def test_auto_on_a_gpu_takes_fused_further_then_folded():
    """The rule measured on an H200 (tpcore.cost.auto_strategy): launches dominate there."""
    conv = convolution(3, 128)  # MACE's convolution: no w output, 17152 terms
    d = describe(conv)
    assert FUSED_AUTO_MAX_TERMS < fused_terms(d) <= FUSED_AUTO_MAX_TERMS_CUDA
    assert resolve_strategy(conv) == "dense" and resolve_strategy(conv, device="cuda") == "fused"
    both = TensorProductSpec.cgtp(s2_irreps(2, mul=16), s2_irreps(2, mul=16), s2_irreps(2, mul=16))  # w outputs
    assert folded_bytes(describe(both)) <= FOLDED_AUTO_MAX_BYTES_CUDA
    assert resolve_strategy(both, device="cuda") == "folded" and resolve_strategy(both) == "dense"
    # folded cannot fold per-sample weights: its plan's other program is auto's block there
    plan = lower(both, None, "cuda")
    assert plan.strategy == "folded"
    assert [op.kind for op in plan.program(per_sample=True)] == [op.kind for op in lower(both, "block").ops]
    big = TensorProductSpec.cgtp(s2_irreps(3, mul=16), s2_irreps(3, mul=16), s2_irreps(3, mul=16))
    assert folded_bytes(describe(big)) > FOLDED_AUTO_MAX_BYTES_CUDA and resolve_strategy(big, device="cuda") == "block"
    assert resolve_strategy(conv, backend="jax", device="cuda") == "block"  # jax's rule is its own


def test_auto_on_a_gpu_keeps_folded_within_the_plans_limit(monkeypatch):
    both = TensorProductSpec.cgtp(s2_irreps(1, mul=8), s2_irreps(1, mul=8), s2_irreps(1, mul=8))
    assert resolve_strategy(both, device="cuda") == "folded"
    monkeypatch.setenv("TPCORE_FOLDED_MAX_BYTES", str(folded_bytes(describe(both)) - 1))
    assert resolve_strategy(both, device="cuda") == "block"


def test_explicit_strategies_are_kept_and_unknown_ones_rejected():
    spec = fully_connected(1)
    for strategy in STRATEGIES["cgtp"][1:]:
        assert resolve_strategy(spec, strategy) == strategy == lower(spec, strategy).strategy
    with pytest.raises(ValueError, match="'fold' is not one of the cgtp strategies: auto, block, folded"):
        lower(spec, "fold")
    with pytest.raises(ValueError, match="is not one of the s2grid strategies"):
        lower(TensorProductSpec.s2grid(s2_irreps(1), s2_irreps(1), s2_irreps(1)), "auto")


def test_folded_plans_run_autos_choice_for_per_sample_weights():
    spec = fully_connected(2)
    folded, block = lower(spec, "folded"), lower(spec, "block")
    assert "weight_fold" in {op.kind for op in folded.program(per_sample=False)}
    per_sample = folded.program(per_sample=True)
    assert [op.kind for op in per_sample] == [op.kind for op in block.ops]
    assert all(name in folded.consts for op in per_sample for name in op.args if name.startswith("per_sample_"))
    assert block.program(per_sample=True) is block.ops  # one program when the strategy needs no other
    unweighted = TensorProductSpec.cgtp(s2_irreps(1), s2_irreps(1), None, mode="uvuv")
    assert lower(unweighted, "folded").per_sample_ops is None


@pytest.mark.parametrize("mode", ["uvw", "uvu", "uvuv", "uuw", "uuu"])
def test_the_folded_program_itself_handles_per_sample_weights(mode):
    """Folding per-sample weights is correct too (one matrix per sample), only not what ``auto`` runs."""
    mul2 = 2 if mode.startswith("uu") else 1
    every = TensorProductSpec.cgtp("2x0e + 2x1o", f"{mul2}x0e + {mul2}x1o", "2x0e + 2x1o + 2x1e", mode=mode)
    instructions = [(p.i_in1, p.i_in2, p.i_out, mode, True) for p in every.paths]  # uvuv too
    spec = TensorProductSpec.cgtp(every.irreps_in1, every.irreps_in2, every.irreps_out, instructions=instructions)
    plan = dataclasses.replace(lower(spec, "folded"), per_sample_ops=None)
    rng = np.random.default_rng(0)
    x1, x2, w = inputs(spec, rng, batch=(3,), per_sample=True)
    g = rng.normal(size=(3, spec.irreps_out.dim))
    assert_close(run(plan, x1, x2, w, per_sample=True), reference(spec, x1, x2, w))
    out, grads = ProgramVJP(resolve(plan, True), VJPOps(np))(x1, x2, w, g)
    assert_close(out, reference(spec, x1, x2, w))
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)


def test_folded_mixes_weighted_and_unweighted_paths():
    instructions = [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", False), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", False)]
    spec = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o", instructions=instructions)
    plan = lower(spec, "folded")
    assert {"T", "T0"} <= {op.out for op in plan.ops} | set(plan.consts)
    rng = np.random.default_rng(1)
    x1, x2, w = inputs(spec, rng, batch=(5,))
    assert_close(run(plan, x1, x2, w), reference(spec, x1, x2, w))
