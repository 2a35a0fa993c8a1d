"""Shared pieces of the tpcore-nequip tests: small NequIP models and batches of rattled Cu-Au cells."""

import copy

import numpy as np
import torch

TOL64 = 1e-10
TYPES = ["Cu", "Au"]
#: two layers: the first has the convolution and the gate, the second the self-connection too
CONFIG = dict(seed=0, r_max=4.0, type_names=TYPES, num_layers=2, l_max=2, num_features=8, avg_num_neighbors=20.0)
QUANTITIES = ("total_energy", "forces", "stress")


def model(model_dtype="float64", **overrides):
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    return NequIPGNNModel(**(CONFIG | {"model_dtype": model_dtype} | overrides))


def swapped(reference, **modifier_options):
    """A deep copy of ``reference`` modified as NequIP applies modifiers named in a config."""
    from nequip.model import modify

    return modify(copy.deepcopy(reference), [{"modifier": "enable_tpcore", **modifier_options}])


def batch(n_frames=2, seed=0, r_max=CONFIG["r_max"], types=TYPES):
    """``n_frames`` periodic fcc cells of growing size, rattled, a quarter of the atoms Au (if a type)."""
    import ase.build
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    to_types = ChemicalSpeciesToAtomTypeMapper(model_type_names=types)
    frames = []
    for i in range(n_frames):
        atoms = ase.build.bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1 + i))
        if "Au" in types:
            atoms.symbols[::4] = "Au"
        atoms.rattle(0.1, seed=seed + i)
        frames.append(to_types(compute_neighborlist_(from_ase(atoms), r_max=r_max)))
    return AtomicDataDict.batched_from_list(frames)


def outputs(model_, data):
    return model_({k: v.clone() for k, v in data.items()})


def loss_and_grads(model_, data):
    """The model's outputs and the gradients of an energy + forces + stress loss wrt its parameters."""
    out = outputs(model_, data)
    loss = sum((out[k] ** 2).sum() for k in QUANTITIES)
    params = [p for p in model_.parameters() if p.requires_grad]
    return out, torch.autograd.grad(loss, params, allow_unused=True)


def assert_close(actual, expected, tol=TOL64):
    assert (actual is None) == (expected is None)
    if actual is None:
        return
    actual, expected = actual.detach().double().numpy(), expected.detach().double().numpy()
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    err = float(np.abs(actual - expected).max(initial=0.0))
    assert err <= tol * scale, f"max difference {err:.3g} > {tol:g} * {scale:.3g}"
