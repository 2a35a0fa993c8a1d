"""Path pruning: weight views, L1 penalty, scores, sweep, prune_spec and weight remapping per backend."""

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, reference
from tpcore.analysis import (
    PathScore,
    group_scores,
    keep_mask,
    l1_penalty,
    path_scores,
    path_weights,
    prune_spec,
    prune_torch_module,
    sparsity_sweep,
)
from tpcore.registry import get_registry

SPEC = TensorProductSpec.cgtp("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x2e", "2x0e + 2x1o + 2x1e + 1x2e", mode="uvw")
TOL = 1e-10


def _weights(seed=0, batch=()):
    return np.random.default_rng(seed).standard_normal(batch + (SPEC.weight_numel,))


def _mask(seed=0):
    keep = np.random.default_rng(seed).random(len(SPEC.paths)) < 0.5
    keep[0], keep[-1] = True, False
    return keep


def _zeroed(weights, keep):
    """The original layout with the pruned paths' weights set to zero."""
    out = np.array(weights, dtype=np.float64)
    for p, k in zip(SPEC.paths, keep):
        if not k:
            out[..., p.weight_slice] = 0.0
    return out


def _cgtp_implementations():
    """(backend, impl) of every usable float64 cgtp implementation that computes SPEC (from the registry,
    never a fixed list; kernels for other descriptors are left out)."""
    registry = get_registry()
    usable = set(registry.available())
    found = sorted((i.backend, i.name) for i in registry.implementations()
                   if i.variant == "cgtp" and i.backend in usable and not i.capabilities.unmet(SPEC.path_modes, "float64", None)
                   and registry.accepts(i, SPEC))  # fmt: skip
    return found


@pytest.fixture
def x64():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


# -- views, penalty, scores ------------------------------------------------------------------------


def test_path_weights_are_the_paths_slices_in_their_shapes():
    w = _weights(batch=(3,))
    views = path_weights(SPEC, w)
    for p, view in zip(SPEC.paths, views):
        assert view.shape == (3, *p.weight_shape)
        np.testing.assert_array_equal(view.reshape(3, -1), w[:, p.weight_slice])
    assert np.shares_memory(views[0], w)


def test_path_weights_reject_wrong_sizes_and_channelwise_specs():
    with pytest.raises(ValueError, match=f"\\(..., {SPEC.weight_numel}\\)"):
        path_weights(SPEC, np.zeros(SPEC.weight_numel + 1))
    with pytest.raises(ValueError, match="cgtp specs only"):
        path_weights(TensorProductSpec.gtp("0e + 1o", "0e + 1o", "0e + 1o", weighted=True), np.zeros(6))


def _expected_penalty(w):
    return sum(np.mean(np.abs(w[p.weight_slice])) for p in SPEC.paths)


def test_l1_penalty_in_numpy_is_the_sum_of_per_path_mean_abs():
    w = _weights()
    assert l1_penalty(SPEC, w) == pytest.approx(_expected_penalty(w), rel=1e-12)


def test_l1_penalty_in_torch_is_differentiable_with_gradient_sign_over_path_size():
    torch = pytest.importorskip("torch")
    w_np = _weights()
    w = torch.tensor(w_np, requires_grad=True)
    penalty = l1_penalty(SPEC, w)
    assert isinstance(penalty, torch.Tensor)
    assert penalty.item() == pytest.approx(_expected_penalty(w_np), rel=1e-12)
    penalty.backward()
    expected = np.concatenate([np.sign(w_np[p.weight_slice]) / p.weight_numel for p in SPEC.paths])
    np.testing.assert_allclose(w.grad.numpy(), expected, atol=1e-15)


def test_l1_penalty_in_jax_is_differentiable(x64):
    import jax
    import jax.numpy as jnp

    w_np = _weights()
    w = jnp.asarray(w_np)
    assert float(l1_penalty(SPEC, w)) == pytest.approx(_expected_penalty(w_np), rel=1e-12)
    grad = jax.grad(lambda v: l1_penalty(SPEC, v))(w)
    expected = np.concatenate([np.sign(w_np[p.weight_slice]) / p.weight_numel for p in SPEC.paths])
    np.testing.assert_allclose(np.asarray(grad), expected, atol=1e-15)


