"""A short MACE training loop: Adam on an energy + force loss, with validation MAEs per epoch."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LossWeights:
    """``energy * mean((dE / N)^2) + forces * mean(dF^2)`` (eV/atom and eV/Angstrom)."""

    energy: float = 1.0
    forces: float = 10.0


def reference_energies(frames, atomic_numbers) -> np.ndarray:
    """Per-element reference energies E0 by least squares of the total energy on the composition."""
    from tpcore_mace.data import ENERGY_KEY

    counts = np.array([[np.sum(a.numbers == z) for z in atomic_numbers] for a in frames], dtype=float)
    energies = np.array([a.info[ENERGY_KEY] for a in frames])
    e0, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return e0


def scale_shift(graphs, frames, e0, atomic_numbers) -> tuple[float, float, float]:
    """(scale, shift, avg_num_neighbors): RMS force, mean interaction energy per atom, mean in-degree."""
    from tpcore_mace.data import ENERGY_KEY, FORCES_KEY

    per_atom = [(a.info[ENERGY_KEY] - sum(e0[atomic_numbers.index(z)] for z in a.numbers)) / len(a) for a in frames]
    forces = np.concatenate([a.arrays[FORCES_KEY] for a in frames])
    edges = sum(g.edge_index.shape[1] for g in graphs)
    nodes = sum(g.num_nodes for g in graphs)
    return float(np.sqrt(np.mean(forces**2))), float(np.mean(per_atom)), edges / nodes


def batches(graphs, batch_size: int, generator: torch.Generator | None = None):
    """MACE batches of ``graphs`` in a shuffled (when ``generator`` is given) or fixed order."""
    from mace.tools.torch_geometric.batch import Batch

    order = torch.randperm(len(graphs), generator=generator).tolist() if generator is not None else range(len(graphs))
    order = list(order)
    return [Batch.from_data_list([graphs[i] for i in order[k : k + batch_size]]) for k in range(0, len(order), batch_size)]


def loss_fn(out, batch, weights: LossWeights) -> torch.Tensor:
    atoms = (batch.ptr[1:] - batch.ptr[:-1]).to(out["energy"].dtype)
    energy = torch.mean(((out["energy"] - batch.energy) / atoms) ** 2)
    forces = torch.mean((out["forces"] - batch.forces) ** 2)
    return weights.energy * energy + weights.forces * forces


def train_epoch(model, optimizer, train_batches, weights: LossWeights) -> tuple[float, float]:
    """(mean loss, seconds) of one pass of Adam steps over ``train_batches``."""
    model.train()
    total, start = 0.0, time.perf_counter()
    for batch in train_batches:
        optimizer.zero_grad(set_to_none=True)
        out = model(batch.to_dict(), training=True, compute_force=True)
        loss = loss_fn(out, batch, weights)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / max(len(train_batches), 1), time.perf_counter() - start


def evaluate(model, valid_batches) -> dict:
    """Validation MAEs: energy in meV/atom, forces in meV/Angstrom."""
    model.eval()
    de, df = [], []
    for batch in valid_batches:
        out = model(batch.to_dict(), training=False, compute_force=True)
        atoms = (batch.ptr[1:] - batch.ptr[:-1]).to(out["energy"].dtype)
        de.append(((out["energy"].detach() - batch.energy) / atoms).abs())
        df.append((out["forces"].detach() - batch.forces).abs().flatten())
    return {"energy_mae": 1000 * float(torch.cat(de).mean()), "force_mae": 1000 * float(torch.cat(df).mean())}
