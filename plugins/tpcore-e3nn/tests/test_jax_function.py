"""The e3nn-jax implementation as an object: it pickles, deep-copies and names inputs of the wrong type."""

import copy
import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("e3nn_jax")

import jax.numpy as jnp  # noqa: E402

import tpcore  # noqa: E402
from tpcore import TensorProductSpec, reference  # noqa: E402

SPEC = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o + 2x1e", mode="uvu")


@pytest.fixture(autouse=True)
def x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def inputs(seed=0, n=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, SPEC.irreps_in1.dim)), rng.normal(size=(n, SPEC.irreps_in2.dim)),
            rng.normal(size=(n, SPEC.weight_numel)))  # fmt: skip


def test_pickle_and_deepcopy_rebuild_the_jitted_function():
    from tpcore_e3nn.jax_function import E3nnJaxTensorProduct

    tp = tpcore.build(SPEC, backend="jax", impl="e3nn_jax", dtype="float64", device="cpu:0")
    x1, x2, w = (jnp.asarray(a) for a in inputs())
    out = tp(x1, x2, w)
    np.testing.assert_allclose(out, reference(SPEC, *inputs()), atol=1e-10)
    for clone in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        assert type(clone) is E3nnJaxTensorProduct and clone.spec == SPEC and clone.dtype == np.float64
        assert clone.device == jax.devices("cpu")[0]
        np.testing.assert_array_equal(clone(x1, x2, w), out)
        np.testing.assert_array_equal(jax.vmap(clone)(x1, x2, w), out)  # per-edge weights, one edge per call
        grad = jax.jit(jax.grad(lambda w: jnp.sum(clone(x1, x2, w) ** 2)))(w)
        assert grad.shape == w.shape


@pytest.mark.parametrize("bad, described", [([1.0], "a builtins.list"), (None, "None")])
def test_non_arrays_are_named(bad, described):
    tp = tpcore.build(SPEC, backend="jax", impl="e3nn_jax", dtype="float64")
    _, x2, w = inputs()
    with pytest.raises(TypeError, match=rf"^x1 is {described}, but this tensor product runs on jax arrays"):
        tp(bad, x2, w)
