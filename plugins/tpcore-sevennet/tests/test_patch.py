"""patch(): SevenNet with its products on tpcore computes e3nn SevenNet's energy, forces and stress."""

import copy

import pytest

pytest.importorskip("sevenn")

import sevenn._keys as KEY  # noqa: E402
from sevenn.nn.convolution import IrrepsScatterGatterFusedConvolution  # noqa: E402
import torch  # noqa: E402
from e3nn import o3  # noqa: E402
from sevennet_helpers import QUANTITIES, assert_close, build_float64, build_small, graph, outputs, structures  # noqa: E402

import tpcore.torch as tt  # noqa: E402
from tpcore_sevennet import patch  # noqa: E402
from tpcore_sevennet.convolution import FusedConvolution  # noqa: E402


def products(model, cls):
    """The products of class ``cls``, by the name of the layer attribute holding them (a fused
    convolution's product is its ``product``, written in the state_dict without that prefix)."""
    found = []
    for n, m in model.named_modules():
        if isinstance(m, FusedConvolution):
            m = m.product
        if isinstance(m, cls) and n.rsplit(".", 1)[-1] in ("convolution", "fc_tensor_product"):
            found.append(n)
    return sorted(found)


def test_patch_swaps_every_convolution_and_self_connection_product(small):
    reference, patched = small
    names = products(reference, o3.TensorProduct)
    assert names == sorted(f"{t}_{layer}" for t in range(3) for layer in ("convolution.convolution", "self_connection_intro.fc_tensor_product"))
    assert products(patched, tt.TensorProduct) == names and not products(patched, o3.TensorProduct)
    for t in range(3):  # gather, product and scatter: one tpcore op, SevenNet's fused-convolution seam
        layer = patched.get_submodule(f"{t}_convolution")
        assert type(layer) is IrrepsScatterGatterFusedConvolution and layer.convolution.strategy == "grouped"
    # (e3nn's generated-code constants aside: a deep copy of e3nn's module adds one of its own)
    keys = [sorted(k for k in m.state_dict() if "._compiled_main" not in k) for m in (patched, reference)]
    assert keys[0] == keys[1]
    # e3nn's gate keeps its own elementwise product; parameters keep their names and values
    assert isinstance(patched.get_submodule("0_equivariant_gate.gate.mul"), o3.TensorProduct)
    assert [(n, p.shape) for n, p in reference.named_parameters()] == [(n, p.shape) for n, p in patched.named_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), patched.parameters()))


def test_patched_sevennet_equals_e3nn_sevennet(small, small_e3nn):
    reference, patched = small
    cutoff = small_e3nn[1]["cutoff"]
    for atoms in structures():
        expected, actual = outputs(reference, atoms, cutoff), outputs(patched, atoms, cutoff)
        assert float(expected["forces"].abs().max()) > 1e-4 and float(expected["stress"].abs().max()) > 1e-5
        for key in QUANTITIES:
            assert_close(actual[key], expected[key])


def test_patched_sevennet_equals_e3nn_in_float64(small_e3nn):
    """The whole model in float64 (:func:`build_float64`), in training mode: energy, forces, stress
    and every parameter's gradient of an energy + forces + stress loss (through the forces' double
    backward), to float64's tolerance."""
    reference = build_float64(small_e3nn[1])
    patched = patch(copy.deepcopy(reference))
    assert all(type(patched.get_submodule(f"{t}_convolution")) is IrrepsScatterGatterFusedConvolution for t in range(3))
    cutoff = small_e3nn[1]["cutoff"]
    for atoms in structures():
        results = []
        for model in (reference, patched):
            model.set_is_batch_data(False)
            model.train()
            out = model(graph(atoms, cutoff, torch.float64))
            values = [out[key] for key in QUANTITIES.values()]
            loss = sum((v**2).sum() for v in values)
            params = [p for p in model.parameters() if p.requires_grad]
            results.append([*values, *torch.autograd.grad(loss, params)])
        assert results[0][0].dtype == torch.float64 and float(results[0][1].abs().max()) > 1e-4
        assert len(results[0]) == len(results[1]) > 10
        for expected, actual in zip(*results):
            assert_close(actual, expected, "float64")


