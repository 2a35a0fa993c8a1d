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
from tpcore_mace import convert, e3nn_spec_arguments, from_e3nn  # noqa: E402

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


def e3nn_and_converted():
    reference = model("e3nn")
    return reference, convert(copy.deepcopy(reference))


def test_convert_swaps_every_tensor_product(float64):
    reference, converted = e3nn_and_converted()
    names = [n for n, m in reference.named_modules() if isinstance(m, o3.TensorProduct)]
    assert sorted(names) == sorted(f"interactions.{i}.{tp}" for i in range(2) for tp in ("conv_tp", "skip_tp"))
    assert all(isinstance(converted.get_submodule(n), tt.TensorProduct) for n in names)
    assert not any(isinstance(m, o3.TensorProduct) for m in converted.modules())
    assert [n for n, _ in reference.named_parameters()] == [n for n, _ in converted.named_parameters()]


def test_converted_mace_equals_e3nn_mace(float64, batch):
    reference, converted = e3nn_and_converted()
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


@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
def test_from_e3nn_recovers_the_normalization(float64, irrep_normalization, path_normalization):
    e = o3.FullyConnectedTensorProduct(
        "2x0e + 3x1o + 1x2e", "1x0e + 2x1o", "2x0e + 2x1o + 1x2e + 1x1e",
        irrep_normalization=irrep_normalization, path_normalization=path_normalization,
    )  # fmt: skip
    args = e3nn_spec_arguments(e)
    assert (args["irrep_normalization"], args["path_normalization"]) == (irrep_normalization, path_normalization)
    tp = from_e3nn(e)
    x, y = torch.randn(5, e.irreps_in1.dim), torch.randn(5, e.irreps_in2.dim)
    assert_close(tp(x, y), e(x, y))


def test_from_e3nn_keeps_custom_path_weights_and_variances(float64):
    irreps = ("3x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o")
    instructions = [(0, 0, 0, "uvw", True, 0.3), (1, 1, 0, "uvw", True, 2.0), (1, 0, 1, "uvw", True), (0, 1, 1, "uvw", True, 0.7)]
    e = o3.TensorProduct(*irreps, instructions, in1_var=[1.0, 2.0], out_var=[0.5, 1.5])
    args = e3nn_spec_arguments(e)
    assert (args["irrep_normalization"], args["path_normalization"]) == ("none", "none")
    tp = from_e3nn(e)
    x, y = torch.randn(7, e.irreps_in1.dim), torch.randn(7, e.irreps_in2.dim)
    assert_close(tp(x, y), e(x, y))


def test_from_e3nn_per_edge_weights(float64):
    e = o3.TensorProduct("4x0e + 4x1o", "0e + 1o + 2e", "4x0e + 4x1o + 4x1o + 4x2e",
                         [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True),
                          (1, 0, 2, "uvu", True), (1, 2, 2, "uvu", True), (0, 2, 3, "uvu", True)],
                         shared_weights=False, internal_weights=False)  # fmt: skip
    tp = from_e3nn(e)
    x, y, w = torch.randn(6, e.irreps_in1.dim), torch.randn(6, e.irreps_in2.dim), torch.randn(6, e.weight_numel)
    assert_close(tp(x, y, w), e(x, y, w))


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="holds no e3nn o3.TensorProduct"):
        convert(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="must be an e3nn o3.TensorProduct"):
        from_e3nn(torch.nn.Linear(2, 2))


# -- deployability: what MACE does to a model (save whole, deep-copy for SWA, compile) --------------

# Expected to fail until tpcore's deployable torch modules land (issue 14, item 1); not strict, so
# they turn green then and the marks can go.
_NOT_COPYABLE = pytest.mark.xfail(reason="tpcore.torch modules cannot be pickled yet: cannot pickle 'module' object", strict=False)
_NOT_COMPILABLE = pytest.mark.xfail(
    reason="Dynamo cannot trace tpcore/execute.py with per-edge weights (list item assignment)", strict=False
)


@_NOT_COPYABLE
@pytest.mark.parametrize("how", ["deepcopy", "pickle", "torch.save"])
def test_converted_mace_survives_copies(float64, batch, how):
    _, converted = e3nn_and_converted()
    if how == "deepcopy":
        copied = copy.deepcopy(converted)
    elif how == "pickle":
        copied = pickle.loads(pickle.dumps(converted))
    else:
        buffer = io.BytesIO()
        torch.save(converted, buffer)
        buffer.seek(0)
        copied = torch.load(buffer, weights_only=False)
    expected, expected_grads = loss_and_grads(converted, batch)
    actual, actual_grads = loss_and_grads(copied, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
    for a, e in zip(actual_grads, expected_grads):
        assert_close(a, e)


@_NOT_COMPILABLE
def test_converted_mace_compiles(float64, batch):
    from mace.tools.compile import prepare

    reference = model("e3nn")
    # MACE's recipe: build inside prepare (e3nn's TorchScript codegen off), then compile
    compiled = torch.compile(prepare(lambda: convert(model("e3nn")))(), fullgraph=True)
    expected = outputs(reference, batch)
    actual = outputs(compiled, batch)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
