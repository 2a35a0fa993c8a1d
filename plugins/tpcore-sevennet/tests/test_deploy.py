"""A patched SevenNet saves and deploys: deepcopy, pickle, torch.save of the whole model, and SevenNet's
serial LAMMPS TorchScript deploy, all with torch_geometric imported (it replaces torch.index_select
with a Python function, which TorchScript and pickling of a module calling it would trip on)."""

import copy
import io
import pickle
import types

import pytest

pytest.importorskip("sevenn")

import torch  # noqa: E402
import torch_geometric  # noqa: E402, F401

import sevenn._keys as KEY  # noqa: E402
from sevenn.train.dataload import unlabeled_atoms_to_graph  # noqa: E402
from sevennet_helpers import QUANTITIES, assert_close, outputs, structures  # noqa: E402

from tpcore_sevennet import deploy, patch  # noqa: E402


def test_torch_geometric_replaced_index_select():
    assert isinstance(torch.index_select, types.FunctionType)


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "torch.save"])
def test_patched_sevennet_survives_copies(small, small_e3nn, how):
    reference, patched = small
    if how == "deepcopy":
        copied = copy.deepcopy(patched)
    elif how == "pickle":
        copied = pickle.loads(pickle.dumps(patched))
    else:
        buffer = io.BytesIO()
        torch.save(patched, buffer)
        buffer.seek(0)
        copied = torch.load(buffer, weights_only=False)
    atoms, cutoff = structures()[0], small_e3nn[1]["cutoff"]
    expected, actual = outputs(reference, atoms, cutoff), outputs(copied, atoms, cutoff)
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, small_e3nn):
    """The small SevenNet as a SevenNet checkpoint file (what ``sevenn get_model`` deploys)."""
    model, config = small_e3nn
    path = tmp_path_factory.mktemp("sevennet") / "checkpoint_small.pth"
    torch.save({"config": config, "model_state_dict": model.state_dict(), "time": "test", "hash": "test"}, path)
    return path


def pair_e3gnn(model, atoms, cutoff, type_map):
    """What LAMMPS' pair style e3gnn (sevenn/pair_e3gnn/pair_e3gnn.cpp) does with a deployed model:
    type indices and edge vectors in, the energy's gradient wrt the edge vectors gathered into
    forces and the virial."""
    g = unlabeled_atoms_to_graph(atoms, cutoff)
    src, dst = (torch.as_tensor(i) for i in g[KEY.EDGE_IDX])
    edge_vec = torch.tensor(g[KEY.EDGE_VEC], dtype=torch.float32, requires_grad=True)
    n = torch.tensor([len(atoms)])
    out = model({KEY.NODE_FEATURE: torch.tensor([type_map[int(z)] for z in atoms.numbers]),
                 KEY.EDGE_IDX: torch.stack([src, dst]), KEY.EDGE_VEC: edge_vec, KEY.NUM_ATOMS: n, KEY.NLOCAL: n})  # fmt: skip
    energy = out[KEY.PRED_TOTAL_ENERGY].squeeze()
    (de_dr,) = torch.autograd.grad(energy, edge_vec)
    forces = torch.zeros(len(atoms), 3).index_add_(0, src, de_dr).index_add_(0, dst, -de_dr)
    r = edge_vec.detach()
    voigt = torch.cat([r * de_dr, (r[:, 0] * de_dr[:, 1])[:, None], (r[:, 1] * de_dr[:, 2])[:, None], (r[:, 2] * de_dr[:, 0])[:, None]], 1)
    return {"energy": energy.detach(), "forces": forces, "virial": -voigt.sum(0), "atomic_energy": out[KEY.ATOMIC_ENERGY].detach()}


def test_deployed_sevennet_equals_eager_and_sevennets_own_deploy(checkpoint, tmp_path):
    from sevenn.scripts.deploy import deploy as sevenn_deploy
    from sevenn.util import load_checkpoint

    cp = load_checkpoint(str(checkpoint))
    cutoff, type_map = cp.config[KEY.CUTOFF], cp.config[KEY.TYPE_MAP]
    ours = deploy(checkpoint, tmp_path / "tpcore")
    with pytest.warns(UserWarning):  # SevenNet's note that no accelerator is used
        sevenn_deploy(str(checkpoint), str(tmp_path / "e3nn.pt"))
    files = {name: {k: "" for k in ("chemical_symbols_to_index", "cutoff", "num_species", "flashTP", "oeq", "model_type", "version", "dtype", "time")}
             for name in (ours, str(tmp_path / "e3nn.pt"))}  # fmt: skip
    deployed, theirs = (torch.jit.load(name, _extra_files=extra) for name, extra in files.items())
    ours_meta, their_meta = ({k: v for k, v in extra.items() if k != "time"} for extra in files.values())
    assert ours_meta == their_meta and ours_meta["cutoff"] == str(cutoff).encode()
    assert "tpcore.torch.module" in str(deployed.inlined_graph) and "tpcore" not in str(theirs.inlined_graph)
    # the convolutions are tpcore's message-passing op: no SevenNet scatter left
    assert "tpcore_torch/convolution.py" in str(deployed.inlined_graph) and "scatter_reduce" not in str(deployed.inlined_graph)

    eager = patch(cp.build_model())
    eager.delete_module_by_key("force_output")
    eager.eval_type_map = False
    eager.set_is_batch_data(False)
    eager.eval()
    for atoms in structures():
        expected = pair_e3gnn(eager, atoms, cutoff, type_map)
        assert float(expected["forces"].abs().max()) > 1e-4
        for model in (deployed, theirs):
            actual = pair_e3gnn(model, atoms, cutoff, type_map)
            for key in expected:
                assert_close(actual[key], expected[key])
