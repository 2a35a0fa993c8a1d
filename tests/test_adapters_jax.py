"""tpcore.jax: e3nn_jax.IrrepsArray in and out, e3nn-jax's numbers and order, a pure function of weights."""

import copy
import os
import pickle
import subprocess
import sys
import textwrap

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
    assert np.abs(actual - expected).max(initial=0.0) <= tol * max(np.abs(expected).max(initial=0.0), 1.0)


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


# -- per-edge weights: jit, vmap, first and second derivatives ----------------------------------------


def _reference_grads(spec, x1, x2, w, g):
    """Gradients of ``sum(g * reference)`` for per-sample ``w (N, numel)``, from unit vectors (cgtp is bilinear in x1, x2 and linear in w)."""
    ref = lambda a, b, c: tpcore.reference(spec, a, b, c)  # noqa: E731
    e1, e2, ew = np.eye(spec.irreps_in1.dim), np.eye(spec.irreps_in2.dim), np.eye(spec.weight_numel)
    return (
        np.einsum("zk,zik->zi", g, ref(e1[None], x2[:, None], w[:, None])),
        np.einsum("zk,zjk->zj", g, ref(x1[:, None], e2[None], w[:, None])),
        np.einsum("zk,zjk->zj", g, ref(x1[:, None], x2[:, None], ew[None])),
    )


def test_apply_with_per_edge_weights_under_vmap_and_second_derivatives():
    tp = tj.TensorProduct("3x0e + 2x1o", "0e + 1o", "3x0e + 2x1o + 2x1e", mode="uvu")
    n = 5
    x1, x2 = normal("3x0e + 2x1o", 0, (n,)), normal("0e + 1o", 1, (n,))
    w = jax.random.normal(jax.random.PRNGKey(3), (n, tp.weight_numel), jnp.float64)
    a1, a2, wn = np.asarray(x1.array), np.asarray(x2.array), np.asarray(w)
    expected = tpcore.reference(tp.spec, a1, a2, wn)
    mapped = jax.jit(jax.vmap(tp.apply))(w, x1, x2)  # one edge per call, with its own weights
    assert mapped.irreps == tp.irreps_out
    assert_close(mapped.array, expected)

    g, v = np.linspace(-1, 1, expected.size).reshape(expected.shape), np.cos(np.arange(a1.size)).reshape(a1.shape)

    def f(w, a1, a2, g):
        return jnp.sum(g * tp.apply(w, e3nn.IrrepsArray(x1.irreps, a1), e3nn.IrrepsArray(x2.irreps, a2)).array)

    @jax.jit
    def derivatives(w, a1, a2, g):
        first = jax.grad(f, argnums=(0, 1, 2))(w, a1, a2, g)
        per_edge = jax.vmap(jax.grad(f))(w, a1, a2, g)  # one edge per call: w (numel,), a1 (dim1,), ...
        # <grad_x1 f, v> = sum(g * tp(v, x2, w)): its derivatives are first derivatives at x1 = v.
        mixed = jax.grad(lambda w, a2: jnp.sum(jax.grad(f, argnums=1)(w, a1, a2, g) * v), argnums=(0, 1))(w, a2)
        return first, per_edge, mixed

    (gw, g1, g2), per_edge, mixed = derivatives(w, x1.array, x2.array, g)
    e1, e2, ew = _reference_grads(tp.spec, a1, a2, wn, g)
    assert_close(g1, e1)
    assert_close(g2, e2)
    assert_close(gw, ew)
    assert_close(per_edge, ew)
    _, mixed_x2, mixed_w = _reference_grads(tp.spec, v, a2, wn, g)
    assert_close(mixed[0], mixed_w)
    assert_close(mixed[1], mixed_x2)


# -- pickling and deep copies ------------------------------------------------------------------------