def _weights_with_small_share(shares):
    """Weights whose path k has exactly round(shares[k] * numel) entries of size 1e-3, the rest 1."""
    w = np.ones(SPEC.weight_numel)
    for p, share in zip(SPEC.paths, shares):
        n_small = round(share * p.weight_numel)
        w[p.weight_slice.start : p.weight_slice.start + n_small] = 1e-3
    return w


def test_path_scores_count_the_share_of_small_weights_and_the_mean_magnitude():
    shares = np.linspace(0, 1, len(SPEC.paths))
    scores = path_scores(SPEC, _weights_with_small_share(shares))
    assert [s.index for s in scores] == list(range(len(SPEC.paths)))
    for s, p, share in zip(scores, SPEC.paths, shares):
        n_small = round(share * p.weight_numel)
        assert s.fraction_below == n_small / p.weight_numel
        assert s.mean_abs == pytest.approx((n_small * 1e-3 + p.weight_numel - n_small) / p.weight_numel)
        assert (s.interaction.ir_in1, s.interaction.ir_in2, s.interaction.ir_out) == (p.ir_in1, p.ir_in2, p.ir_out)


def test_group_scores_pool_paths_with_the_same_irreps():
    spec = TensorProductSpec.cgtp("1x0e + 3x0e", "1x0e", "1x0e", mode="uvw")  # two 0e x 0e -> 0e paths
    w = np.array([1e-3, 1.0, 1e-3, 1e-3])  # path 0: 1 weight (small); path 1: 3 weights (2 small)
    (pooled,) = group_scores(path_scores(spec, w)).values()
    assert pooled.numel == 4
    assert pooled.fraction_below == pytest.approx(3 / 4)
    assert pooled.mean_abs == pytest.approx(np.mean(np.abs(w)))


def test_sparsity_sweep_counts_the_paths_whose_weights_fall_below_each_threshold():
    scale = np.geomspace(1e-4, 1.0, len(SPEC.paths))
    w = np.concatenate([np.full(p.weight_numel, s) for p, s in zip(SPEC.paths, scale)])
    thresholds = [0.0, *(scale * 1.0001), 10.0]
    rows = sparsity_sweep(SPEC, w, thresholds)
    fractions = [f for _, f in rows]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    n = len(SPEC.paths)
    assert fractions[1:-1] == pytest.approx([(k + 1) / n for k in range(n)])


def test_keep_mask_accepts_masks_scores_and_numbers_and_checks_the_length():
    n = len(SPEC.paths)
    mask = _mask()
    np.testing.assert_array_equal(keep_mask(SPEC, mask), mask)
    values = np.linspace(0, 1, n)
    np.testing.assert_array_equal(keep_mask(SPEC, values, threshold=0.5), values < 0.5)
    scores = [PathScore(k, None, 1, float(v), 0.0) for k, v in enumerate(values) if k % 2]
    expected = np.ones(n, dtype=bool)
    expected[1::2] = values[1::2] < 0.5
    np.testing.assert_array_equal(keep_mask(SPEC, scores), expected)
    with pytest.raises(ValueError, match=f"one entry per path \\({n}\\)"):
        keep_mask(SPEC, [True] * (n + 1))


# -- prune_spec and the weight map -------------------------------------------------------------------


def test_prune_keeps_the_layout_and_maps_the_kept_weights():
    keep = _mask()
    pruned, weight_map = prune_spec(SPEC, keep)
    assert (pruned.irreps_in1, pruned.irreps_in2, pruned.irreps_out) == (SPEC.irreps_in1, SPEC.irreps_in2, SPEC.irreps_out)
    assert len(pruned.paths) == keep.sum() and weight_map.kept_paths == tuple(np.flatnonzero(keep))
    assert weight_map.new_numel == pruned.weight_numel < SPEC.weight_numel
    w = _weights(batch=(2,))
    new = weight_map.apply(w)
    for p_new, k in zip(pruned.paths, weight_map.kept_paths):
        np.testing.assert_array_equal(new[:, p_new.weight_slice], w[:, SPEC.paths[k].weight_slice])
    np.testing.assert_array_equal(weight_map.restore(new), _zeroed(w, keep))
    with pytest.raises(ValueError, match="unpruned layout"):
        weight_map.apply(new)


