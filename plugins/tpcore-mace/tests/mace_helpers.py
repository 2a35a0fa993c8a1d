"""Shared pieces of the tpcore-mace tests: a tiny EMT batch and a tiny MACE in float64."""

import warnings

import numpy as np
import torch

from tpcore_mace import MACEConfig, build_mace, data

TOL64 = 1e-10
ATOMIC_NUMBERS = [29, 79]
CONFIG = MACEConfig(channels=4, max_L=2, max_ell=3, correlation=2, radial_MLP=(8, 8), MLP_irreps="4x0e")
#: two short trajectories: pure Cu and a Cu-Au alloy, both with a vacancy
SPEC = data.EMTDataSpec(n_configs=4, temperatures=(900.0,), equilibration_steps=5, stride=3, systems=(("Cu", 3.61), ("CuAu", 3.85)))


def frames():
    return data.generate(SPEC)


def batch_of(frames_, r_max=CONFIG.r_max):
    from mace.tools.utils import AtomicNumberTable

    from tpcore_mace.training import batches

    return batches(data.to_graphs(frames_, AtomicNumberTable(ATOMIC_NUMBERS), r_max), len(frames_))[0]


def model(variant, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_mace(variant, ATOMIC_NUMBERS, [-1.0, -2.0], 12.0, CONFIG, scale=0.7, shift=0.1, seed=seed)


def outputs(model_, batch, training=True, positions_require_grad=False):
    """Energies, forces, virials and stress of ``batch``; positions and cell get fresh leaves.

    A compiled MACE needs ``positions_require_grad``: the model's own ``requires_grad_`` on its
    input is not traced.
    """
    d = {k: (v.detach().clone() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in batch.to_dict().items()}
    d["positions"].requires_grad_(positions_require_grad)
    return model_(d, training=training, compute_force=True, compute_virials=True, compute_stress=True)


def assert_close(actual, expected, tol=TOL64):
    actual, expected = actual.detach().numpy(), expected.detach().numpy()
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1.0)
    err = float(np.abs(actual - expected).max())
    assert err <= tol * scale, f"max difference {err:.3g} > {tol:g} * {scale:.3g}"