def test_patched_sevennet_loss_and_gradients_equal_e3nn(small_e3nn):
    """SevenNet's own training losses (energy, force, stress) and every parameter's gradient on a batch."""
    from sevenn.train.loss import get_loss_functions_from_config
    from torch_geometric.data import Batch

    reference = build_small(small_e3nn[1])
    patched = patch(copy.deepcopy(reference))
    cutoff = small_e3nn[1]["cutoff"]
    graphs = [graph(a, cutoff) for a in structures()]
    labelled = []
    for g, atoms in zip(graphs, structures()):  # labels a little off the model's own outputs
        out = outputs(reference, atoms, cutoff)
        g[KEY.ENERGY] = out["energy"].reshape(1) + 0.1
        g[KEY.FORCE] = out["forces"] * 0.9
        g[KEY.STRESS] = out["stress"].reshape(1, 6) * 1.1
        labelled.append(g)
    losses = get_loss_functions_from_config(small_e3nn[1])
    results = []
    for model in (reference, patched):
        model.set_is_batch_data(True)
        model.train()
        out = model(Batch.from_data_list(labelled))
        loss = sum(w * fn.get_loss(out, model) for fn, w in losses)
        params = [p for p in model.parameters() if p.requires_grad]
        results.append([loss, *torch.autograd.grad(loss, params)])
    assert len(results[0]) == len(results[1]) > 10
    for expected, actual in zip(*results):
        assert_close(actual, expected)


def test_state_dict_loads_both_ways(small, small_e3nn):
    reference, patched = small
    fresh_e3nn, fresh_tpcore = build_small(small_e3nn[1], seed=1), patch(build_small(small_e3nn[1], seed=2))
    fresh_e3nn.load_state_dict(patched.state_dict(), strict=True)
    fresh_tpcore.load_state_dict(reference.state_dict(), strict=True)
    atoms, cutoff = structures()[1], small_e3nn[1]["cutoff"]
    expected = outputs(reference, atoms, cutoff)
    for model in (fresh_e3nn, fresh_tpcore):
        actual = outputs(model, atoms, cutoff)
        for key in QUANTITIES:
            assert_close(actual[key], expected[key])


def test_pretrained_sevennet_0_calculator_on_tpcore():
    """SevenNet-0 (shipped in the sevenn wheel) through SevenNet's ASE calculator, float32."""
    from sevenn.calculator import SevenNetCalculator
    from sevenn.util import load_checkpoint

    with pytest.warns(UserWarning):  # SevenNet's note that no accelerator is used
        e3nn_calc = SevenNetCalculator("7net-0", device="cpu")
        tpcore_calc = SevenNetCalculator(patch(load_checkpoint("7net-0").build_model()), file_type="model_instance", device="cpu")
    assert products(tpcore_calc.model, tt.TensorProduct) == [f"{t}_convolution.convolution" for t in range(5)]
    for atoms in structures():
        expected = {k: torch.tensor(e3nn_calc.get_property(k, atoms.copy())) for k in ("energy", "forces", "stress")}
        actual = {k: torch.tensor(tpcore_calc.get_property(k, atoms.copy())) for k in ("energy", "forces", "stress")}
        for key in expected:
            assert_close(actual[key], expected[key])


def test_patch_is_idempotent_and_reaches_layers_not_yet_built(small):
    from sevenn.nn.convolution import IrrepsConvolution

    reference, patched = small
    before = {n: id(m) for n, m in patched.named_modules()}
    assert {n: id(m) for n, m in patch(patched).named_modules()} == before
    convolutions = [f"{t}_convolution" for t in range(3)]
    params = [id(p) for c in convolutions for p in reference.get_submodule(c).parameters()]
    patch(reference)
    assert [id(p) for c in convolutions for p in reference.get_submodule(c).parameters()] == params  # the fused layers share them
    lazy = IrrepsConvolution(o3.Irreps("4x0e + 4x1o"), o3.Irreps("0e + 1o"), o3.Irreps("4x0e + 4x1o"), [4, 8])
    assert patch(lazy).convolution is None
    lazy.instantiate()
    assert isinstance(lazy.convolution, tt.TensorProduct) and lazy.convolution.weight_numel == lazy.weight_nn_kwargs["hs"][-1]


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="holds no SevenNet IrrepsConvolution"):
        patch(torch.nn.Linear(2, 2))
