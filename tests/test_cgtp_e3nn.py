"""cgtp specs reproduce e3nn's TensorProduct family with the same flat weights (float64)."""

import numpy as np
import pytest

from tpcore import TensorProductSpec, reference

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

TOL = 1e-10


@pytest.fixture(autouse=True)
def float64_default():
    # e3nn bakes its coupling constants in the default dtype when a module is built
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


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


@pytest.mark.parametrize("mode", ["uvw", "uvu", "uuw", "uuu", "uvuv"])
@pytest.mark.parametrize("has_weight", [True, False])
def test_every_mode_equals_e3nn(mode, has_weight):
    rng = np.random.default_rng(1)
    m = 3
    if mode == "uuw" and not has_weight:
        m = 1  # e3nn (and tpcore) sum over u into mul_out == 1
    irreps_in1 = f"{m}x0e + {m}x1o + {m}x2e"
    irreps_in2 = f"{m}x0e + {m}x1o"
    mul_out = m * m if mode == "uvuv" else m
    irreps_out = f"{mul_out}x0e + {mul_out}x1o + {mul_out}x1e + {mul_out}x2e + {mul_out}x3o"
    spec0 = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode=mode)
    instructions = [(p.i_in1, p.i_in2, p.i_out, mode, has_weight, 0.5 + k % 3) for k, p in enumerate(spec0.paths)]
    if mode == "uvw" and not has_weight:
        with pytest.raises(ValueError, match="has_weight must be True"):
            TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode=mode, instructions=instructions)
        return
    spec = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode=mode, instructions=instructions)
    module = o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, internal_weights=False, shared_weights=True)
    assert spec.weight_numel == module.weight_numel
    x1, x2, w = _inputs(spec, rng)
    expected = _e3nn(module, x1, x2, w if has_weight else None)
    got = reference(spec, x1, x2, w if has_weight else None)
    assert np.max(np.abs(got - expected)) <= TOL * max(1.0, np.max(np.abs(expected)))


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
