"""tpcore.validation.flatten_call: the call check, broadcast and flattening every backend shares."""

import numpy as np
import pytest

from tpcore.reference import oracle
from tpcore.spec import TensorProductSpec
from tpcore.validation import flatten_call

SPEC = TensorProductSpec.cgtp("2x0e + 1x1o", "1x0e + 1x1o", "1x0e + 2x1o + 1x1e", mode="uvw")


def arrays(rng, x1_batch, x2_batch, w_batch=()):
    d1, d2, n = SPEC.irreps_in1.dim, SPEC.irreps_in2.dim, SPEC.weight_numel
    return rng.normal(size=x1_batch + (d1,)), rng.normal(size=x2_batch + (d2,)), rng.normal(size=w_batch + (n,))


@pytest.mark.parametrize(
    "x1_batch, x2_batch, w_batch",
    [((), (), ()), ((3, 1), (4,), ()), ((2, 1), (1, 5), (2, 5)), ((0,), (1,), ())],
    ids=["unbatched", "broadcast", "per-sample", "empty"],
)
def test_flat_inputs_unflatten_to_the_broadcast_result(x1_batch, x2_batch, w_batch):
    x1, x2, w = arrays(np.random.default_rng(0), x1_batch, x2_batch, w_batch)
    call, f1, f2, fw = flatten_call(SPEC, x1, x2, w, np, expected_dtype="float64")
    batch = np.broadcast_shapes(x1_batch, x2_batch, w_batch)
    assert call.batch_shape == batch and call.per_sample_weights == bool(w_batch)
    assert f1.shape == (call.batch_size, SPEC.irreps_in1.dim) and f2.shape == (call.batch_size, SPEC.irreps_in2.dim)
    assert fw.shape == ((call.batch_size,) if w_batch else ()) + (SPEC.weight_numel,)
    out = call.unflatten(oracle(SPEC, f1, f2, fw))
    assert out.shape == batch + (SPEC.irreps_out.dim,)
    expected = oracle(SPEC, *(np.broadcast_to(a, batch + a.shape[-1:]) for a in (x1, x2)),
                         np.broadcast_to(w, batch + w.shape[-1:]) if w_batch else w)  # fmt: skip
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_errors_name_the_argument_the_expected_and_the_actual():
    x1, x2, w = arrays(np.random.default_rng(1), (2,), (2,))
    with pytest.raises(ValueError, match=r'x2 has last dimension 3, but irreps_in2 "1x0e\+1x1o" has dimension 4'):
        flatten_call(SPEC, x1, x2[:, :3], w, np)
    with pytest.raises(TypeError, match="x1 has dtype float32, but this tensor product was built for float64"):
        flatten_call(SPEC, x1.astype(np.float32), x2, w, np, expected_dtype="float64")
    with pytest.raises(ValueError, match=r"batch shapes do not broadcast: x1 \(2,\), x2 \(3,\)"):
        flatten_call(SPEC, x1, np.zeros((3, 4)), w, np)


def test_dtypes_are_not_checked_without_an_expected_dtype():
    x1, x2, w = arrays(np.random.default_rng(2), (2,), (2,))
    call, *_ = flatten_call(SPEC, x1.astype(np.float32), x2, w, np)
    assert call.batch_shape == (2,)


def test_torch_tensors_flatten_with_the_torch_namespace():
    torch = pytest.importorskip("torch")
    x1, x2, w = (torch.as_tensor(a) for a in arrays(np.random.default_rng(3), (2, 1), (3,), (1, 3)))
    call, f1, f2, fw = flatten_call(SPEC, x1, x2, w, torch, expected_dtype="float64")
    assert call.batch_shape == (2, 3) and tuple(fw.shape) == (6, SPEC.weight_numel)
    assert tuple(call.unflatten(f1).shape) == (2, 3, SPEC.irreps_in1.dim)


WEIGHTLESS = TensorProductSpec.cgtp("2x0e", "1x0e", "2x0e", mode="uvu", instructions=[(0, 0, 0, "uvu", False)])


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_empty_weights_of_a_weightless_spec_follow_the_batch_on_every_backend(backend):
    """Empty weights are accepted as e3nn passes them, (0,) or (batch..., 0); empty weights of
    another batch are the same error on every backend, never a silent pass or a bare RuntimeError."""
    from tpcore.registry import build, get_registry

    pytest.importorskip(backend)
    harness = get_registry().harness(backend)
    tp = build(WEIGHTLESS, backend=backend, dtype="float32")
    x1, x2 = (harness.asarray(np.ones((3, d)), "float32") for d in (2, 1))
    expected = harness.to_numpy(tp(x1, x2, None))
    for shape in [(0,), (3, 0), (1, 0)]:
        np.testing.assert_array_equal(harness.to_numpy(tp(x1, x2, harness.asarray(np.zeros(shape), "float32"))), expected)
    with pytest.raises(ValueError, match=r"batch shapes do not broadcast: x1 \(3,\), x2 \(3,\), weights \(7,\)"):
        tp(x1, x2, harness.asarray(np.zeros((7, 0)), "float32"))
    with pytest.raises(ValueError, match=r"weights were given with shape \(5,\), but this cgtp spec has no weights"):
        tp(x1, x2, harness.asarray(np.zeros(5), "float32"))