def test_prune_from_scores_drops_the_paths_with_mostly_small_weights():
    shares = np.where(np.arange(len(SPEC.paths)) % 3 == 0, 0.9, 0.1)
    pruned, weight_map = prune_spec(SPEC, path_scores(SPEC, _weights_with_small_share(shares)))
    assert weight_map.kept_paths == tuple(k for k in range(len(SPEC.paths)) if k % 3)


def test_prune_is_for_cgtp_only():
    with pytest.raises(ValueError, match="needs a cgtp spec"):
        prune_spec(TensorProductSpec.gtp("0e + 1o", "0e + 1o", "0e + 1o"), [True, False, True, True])


@pytest.mark.parametrize("backend, impl", _cgtp_implementations())
def test_pruned_tp_equals_the_original_with_the_pruned_weights_zeroed(backend, impl, request):
    if backend == "jax":
        request.getfixturevalue("x64")
    keep = _mask(seed=3)
    pruned, weight_map = prune_spec(SPEC, keep)
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((7, SPEC.irreps_in1.dim)), rng.standard_normal((7, SPEC.irreps_in2.dim))
    w = _weights(seed=5)
    harness = get_registry().harness(backend)
    tp = tpcore.build(pruned, backend=backend, impl=impl, dtype="float64")
    w_new = weight_map.apply(harness.asarray(w, "float64"))  # remapped in the backend's own arrays
    out = harness.to_numpy(tp(harness.asarray(x1, "float64"), harness.asarray(x2, "float64"), w_new))
    expected = reference(SPEC, x1, x2, _zeroed(w, keep))
    assert np.max(np.abs(out - expected)) <= TOL * np.max(np.abs(expected))
    assert np.max(np.abs(expected - reference(SPEC, x1, x2, w))) > 1e-3  # pruning changed something


def test_torch_module_is_pruned_with_its_trained_weights_carried_over():
    torch = pytest.importorskip("torch")
    module = tpcore.build(SPEC, backend="torch", dtype="float64")
    keep = _mask(seed=6)
    new, weight_map = prune_torch_module(module, keep)
    assert new.spec == prune_spec(SPEC, keep)[0] and new.strategy == module.strategy and new.dtype == torch.float64
    np.testing.assert_array_equal(new.weight.detach().numpy(), module.weight.detach().numpy()[weight_map.index])
    x1, x2 = torch.randn(5, SPEC.irreps_in1.dim, dtype=torch.float64), torch.randn(5, SPEC.irreps_in2.dim, dtype=torch.float64)
    zeroed = torch.tensor(_zeroed(module.weight.detach().numpy(), keep))
    expected = module(x1, x2, zeroed)
    out = new(x1, x2)
    assert (out - expected).abs().max().item() <= TOL * expected.abs().max().item()
    state = weight_map.apply_to_state_dict(module.state_dict())
    module_again = tpcore.build(new.spec, backend="torch", dtype="float64")
    module_again.load_state_dict(state)
    assert torch.equal(module_again.weight, new.weight)


def test_weight_map_moves_torch_and_jax_arrays_like_numpy(x64):
    torch = pytest.importorskip("torch")
    import jax.numpy as jnp

    _, weight_map = prune_spec(SPEC, _mask(seed=7))
    w = _weights(seed=8, batch=(3,))
    expected = weight_map.apply(w)
    t = weight_map.apply(torch.tensor(w))
    j = weight_map.apply(jnp.asarray(w))
    assert isinstance(t, torch.Tensor) and isinstance(j, jnp.ndarray)
    np.testing.assert_array_equal(t.numpy(), expected)
    np.testing.assert_array_equal(np.asarray(j), expected)
    np.testing.assert_array_equal(weight_map.restore(torch.tensor(expected)).numpy(), weight_map.restore(expected))
    np.testing.assert_array_equal(np.asarray(weight_map.restore(jnp.asarray(expected))), weight_map.restore(expected))


def test_benchmark_reports_both_timings_from_one_run():
    from tpcore.analysis.benchmark import benchmark_pruning, fully_connected_cgtp

    t = benchmark_pruning(fully_connected_cgtp(L=1, mul=2), backend="numpy", batch=8, repeat=2)
    assert (t.paths, t.kept_paths) == (4, 2)
    assert t.unpruned_s > 0 and t.pruned_s > 0 and t.speedup == t.unpruned_s / t.pruned_s
