"""The same NequIP-style tetris network in JAX: pure functions of a parameter pytree.

The convolutions go through ``tpcore.jax.TensorProduct`` on ``e3nn_jax.IrrepsArray``; spherical
harmonics come from e3nn-jax. Plain Adam is written out below (optax is not a dependency).
"""

from __future__ import annotations

import math
import time
from functools import partial

import e3nn_jax
import jax
import jax.numpy as jnp
import numpy as np

import tetris_data as data
import tpcore.jax


def block_linear(weights, x, irreps):
    """Mixes the channels of every irrep block (see ``tetris_torch.BlockLinear``)."""
    blocks = []
    for (mul, ir), s, w in zip(irreps, irreps.slices(), weights):
        block = x[:, s].reshape(-1, mul, ir.dim)
        blocks.append(jnp.einsum("nui,uv->nvi", block, w).reshape(-1, mul * ir.dim) / math.sqrt(mul))
    return jnp.concatenate(blocks, axis=1)


def gate(x, irreps):
    """silu on 0e, tanh on 0o, l > 0 blocks scaled by sigmoid of the 0e channels."""
    slices = dict(zip([ir for _, ir in irreps], irreps.slices()))
    gates = jax.nn.sigmoid(x[:, slices[(0, 1)]])
    blocks = []
    for (mul, ir), s in zip(irreps, irreps.slices()):
        if ir.l == 0:
            blocks.append(jax.nn.silu(x[:, s]) if ir.p == 1 else jnp.tanh(x[:, s]))
        else:
            blocks.append((x[:, s].reshape(-1, mul, ir.dim) * gates[:, :, None]).reshape(-1, mul * ir.dim))
    return jnp.concatenate(blocks, axis=1)


class TetrisNet:
    """``init(key) -> params`` and ``apply(params, pos, src, dst, graph, num_graphs) -> logits``."""

    def __init__(self, variant="cgtp", channels=8, layers=3, impl=None):
        self.irreps = data.hidden_irreps(variant, channels)
        self.channels, self.layers = channels, layers
        self.tp = tpcore.jax.TensorProduct(
            self.irreps, data.SH_IRREPS, self.irreps, variant=variant, mode="uvu",
            instructions=data.uvu_instructions(self.irreps) if variant == "cgtp" else None, impl=impl,
        )  # fmt: skip
        self.scalars = [s for (_, ir), s in zip(self.irreps, self.irreps.slices()) if ir.l == 0]
        self.embed_slice = next(s for (_, ir), s in zip(self.irreps, self.irreps.slices()) if ir == (0, 1))

    def init(self, key):
        def dense(key, n_in, n_out):
            return {"w": jax.random.normal(key, (n_in, n_out)) / math.sqrt(n_in), "b": jnp.zeros(n_out)}

        keys = iter(jax.random.split(key, 4 * self.layers + 2))
        layers = [
            {
                "radial1": dense(next(keys), data.NUM_BASIS, 16),
                "radial2": dense(next(keys), 16, self.tp.weight_numel),
                "linear": [jax.random.normal(k, (mul, mul)) for k, (mul, _) in zip(jax.random.split(next(keys), len(self.irreps)), self.irreps)],
            }
            for _ in range(self.layers)
        ]
        return {"embed": jnp.ones(self.channels), "layers": layers, "readout": dense(next(keys), self.channels * len(self.scalars), len(data.CLASSES))}

    def apply(self, params, pos, src, dst, graph, num_graphs):
        vec = pos[dst] - pos[src]
        sh = e3nn_jax.spherical_harmonics(str(data.SH_IRREPS), vec, normalize=True, normalization="component")
        basis = data.radial_basis(jnp.linalg.norm(vec, axis=1), jnp)
        h = jnp.zeros((len(pos), self.irreps.dim)).at[:, self.embed_slice].set(params["embed"])
        for layer in params["layers"]:
            radial = jax.nn.silu(basis @ layer["radial1"]["w"] + layer["radial1"]["b"])
            weights = radial @ layer["radial2"]["w"] + layer["radial2"]["b"]
            messages = self.tp.apply(weights, e3nn_jax.IrrepsArray(str(self.irreps), h[src]), sh).array
            aggregated = jnp.zeros_like(h).at[dst].add(messages) / math.sqrt(2.0)
            h = h + gate(block_linear(layer["linear"], aggregated, self.irreps), self.irreps)
        pooled = jax.ops.segment_sum(h, graph, num_segments=num_graphs)
        features = jnp.concatenate([pooled[:, s] for s in self.scalars], axis=1)
        return features @ params["readout"]["w"] + params["readout"]["b"]


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def adam(lr=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    """(init, update) of plain Adam on a pytree."""

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return {"m": zeros, "v": zeros, "t": jnp.zeros((), jnp.int32)}

    def update(params, grads, state):
        t = state["t"] + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)
        scale = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        params = jax.tree_util.tree_map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps), params, m, v)
        return params, {"m": m, "v": v, "t": t}

    return init, update


def train(variant, train_set, test_set, epochs, per_batch, seed=0, impl=None, progress=None) -> dict:
    """Train and evaluate; returns losses, accuracies and seconds per epoch (the first includes jit)."""
    model = TetrisNet(variant, impl=impl)
    params = model.init(jax.random.PRNGKey(seed))
    opt_init, opt_update = adam()
    opt_state = opt_init(params)
    rng = np.random.default_rng(seed)

    @partial(jax.jit, static_argnames="num_graphs")
    def step(params, opt_state, pos, src, dst, graph, labels, num_graphs):
        loss, grads = jax.value_and_grad(lambda p: cross_entropy(model.apply(p, pos, src, dst, graph, num_graphs), labels))(params)
        params, opt_state = opt_update(params, grads, opt_state)
        return params, opt_state, loss

    losses, epoch_seconds = [], []
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        batches = data.minibatches(train_set, per_batch, rng)
        for b in batches:
            params, opt_state, loss = step(params, opt_state, jnp.asarray(b.pos, jnp.float32), b.src, b.dst, b.graph, b.labels, b.num_graphs)
            total += float(loss)
        epoch_seconds.append(time.perf_counter() - start)
        losses.append(total / len(batches))
        if progress:
            progress(epoch + 1, epochs, losses[-1])
    test = data.merge(test_set)
    logits = jax.jit(model.apply, static_argnums=5)(params, jnp.asarray(test.pos, jnp.float32), test.src, test.dst, test.graph, test.num_graphs)
    acc, chiral = data.accuracy(np.asarray(jnp.argmax(logits, axis=1)), test.labels)
    return {"losses": losses, "epoch_seconds": epoch_seconds, "accuracy": acc, "chiral_accuracy": chiral}