def test_adapter_pickles_and_deep_copies_without_its_built_functions():
    tp = tj.TensorProduct("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 2x1o + 2x2e", variant="s2grid",
                          device=jax.devices("cpu")[0])  # fmt: skip
    x1, x2 = normal("2x0e + 2x1o + 2x2e", 0, (3,)), normal("0e + 1o + 2e", 1, (3,))
    w = jax.random.normal(jax.random.PRNGKey(3), (3, tp.weight_numel), jnp.float64)
    out = tp.apply(w, x1, x2)  # builds its function
    for clone in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        assert type(clone) is tj.TensorProduct and clone.spec == tp.spec and clone.device == "cpu:0"
        assert clone.irreps_out == tp.irreps_out and clone.weight_numel == tp.weight_numel
        assert_close(clone.apply(w, x1, x2).array, out.array, 0.0)
        assert_close(jax.jit(clone.apply)(w, x1, x2).array, out.array)
    grad = jax.grad(lambda w: jnp.sum(clone.apply(w, x1, x2).array ** 2))(w)
    assert grad.shape == w.shape


def test_adapter_and_full_product_load_in_another_process(tmp_path):
    tp = tj.TensorProduct("2x0e + 1x1o", "0e + 1o", "2x0e + 1x1o + 1x1e", mode="uvu", device="cpu:0")
    x1, x2 = normal("2x0e + 1x1o", 0, (3,)), normal("0e + 1o", 1, (3,))
    w = jax.random.normal(jax.random.PRNGKey(3), (3, tp.weight_numel), jnp.float64)
    expected = np.asarray(jax.jit(tp.apply)(w, x1, x2).array)
    path = tmp_path / "adapter.pickle"
    path.write_bytes(pickle.dumps((tp, np.asarray(w), np.asarray(x1.array), np.asarray(x2.array), expected)))
    code = textwrap.dedent(
        f"""
        import pickle, jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        import e3nn_jax as e3nn, tpcore.jax as tj
        tp, w, a1, a2, expected = pickle.loads(open({str(path)!r}, "rb").read())
        x1, x2 = e3nn.IrrepsArray("2x0e + 1x1o", a1), e3nn.IrrepsArray("0e + 1o", a2)
        out = jax.jit(tp.apply)(w, x1, x2)
        assert out.irreps == tp.irreps_out
        assert np.abs(np.asarray(out.array) - expected).max() <= 1e-12
        jax.grad(lambda w: tp.apply(w, x1, x2).array.sum())(w)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TPCORE_BACKEND": ""}, timeout=120)


# -- tensor_product: e3nn_jax.tensor_product's arguments and zero flags ----------------------------


def assert_same_irreps_array(ours, theirs):
    assert ours.irreps == theirs.irreps and ours.zero_flags == theirs.zero_flags and ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    assert_close(ours.array, theirs.array)


X1, X2 = "2x0e + 1x1o + 1x2e + 1x0o + 1x1o", "1x1o + 0e + 1x2e"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"regroup_output": False},
        {"filter_ir_out": "0e + 1o + 3o"},
        {"filter_ir_out": ["1e", e3nn.Irrep("2e")], "regroup_output": False},
        {"filter_ir_out": e3nn.Irrep("0o")},
        {"irrep_normalization": "norm"},
        {"irrep_normalization": "none", "filter_ir_out": ("2o", "4e")},
    ],
    ids=["default", "no-regroup", "filter-string", "filter-list-no-regroup", "filter-irrep", "norm", "none-filtered"],
)
def test_tensor_product_takes_e3nn_jax_arguments(kwargs):
    x1, x2 = normal(X1, 0, (3,)), normal(X2, 1, (3,))
    assert_same_irreps_array(tj.tensor_product(x1, x2, **kwargs), e3nn.tensor_product(x1, x2, **kwargs))


def test_tensor_product_with_its_default_normalization_from_e3nn_jax_config():
    x1, x2 = normal("1x1o + 1x2e", 0, (2,)), normal("1x1e", 1, (2,))
    e3nn.config("irrep_normalization", "norm")
    try:
        assert_same_irreps_array(tj.tensor_product(x1, x2), e3nn.tensor_product(x1, x2))
    finally:
        e3nn.config("irrep_normalization", "component")
    with pytest.raises(ValueError, match="irrep_normalization must be one of 'component', 'norm', 'none'; got 'unit'"):
        tj.tensor_product(x1, x2, irrep_normalization="unit")


@pytest.mark.parametrize("regroup_output", [True, False])
def test_tensor_product_propagates_zero_flags(regroup_output):
    zero = e3nn.from_chunks("1o", [None], (), jnp.float64)
    y = e3nn.IrrepsArray("1o", jnp.array([0.0, 1.0, 0.0]))
    out = tj.tensor_product(zero, y, regroup_output=regroup_output)
    assert out.irreps == e3nn.Irreps("0e + 1e + 2e") and out.zero_flags == (True, True, True)
    # A flagged chunk merged with a live one by the regrouping, and a flagged chunk holding data:
    # e3nn-jax reads flagged chunks as zeros whatever they hold.
    partial = e3nn.from_chunks("1o + 0e + 1o", [None, jnp.ones((1, 1)), jnp.ones((1, 3))], (), jnp.float64)
    flagged = e3nn.IrrepsArray("1x1o + 1x2e", jnp.arange(8.0), zero_flags=(True, False))
    for a, b in ((partial, y), (flagged, normal("1o + 0e", 2, ())), (normal("2x0e", 3, (2,)), flagged)):
        theirs = e3nn.tensor_product(a, b, regroup_output=regroup_output)
        ours = tj.tensor_product(a, b, regroup_output=regroup_output)
        assert any(theirs.zero_flags) or regroup_output
        assert_same_irreps_array(ours, theirs)


def test_tensor_product_under_jit_keeps_zero_flags():
    """Zero flags are static: they pass between functions inside one trace (jit's own boundary drops them, in e3nn-jax too)."""
    flags = []

    @jax.jit
    def both(b):
        a = e3nn.from_chunks("1x1o + 1x0e", [None, jnp.ones(b.shape[:-1] + (1, 1))], b.shape[:-1], b.dtype)
        x2 = e3nn.IrrepsArray("1o + 1x2e", b)
        ours = tj.tensor_product(a, x2, filter_ir_out="1o + 1e + 2e + 2o")
        theirs = e3nn.tensor_product(a, x2, filter_ir_out="1o + 1e + 2e + 2o")
        flags.append((ours.zero_flags, theirs.zero_flags))
        return ours.array, theirs.array

    ours, theirs = both(normal("1o + 1x2e", 1, (2,)).array)
    assert flags == [((False, True, False, True),) * 2]
    assert_close(ours, theirs)


def test_tensor_product_of_irreps_gives_irreps():
    assert tj.tensor_product("1o", "1o", filter_ir_out=("1e",)) == e3nn.Irreps("1e")
    for a, b in (("2x1e + 2e", "2e"), ("1o + 0e + 1o", "0o + 2o")):
        for regroup in (True, False):
            expected = e3nn.tensor_product(a, b, regroup_output=regroup)
            assert tj.tensor_product(e3nn.Irreps(a), b, regroup_output=regroup) == expected


@pytest.mark.parametrize("regroup_output", [True, False])
def test_tensor_product_edge_cases(regroup_output):
    """Broadcast leading shapes, integer inputs, multiplicity-0 chunks and an output filtered to nothing."""
    cases = [
        (e3nn.IrrepsArray("2x0e", jnp.ones((4, 1, 2), jnp.int32)), normal("1o + 0o", 0, (5,)), {}),
        (e3nn.IrrepsArray("0x1o + 1x0e + 1x1e", jnp.ones(4)), normal("1o", 1, ()), {}),
        (normal("0e", 2, (3,)), normal("0o", 3, (3,)), {"filter_ir_out": "1e"}),
    ]
    for x1, x2, kwargs in cases:
        kwargs = {**kwargs, "regroup_output": regroup_output}
        assert_same_irreps_array(tj.tensor_product(x1, x2, **kwargs), e3nn.tensor_product(x1, x2, **kwargs))
