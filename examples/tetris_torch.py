"""A NequIP-style network for 3D tetris in PyTorch, its convolutions computed by ``tpcore.torch``.

Each interaction block: spherical harmonics of the edge vectors (e3nn), a radial MLP giving one
weight vector per edge, the ``uvu`` tensor-product convolution (any tpcore variant), a sum over
neighbours, a channel-mixing linear layer per irrep block, a gate, and a residual connection.
The readout pools the ``0e`` and ``0o`` channels over the piece.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from e3nn import o3

import tetris_data as data
import tpcore.torch


class BlockLinear(torch.nn.Module):
    """Mixes the channels of every irrep block: ``x[u, i] -> sum_u W[u, v] x[u, i] / sqrt(C)``."""

    def __init__(self, irreps):
        super().__init__()
        self.irreps = irreps
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(mul, mul)) for mul, _ in irreps])

    def forward(self, x):
        blocks = []
        for (mul, ir), s, w in zip(self.irreps, self.irreps.slices(), self.weights):
            block = x[:, s].reshape(-1, mul, ir.dim)
            blocks.append(torch.einsum("nui,uv->nvi", block, w).reshape(-1, mul * ir.dim) / math.sqrt(mul))
        return torch.cat(blocks, dim=1)


def gate(x, irreps):
    """silu on 0e, tanh on 0o (odd, so parity is kept), l > 0 blocks scaled by sigmoid of the 0e channels."""
    slices = dict(zip([ir for _, ir in irreps], irreps.slices()))
    gates = torch.sigmoid(x[:, slices[(0, 1)]])
    blocks = []
    for (mul, ir), s in zip(irreps, irreps.slices()):
        if ir.l == 0:
            blocks.append(torch.nn.functional.silu(x[:, s]) if ir.p == 1 else torch.tanh(x[:, s]))
        else:
            blocks.append((x[:, s].reshape(-1, mul, ir.dim) * gates[:, :, None]).reshape(-1, mul * ir.dim))
    return torch.cat(blocks, dim=1)


class Interaction(torch.nn.Module):
    def __init__(self, irreps, variant, impl):
        super().__init__()
        self.irreps = irreps
        self.tp = tpcore.torch.TensorProduct(
            irreps, data.SH_IRREPS, irreps, data.uvu_instructions(irreps), shared_weights=False, variant=variant, impl=impl
        )
        self.radial = torch.nn.Sequential(
            torch.nn.Linear(data.NUM_BASIS, 16), torch.nn.SiLU(), torch.nn.Linear(16, self.tp.weight_numel)
        )
        self.linear = BlockLinear(irreps)

    def forward(self, h, batch, sh, basis):
        messages = self.tp(h[batch.src], sh, self.radial(basis))
        aggregated = torch.zeros_like(h).index_add_(0, batch.dst, messages) / math.sqrt(2.0)
        return h + gate(self.linear(aggregated), self.irreps)


class TetrisNet(torch.nn.Module):
    def __init__(self, variant="cgtp", channels=8, layers=3, impl=None):
        super().__init__()
        self.irreps = data.hidden_irreps(variant, channels)
        self.embed = torch.nn.Parameter(torch.ones(channels))
        self.layers = torch.nn.ModuleList([Interaction(self.irreps, variant, impl) for _ in range(layers)])
        self.scalars = [s for (_, ir), s in zip(self.irreps, self.irreps.slices()) if ir.l == 0]
        self.readout = torch.nn.Linear(channels * len(self.scalars), len(data.CLASSES))

    def forward(self, batch):
        vec = batch.pos[batch.dst] - batch.pos[batch.src]
        sh = o3.spherical_harmonics(str(data.SH_IRREPS), vec, normalize=True, normalization="component")
        basis = data.radial_basis(vec.norm(dim=1), torch)
        h = torch.zeros(len(batch.pos), self.irreps.dim)
        h[:, self.scalars_0e()] = self.embed
        for layer in self.layers:
            h = layer(h, batch, sh, basis)
        pooled = torch.zeros(batch.num_graphs, h.shape[1]).index_add_(0, batch.graph, h)
        return self.readout(torch.cat([pooled[:, s] for s in self.scalars], dim=1))

    def scalars_0e(self):
        return next(s for (_, ir), s in zip(self.irreps, self.irreps.slices()) if ir == (0, 1))


class TorchBatch:
    """A :class:`tetris_data.Batch` as torch tensors."""

    def __init__(self, b: data.Batch):
        self.pos = torch.as_tensor(b.pos, dtype=torch.get_default_dtype())
        self.src, self.dst = torch.as_tensor(b.src), torch.as_tensor(b.dst)
        self.graph, self.labels = torch.as_tensor(b.graph), torch.as_tensor(b.labels)
        self.num_graphs = b.num_graphs


def train(variant, train_set, test_set, epochs, per_batch, seed=0, impl=None, progress=None) -> dict:
    """Train and evaluate; returns losses, accuracies and seconds per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TetrisNet(variant, impl=impl)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses, epoch_seconds = [], []
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        batches = [TorchBatch(b) for b in data.minibatches(train_set, per_batch, rng)]
        for b in batches:
            loss = torch.nn.functional.cross_entropy(model(b), b.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        epoch_seconds.append(time.perf_counter() - start)
        losses.append(total / len(batches))
        if progress:
            progress(epoch + 1, epochs, losses[-1])
    with torch.no_grad():
        test = TorchBatch(data.merge(test_set))
        predicted = model(test).argmax(dim=1).numpy()
    acc, chiral = data.accuracy(predicted, test.labels.numpy())
    return {"losses": losses, "epoch_seconds": epoch_seconds, "accuracy": acc, "chiral_accuracy": chiral}
