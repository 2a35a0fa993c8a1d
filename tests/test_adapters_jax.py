"""tpcore.jax: e3nn_jax.IrrepsArray in and out, e3nn-jax's numbers and order, a pure function of weights."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
e3nn = pytest.importorskip("e3nn_jax")
legacy = pytest.importorskip("e3nn_jax.legacy")

import jax.numpy as jnp  # noqa: E402

import tpcore  # noqa: E402
import tpcore.jax as tj  # noqa: E402

TOL64 = 1e-10


@pytest.fixture(autouse=True)
def x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def normal(irreps, seed, batch=(4,)):
    return e3nn.normal(irreps, jax.random.PRNGKey(seed), batch, dtype=jnp.float64)


def assert_close(actual, expected, tol=TOL64):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= tol * max(np.abs(expected).max(), 1.0)


def test_tensor_product_is_e3nn_jax_tensor_product():
    """Unsorted inputs with repeated irreps: the regrouping order has to match too."""
    x1, x2 = normal("2x0e + 1x1o + 1x2e + 1x0o", 0), normal("1x1o + 0e + 1x2e", 1)
    expected, out = e3nn.tensor_product(x1, x2), tj.tensor_product(x1, x2)
    assert out.irreps == expected.irreps
    assert_close(out.array, expected.array)


def test_fully_connected_matches_legacy_functional_tp_with_the_same_flat_weights():
    irreps = ("2x0e + 1x1o + 1x2e + 1x0o", "1x1o + 0e + 1x2e", "3x0e + 2x1o + 1x2e + 1x0o + 1x1e")
    theirs = legacy.FunctionalFullyConnectedTensorProduct(*(e3nn.Irreps(i) for i in irreps))
    ours = tj.TensorProduct(*irreps)
    w = ours.init_weights(jax.random.PRNGKey(2), jnp.float64)
    x1, x2 = normal(irreps[0], 0), normal(irreps[1], 1)
    expected = jax.vmap(theirs.left_right, (None, 0, 0))(w, x1, x2)
    out = ours.apply(w, x1, x2)
    assert out.irreps == expected.irreps
    assert_close(out.array, expected.array)


def test_sorted_output_is_the_e3nn_jax_order():
    tp = tj.TensorProduct("1x0o + 1x1o", "1x0o + 1x1e", "1x0o + 1x0e + 1x1o + 1x1e", sort=True)
    assert str(tp.irreps_out) == "1x0e+1x0o+1x1o+1x1e"
    w = tp.init_weights(jax.random.PRNGKey(0), jnp.float64)
    x1, x2 = normal("1x0o + 1x1o", 0), normal("1x0o + 1x1e", 1)
    unsorted = tj.TensorProduct("1x0o + 1x1o", "1x0o + 1x1e", "1x0o + 1x0e + 1x1o + 1x1e").apply(w, x1, x2)
    out = tp.apply(w, x1, x2)
    for ir in ("0e", "0o", "1o", "1e"):
        assert_close(out.filter(keep=ir).array, unsorted.filter(keep=ir).array)


def test_per_edge_uvu_weights_match_the_reference_and_differentiate_under_jit():
    tp = tj.TensorProduct("3x0e + 2x1o", "0e + 1o", "3x0e + 2x1o + 2x1e", mode="uvu")
    x1, x2 = normal("3x0e + 2x1o", 0, (5,)), normal("0e + 1o", 1, (5,))
    w = jax.random.normal(jax.random.PRNGKey(3), (5, tp.weight_numel), jnp.float64)
    out = jax.jit(tp.apply)(w, x1, x2)
    expected = np.stack([tpcore.reference(tp.spec, np.asarray(x1.array[i]), np.asarray(x2.array[i]), np.asarray(w[i])) for i in range(5)])
    assert_close(out.array, expected)
    # cgtp is linear in the weights: the gradient of sum(g * out) wrt w[e] is (g * out_j(e_j)) summed
    g = np.linspace(-1, 1, out.array.size).reshape(out.array.shape)
    grad = jax.jit(jax.grad(lambda w: jnp.sum(g * tp.apply(w, x1, x2).array)))(w)
    basis = np.eye(tp.weight_numel)
    for e in (0, 4):
        expected_grad = [np.sum(g[e] * tpcore.reference(tp.spec, np.asarray(x1.array[e]), np.asarray(x2.array[e]), b)) for b in basis]
        assert_close(grad[e], expected_grad)


@pytest.mark.parametrize("variant", ["gtp", "s2grid"])
def test_gaunt_variant_on_spherical_harmonics_input(variant):
    tp = tj.TensorProduct("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 2x1o + 2x2e", variant=variant)
    x1, x2 = normal("2x0e + 2x1o + 2x2e", 0, (3,)), normal("0e + 1o + 2e", 1, (3,))
    w = jax.random.normal(jax.random.PRNGKey(3), (3, tp.weight_numel), jnp.float64)
    wide = np.concatenate([np.tile(np.asarray(x2.array[:, s]), (1, 2)) for s in tp.irreps_in2.slices()], axis=1)
    expected = np.stack([tpcore.reference(tp.spec, np.asarray(x1.array[i]), wide[i], np.asarray(w[i])) for i in range(3)])
    assert_close(tp.apply(w, x1, x2).array, expected)


def test_wrong_irreps_are_named():
    tp = tj.TensorProduct("2x0e + 1x1o", "0e + 1o", "2x0e + 1x1o", mode="uvu")
    with pytest.raises(ValueError, match=r"x2 has irreps 1x1o\+1x0e, but this tensor product expects 1x0e\+1x1o"):
        tp.apply(None, normal("2x0e + 1x1o", 0), normal("1o + 0e", 1))
    with pytest.raises(TypeError, match="x1 must be an e3nn_jax.IrrepsArray"):
        tp.apply(None, jnp.zeros((4, 5)), normal("0e + 1o", 1))
