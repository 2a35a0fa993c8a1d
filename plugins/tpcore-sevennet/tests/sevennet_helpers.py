"""Shared pieces of the tpcore-sevennet tests: a small SevenNet, a few structures, outputs, tolerances."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from ase.build import bulk

import sevenn._keys as KEY
from sevenn.atom_graph_data import AtomGraphData
from sevenn.train.dataload import unlabeled_atoms_to_graph
from tpcore.testing import TOLERANCES

QUANTITIES = {"energy": KEY.PRED_TOTAL_ENERGY, "forces": KEY.PRED_FORCE, "stress": KEY.PRED_STRESS}


def small_config() -> dict:
    """SevenNet-0's configuration (species, shifts, scales, radial basis) shrunk to 8 channels and
    3 layers, with parity and nequip-style self-connections so that both patched product kinds and
    odd irreps are exercised."""
    from sevenn.util import load_checkpoint

    config = load_checkpoint("7net-0").config
    config.update(channel=8, irreps_manual=False, num_convolution_layer=3, self_connection_type="nequip",
                  is_parity=True, weight_nn_hidden_neurons=[16, 16])  # fmt: skip
    # SevenNet-0 stores its denominators in its weights (the config says 0.0): about the square root of the neighbour count here
    config[KEY.CONV_DENOMINATOR] = 5.0
    return config


def build_small(config: dict, seed: int = 0):
    from sevenn.model_build import build_E3_equivariant_model

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_E3_equivariant_model(copy.deepcopy(config))


def build_float64(config: dict, seed: int = 0):
    """The SevenNet of ``config`` in float64 throughout: built in float64, and its one-hot species
    embedding (float32 whatever the model's dtype) cast to float64 by a forward hook. Feed it
    :func:`graph` ``(..., dtype=torch.float64)``."""
    from sevenn.nn.node_embedding import OnehotEmbedding

    def to_float64(module, args, data):
        for key in (module.key_output, module.key_additional_output):
            if key is not None:
                data[key] = data[key].double()
        return data

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = build_small(config, seed)
    finally:
        torch.set_default_dtype(before)
    for m in model.modules():
        if isinstance(m, OnehotEmbedding):
            m.register_forward_hook(to_float64)
    return model


def structures():
    """A strained, rattled rock-salt NaCl cell and diamond Si cell (8 atoms each, periodic)."""
    out = []
    for atoms in (bulk("NaCl", "rocksalt", a=5.4, cubic=True), bulk("Si", "diamond", a=5.3, cubic=True)):
        atoms.set_cell(np.asarray(atoms.cell) @ np.array([[1.02, 0.01, 0.0], [0.0, 0.99, 0.02], [0.0, 0.0, 1.01]]), scale_atoms=True)
        atoms.rattle(0.08, seed=len(out))
        out.append(atoms)
    return out


def graph(atoms, cutoff: float, dtype=None) -> AtomGraphData:
    g = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, cutoff))
    for key, value in list(g.items()) if dtype is not None else ():
        if torch.is_tensor(value) and value.is_floating_point():
            g[key] = value.to(dtype)
    return g


def outputs(model, atoms, cutoff: float) -> dict:
    """Energy, forces and stress of one structure, as SevenNet's ASE calculator computes them."""
    model.set_is_batch_data(False)
    out = model(graph(atoms, cutoff))
    return {name: out[key].detach() for name, key in QUANTITIES.items()}


def assert_close(actual, expected, dtype="float32"):
    """``|actual - expected| <= tol * max |expected|``, tol tpcore's conformance tolerance of ``dtype``.

    Relative to each quantity's own size: a small random SevenNet's forces are about 1e-3 eV/A.
    """
    actual, expected = np.asarray(actual.detach().double()), np.asarray(expected.detach().double())
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max(initial=0.0)) or 1.0
    err = float(np.abs(actual - expected).max(initial=0.0))
    assert err <= TOLERANCES[dtype] * scale, f"max difference {err:.3g} > {TOLERANCES[dtype]:g} * {scale:.3g}"
