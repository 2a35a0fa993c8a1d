"""convert(): tpcore's cgtp inside MACE computes e3nn's MACE, in float64 to 1e-10."""

import copy
import io
import pickle

import pytest

pytest.importorskip("mace")

import torch  # noqa: E402
from e3nn import o3  # noqa: E402
from mace_helpers import assert_close, batch_of, frames, model, outputs  # noqa: E402

import tpcore.torch as tt  # noqa: E402
from tpcore_mace import convert  # noqa: E402
from tpcore_mace.convert import MACEConvolution  # noqa: E402

QUANTITIES = ("energy", "forces", "virials", "stress")


@pytest.fixture(scope="module")
def batch():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield batch_of(frames())
    finally:
        torch.set_default_dtype(before)


def loss_and_grads(model_, batch):
    out = outputs(model_, batch)
    loss = (out["energy"] ** 2).sum() + (out["forces"] ** 2).sum() + (out["stress"] ** 2).sum()
    params = [p for p in model_.parameters() if p.requires_grad]
    return out, torch.autograd.grad(loss, params)


def e3nn_and_converted(fuse=True):
    reference = model("e3nn")
    return reference, convert(copy.deepcopy(reference), fuse=fuse)


def test_convert_swaps_every_tensor_product(float64):
    reference, converted = e3nn_and_converted()
    names = [n for n, m in reference.named_modules() if isinstance(m, o3.TensorProduct)]
    assert sorted(names) == sorted(f"interactions.{i}.{tp}" for i in range(2) for tp in ("conv_tp", "skip_tp"))
    for i in range(2):
        block = converted.interactions[i]
        # the convolution runs as one op through MACE's conv_fusion call; the skip product alone
        assert isinstance(block.conv_tp, MACEConvolution) and block.conv_tp.strategy == "grouped" and block.conv_fusion
        assert isinstance(block.conv_tp.product, tt.TensorProduct) and isinstance(block.skip_tp, tt.TensorProduct)
    assert not any(isinstance(m, o3.TensorProduct) for m in converted.modules())
    assert [n for n, _ in reference.named_parameters()] == [n for n, _ in converted.named_parameters()]


def test_checkpoints_load_strictly_between_tpcore_and_e3nn_mace(float64, batch):
    """A checkpoint of the converted model goes back into plain e3nn MACE (MACE pins e3nn 0.4.4):
    the same keys, e3nn's generated-code constants included, and the same outputs after loading."""
    reference, converted = e3nn_and_converted()
    with torch.no_grad():
        for p in converted.parameters():
            p.add_(0.01 * torch.randn_like(p))  # trained on tpcore
    state = converted.state_dict()
    assert list(state) == list(reference.state_dict())
    reference.load_state_dict(state, strict=True)
    converted.load_state_dict(reference.state_dict(), strict=True)
    expected, actual = outputs(reference, batch), outputs(converted, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "product-only"])
def test_converted_mace_equals_e3nn_mace(float64, batch, fuse):
    reference, converted = e3nn_and_converted(fuse)
    expected, expected_grads = loss_and_grads(reference, batch)
    actual, actual_grads = loss_and_grads(converted, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
    assert len(actual_grads) == len(expected_grads)
    for a, e in zip(actual_grads, expected_grads):
        assert_close(a, e)


def test_converted_mace_trains_like_e3nn_mace(float64, batch):
    """Three Adam steps from the same weights: the same parameters after each (the learning curve)."""
    models = e3nn_and_converted()
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    for _ in range(3):
        for m, opt in zip(models, opts):
            opt.zero_grad()
            out = outputs(m, batch)
            ((out["energy"] ** 2).sum() + (out["forces"] ** 2).sum()).backward()
            opt.step()
    for (name, a), (_, b) in zip(models[1].named_parameters(), models[0].named_parameters()):
        assert_close(a, b)


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="holds no e3nn o3.TensorProduct"):
        convert(torch.nn.Linear(2, 2))


# -- deployability: what MACE does to a model (save whole, deep-copy for SWA, compile) --------------

@pytest.mark.parametrize("how", ["deepcopy", "pickle", "torch.save"])
def test_converted_mace_survives_copies(float64, batch, how):
    reference, converted = e3nn_and_converted()
    if how == "deepcopy":
        copied = copy.deepcopy(converted)
    elif how == "pickle":
        copied = pickle.loads(pickle.dumps(converted))
    else:
        buffer = io.BytesIO()
        torch.save(converted, buffer)
        buffer.seek(0)
        copied = torch.load(buffer, weights_only=False)
    expected, expected_grads = loss_and_grads(reference, batch)
    actual, actual_grads = loss_and_grads(copied, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
    for a, e in zip(actual_grads, expected_grads):
        assert_close(a, e)


def test_converted_mace_compiles(float64, batch):
    from mace.tools.compile import prepare

    reference = model("e3nn")
    # MACE's recipe: build inside prepare (e3nn's TorchScript codegen off), then compile the whole
    # graph. aot_eager traces what inductor would get (Dynamo, AOT autograd, double backward for
    # forces) without minutes of C++ compilation.
    compiled = torch.compile(prepare(lambda: convert(model("e3nn")))(), fullgraph=True, backend="aot_eager")
    expected = outputs(reference, batch)
    actual = outputs(compiled, batch, positions_require_grad=True)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])


@pytest.mark.parametrize("variant", ["cgtp", "s2grid"])
def test_converted_mace_scripts_as_mace_deploys_it(float64, batch, variant):
    """MACE's deploy (``mace_create_lammps_model``, ASE's calculator with compile_mode=None) scripts the
    whole model with e3nn's ``jit.compile``: the fused convolutions script with it."""
    from e3nn.util import jit

    if variant == "cgtp":
        reference, converted = e3nn_and_converted()
    else:
        reference = model("s2grid")
        converted = copy.deepcopy(reference)
    scripted = jit.compile(converted)
    expected, actual = outputs(reference, batch), outputs(scripted, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
