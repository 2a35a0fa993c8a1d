"""enable_tpcore: NequIP's e3nn tensor products become tpcore's, and the model computes what it did."""

import pytest

pytest.importorskip("nequip")

import torch  # noqa: E402
from e3nn import o3  # noqa: E402
from nequip_helpers import QUANTITIES, assert_close, batch, loss_and_grads, model, outputs, swapped  # noqa: E402

import tpcore.torch as tt  # noqa: E402
import tpcore_nequip  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return batch(2)


@pytest.fixture(scope="module")
def reference():
    return model()


def test_registered_as_a_nequip_modifier(reference):
    from nequip.model.modify_utils import get_all_modifiers
    from nequip.nn.model_modifier_utils import is_persistent_model_modifier, is_private_model_modifier

    modifier = get_all_modifiers(reference)["enable_tpcore"]
    assert not is_persistent_model_modifier(modifier)  # an acceleration: packaged models stay e3nn's
    assert not is_private_model_modifier(modifier)


def test_swaps_every_tensor_product(reference):
    names = sorted(tpcore_nequip.tensor_products(reference))
    expected = [f"model.func.layer{i}_convnet.{tp}" for i in range(2) for tp in ("conv.tp_scatter.tp", "equivariant_nonlin.mul")]
    assert names == sorted(expected + ["model.func.layer1_convnet.conv.sc"])
    modified = swapped(reference)
    assert not tpcore_nequip.tensor_products(modified)
    assert all(isinstance(modified.get_submodule(n), tt.TensorProduct) for n in names)
    assert [n for n, _ in modified.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert tpcore_nequip.enable_tpcore(modified) is modified  # applied twice: nothing left to do


def test_each_convolution_is_one_tpcore_op(reference):
    from tpcore_nequip.convolution import TpcoreTensorProductScatter

    modified = swapped(reference)
    for i in range(2):
        scatter = modified.get_submodule(f"model.func.layer{i}_convnet.conv.tp_scatter")
        assert isinstance(scatter, TpcoreTensorProductScatter)
        assert scatter.conv.strategy == "grouped" and scatter.conv.product is scatter.tp._tp
    unfused = swapped(reference, fuse=False)
    assert type(unfused.get_submodule("model.func.layer0_convnet.conv.tp_scatter")) is not TpcoreTensorProductScatter


@pytest.mark.parametrize("fuse", [True, False])
def test_equals_e3nn_nequip_in_float64(reference, data, fuse):
    """Energies, forces, stress and every parameter gradient of an energy + forces + stress loss."""
    expected, expected_grads = loss_and_grads(reference, data)
    actual, actual_grads = loss_and_grads(swapped(reference, fuse=fuse), data)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
    assert len(actual_grads) == len(expected_grads)
    for a, e in zip(actual_grads, expected_grads):
        assert_close(a, e)


def test_float32_model_matches_e3nn(data):
    reference = model("float32")
    expected, actual = outputs(reference, data), outputs(swapped(reference), data)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key], tol=1e-5)


def test_state_dict_loads_strictly_both_ways(reference, data):
    """A checkpoint of either loads into the other: NequIP rebuilds a checkpoint without the
    non-persistent modifiers (nequip-package, nequip-compile) and loads its state."""
    modified = swapped(reference)
    assert sorted(modified.state_dict()) == sorted(reference.state_dict())
    plain = model(seed=1)
    plain.load_state_dict(modified.state_dict(), strict=True)
    other = swapped(model(seed=2))
    other.load_state_dict(reference.state_dict(), strict=True)
    expected = outputs(reference, data)["total_energy"]
    assert_close(outputs(plain, data)["total_energy"], expected)
    assert_close(outputs(other, data)["total_energy"], expected)


@pytest.mark.parametrize("impl", ["dense", "folded"])
def test_impl_picks_the_implementation(reference, data, impl):
    modified = swapped(reference, impl=impl)
    converted = [m for m in modified.modules() if isinstance(m, tt.TensorProduct)]
    assert converted and all(m._tp.strategy == impl for m in converted)
    assert_close(outputs(modified, data)["forces"], outputs(reference, data)["forces"])


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="holds no e3nn o3.TensorProduct"):
        tpcore_nequip.enable_tpcore(torch.nn.Linear(2, 2))
    with pytest.raises(Exception, match="nosuch"):
        tpcore_nequip.enable_tpcore(torch.nn.Sequential(o3.FullyConnectedTensorProduct("2x0e", "0e", "0e")), impl="nosuch")
