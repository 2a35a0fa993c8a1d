"""``tpcore.jax.tensor_product`` inside two of e3nn-jax's own networks, timed against e3nn-jax.

The networks are e3nn-jax 0.21's, written over its functional pieces so that they need neither
haiku nor flax (e3nn-jax's modules import them): :func:`message_passing` is
``e3nn_jax.experimental.point_convolution._call`` (``MessagePassingConvolution``) with a gate, its
per-edge message written for one edge and ``jax.vmap``-ed over the edges (e3nn-jax's style: each
call of the product sees one edge's sorted, regrouped irreps); :func:`transformer_layer` is
``e3nn_jax.experimental.transformer.Transformer``. ``Linear`` and ``MultiLayerPerceptron`` are
e3nn-jax's haiku modules over :class:`e3nn_jax.FunctionalLinear` and ``hk.Linear``, with their
initializations. Each energy model (embedding, three layers, readout of the pooled scalars) is
``jax.vmap``-ed over a batch of configurations.

Each network runs twice: with ``e3nn_jax.tensor_product`` and with ``tpcore.jax.tensor_product``
bound in its place. The script checks that both give the same energies and forces in float64
(1e-9 relative), then times the jitted forward (energies) and forward+backward (energies and
forces) of both in interleaved rounds (``tpcore.report.timing.interleaved``) and prints e3nn-jax's
time over tpcore's (above 1: tpcore is faster).

    .venv/bin/python scripts/e3nn_jax_networks.py [--configs 4] [--nodes 24] [--sizes small,large] [--seconds 6]
        [--dtype float32] [--write docs/results/e3nn-jax-networks-cpu.md]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform

import jax

jax.config.update("jax_enable_x64", True)

import e3nn_jax as e3nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import tpcore.jax  # noqa: E402
from tpcore.report.timing import interleaved  # noqa: E402

#: (hidden irreps, degree of the edge harmonics) of each size the script runs
SIZES = {"small": ("16x0e + 8x1o + 8x2e", 2), "large": ("32x0e + 32x1o + 32x2e", 3), "tiny": ("4x0e + 2x1o", 1)}
RADIAL = 8
CUTOFF = 2.0
SPECIES = 4
LAYERS = 3


class Params:
    """haiku's ``get_parameter`` in two modes: drawing values (``key`` given) or reading them."""

    def __init__(self, values=None, key=None):
        self.values = {} if values is None else values
        self.key = key
        self.scope: list[str] = []

    def get(self, name, shape, std, dtype):
        full = "/".join(self.scope + [name])
        if full not in self.values:
            if self.key is None:
                raise KeyError(full)
            self.key, sub = jax.random.split(self.key)
            self.values[full] = std * jax.random.normal(sub, shape, jnp.float64)
        return self.values[full].astype(dtype)

    @contextlib.contextmanager
    def module(self, name):
        self.scope.append(name)
        try:
            yield
        finally:
            self.scope.pop()


def linear(p: Params, name: str, irreps_out, x: e3nn.IrrepsArray) -> e3nn.IrrepsArray:
    """``e3nn_jax.haiku.Linear(irreps_out, name=name)(x)``."""
    x = x.remove_zero_chunks().regroup()
    irreps_out = e3nn.Irreps(irreps_out).simplify().filter(keep=x.irreps)
    lin = e3nn.FunctionalLinear(x.irreps, irreps_out)
    with p.module(name):
        ws = [p.get(f"w[{i.i_in},{i.i_out}]", i.path_shape, i.weight_std, x.dtype) for i in lin.instructions]
    f = lambda v: lin(ws, v)  # noqa: E731
    for _ in range(x.ndim - 1):
        f = e3nn.utils.vmap(f)
    return f(x)


def mlp(p: Params, name: str, neurons, act, x):
    """``e3nn_jax.haiku.MultiLayerPerceptron(neurons, act, output_activation=False, name=name)(x)``."""
    irreps_array = isinstance(x, e3nn.IrrepsArray)
    x = x.array if irreps_array else x
    act = e3nn.normalize_function(act)
    with p.module(name):
        for i, h in enumerate(neurons):
            alpha = 1 / x.shape[-1]
            x = math.sqrt(alpha) * (x @ p.get(f"linear_{i}/w", (x.shape[-1], h), 1.0, x.dtype))
            if i < len(neurons) - 1:
                x = act(x)
    return e3nn.IrrepsArray(f"{x.shape[-1]}x0e", x) if irreps_array else x


def edge_geometry(positions, senders, receivers, lmax):
    """Edge vectors' radial basis (``point_convolution.radial_basis``) and harmonics, and the envelope."""
    vectors = e3nn.IrrepsArray("1o", positions[receivers] - positions[senders])
    r = e3nn.norm(vectors).array[:, 0] / CUTOFF
    radial = e3nn.bessel(r, RADIAL) * e3nn.soft_envelope(r)[:, None]
    sh = e3nn.spherical_harmonics(list(range(1, lmax + 1)), vectors, True)
    return e3nn.concatenate([e3nn.IrrepsArray(f"{RADIAL}x0e", radial), sh]), e3nn.soft_envelope(r)


def message_passing(p, tensor_product, node_feats, edge_attrs, senders, receivers, target_irreps, avg_num_neighbors):
    """``MessagePassingConvolution`` (e3nn-jax's ``point_convolution._call``), one edge's message per call."""
    target_irreps = e3nn.Irreps(target_irreps)
    node_feats = linear(p, "linear_up", node_feats.irreps, node_feats)

    def message(sender_feats, attrs):
        return e3nn.concatenate(
            [sender_feats.filter(target_irreps), tensor_product(sender_feats, attrs.filter(drop="0e"), filter_ir_out=target_irreps)]
        ).regroup()

    messages = jax.vmap(message)(node_feats[senders], edge_attrs)  # [n_edges, irreps]
    mix = mlp(p, "mlp", (64, messages.irreps.num_irreps), jax.nn.gelu, edge_attrs.filter(keep="0e"))
    messages = messages * mix
    zeros = e3nn.zeros(messages.irreps, node_feats.shape[:1], messages.dtype)
    node_feats = zeros.at[receivers].add(messages) / jnp.sqrt(avg_num_neighbors)
    return linear(p, "linear_down", target_irreps, node_feats)


def transformer_layer(p, tensor_product, edge_src, edge_dst, edge_weight_cutoff, edge_attr, node_feat, irreps_node_output,
                      list_neurons=(32,), act=jax.nn.gelu, num_heads=2):  # fmt: skip
    """``e3nn_jax.experimental.transformer.Transformer`` (its ``__call__``)."""
    irreps_node_output = e3nn.Irreps(irreps_node_output)

    def f(x, y, filter_ir_out=None, name=None):
        out1 = e3nn.concatenate([x, tensor_product(x, y.filter(drop="0e"))]).regroup().filter(keep=filter_ir_out)
        out2 = mlp(p, name, tuple(list_neurons) + (out1.irreps.num_irreps,), act, y.filter(keep="0e"))
        return out1 * out2

    n = node_feat.shape[0]
    edge_key = f(node_feat[edge_src], edge_attr, node_feat.irreps, name="mlp_key")
    edge_logit = linear(p, "linear_logit", f"{num_heads}x0e", tensor_product(node_feat[edge_dst], edge_key, filter_ir_out="0e")).array
    node_logit_max = jnp.zeros((n,) + edge_logit.shape[1:], edge_logit.dtype).at[edge_dst].max(edge_logit)
    exp = edge_weight_cutoff[:, None] * jnp.exp(edge_logit - node_logit_max[edge_dst])
    z = e3nn.scatter_sum(exp, dst=edge_dst, output_size=n)
    z = jnp.where(z == 0.0, 1.0, z)
    alpha = exp / z[edge_dst]
    edge_v = f(node_feat[edge_src], edge_attr, irreps_node_output, "mlp_val").mul_to_axis(num_heads)
    edge_v = (edge_v * jnp.sqrt(jax.nn.relu(alpha))[:, :, None]).axis_to_mul()
    node_out = e3nn.scatter_sum(edge_v, dst=edge_dst, output_size=n)
    return linear(p, "linear_out", irreps_node_output, node_out)


def gated(irreps) -> e3nn.Irreps:
    """``irreps`` with one extra ``0e`` gate per non-scalar irrep, the input ``e3nn_jax.gate`` takes."""
    irreps = e3nn.Irreps(irreps)
    scalars = sum(mul for mul, ir in irreps if ir.l == 0)
    gates = sum(mul for mul, ir in irreps if ir.l > 0)
    return e3nn.Irreps(f"{scalars + gates}x0e") + e3nn.Irreps([(mul, ir) for mul, ir in irreps if ir.l > 0])


def energy(network: str, size: str, p: Params, tensor_product, positions, species, senders, receivers, avg_num_neighbors):
    """One configuration's energy: embedding, ``LAYERS`` layers of ``network`` each with a gate, pooled readout."""
    hidden, lmax = SIZES[size]
    edge_attrs, envelope = edge_geometry(positions, senders, receivers, lmax)
    x = e3nn.IrrepsArray(f"{SPECIES}x0e", jax.nn.one_hot(species, SPECIES, dtype=positions.dtype))
    for layer in range(LAYERS):
        with p.module(f"layer_{layer}"):
            if network == "message passing":
                x = message_passing(p, tensor_product, x, edge_attrs, senders, receivers, gated(hidden), avg_num_neighbors)
            else:
                x = linear(p, "embed", hidden, x) if layer == 0 else x
                x = transformer_layer(p, tensor_product, senders, receivers, envelope, edge_attrs, x, gated(hidden))
        x = e3nn.gate(x)
    return jnp.sum(linear(p, "readout", "0e", x).array)


def graph(configs: int, nodes: int, seed: int = 0):
    """``configs`` jittered copies of one random cluster, its edges within ``CUTOFF`` (shared by the copies)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, (nodes / 3.0) ** (1 / 3) * 1.6, (nodes, 3))
    distance = np.linalg.norm(base[:, None] - base[None], axis=-1)
    senders, receivers = np.nonzero((distance < CUTOFF * 0.9) & (distance > 0))
    positions = base[None] + 0.02 * rng.standard_normal((configs, nodes, 3))
    species = rng.integers(0, SPECIES, nodes)
    return positions, species, senders.astype(np.int32), receivers.astype(np.int32)


def model(network: str, size: str, params: dict, tensor_product, species, senders, receivers):
    """``(energies, energies_and_forces)``: jitted over configurations ``(B, nodes, 3)``."""
    avg = len(senders) / len(species)

    def one(positions, values):
        return energy(network, size, Params(values), tensor_product, positions, species, senders, receivers, avg)

    energies = jax.vmap(one, in_axes=(0, None))

    def energies_and_forces(positions, values):
        e, grad = jax.value_and_grad(lambda r: jnp.sum(energies(r, values)))(positions)
        return e, -grad

    return jax.jit(lambda r: energies(r, params)), jax.jit(lambda r: energies_and_forces(r, params))


def init(network: str, size: str, positions, species, senders, receivers) -> dict:
    p = Params(key=jax.random.PRNGKey(0))
    energy(network, size, p, e3nn.tensor_product, jnp.asarray(positions[0]), species, senders, receivers, 1.0)
    return p.values


NETWORKS = ("message passing", "transformer")
BINDINGS = {"e3nn-jax": e3nn.tensor_product, "tpcore": tpcore.jax.tensor_product}


def relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check(network, size, positions, species, senders, receivers, params) -> float:
    """The largest relative difference of tpcore's energies and forces from e3nn-jax's, in float64."""
    results = {}
    for name, tp in BINDINGS.items():
        _, both = model(network, size, params, tp, species, senders, receivers)
        results[name] = jax.block_until_ready(both(jnp.asarray(positions, jnp.float64)))
    (e_ref, f_ref), (e_tp, f_tp) = results["e3nn-jax"], results["tpcore"]
    return max(relative_error(e_tp, e_ref), relative_error(f_tp, f_ref))


def timings(network, size, positions, species, senders, receivers, params, dtype, seconds):
    params = jax.tree_util.tree_map(lambda v: v.astype(dtype), params)
    r = jnp.asarray(positions, dtype)
    calls = {}
    for name, tp in BINDINGS.items():
        forward, both = model(network, size, params, tp, species, senders, receivers)
        jax.block_until_ready(forward(r))
        jax.block_until_ready(both(r))
        calls[(name, "forward")] = lambda f=forward: jax.block_until_ready(f(r))
        calls[(name, "forward+backward")] = lambda f=both: jax.block_until_ready(f(r))
    return interleaved(calls, min_rounds=15, budget_s=seconds, max_rounds=400)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=24)
    parser.add_argument("--sizes", default="small,large", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--seconds", type=float, default=6.0, help="of timing rounds per network and size")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--write", help="markdown file for the table")
    args = parser.parse_args(argv)
    positions, species, senders, receivers = graph(args.configs, args.nodes)
    rows = []
    for size in args.sizes.split(","):
        for network in args.networks.split(","):
            params = init(network, size, positions, species, senders, receivers)
            error = check(network, size, positions, species, senders, receivers, params)
            if error > 1e-9:
                raise SystemExit(f"{network}, {size}: tpcore differs from e3nn-jax by {error:.2e} (relative) in float64")
            t = timings(network, size, positions, species, senders, receivers, params, args.dtype, args.seconds)
            for kind in ("forward", "forward+backward"):
                ref, ours = t[("e3nn-jax", kind)], t[("tpcore", kind)]
                spread = max(ref.spread, ours.spread)
                rows.append((network, size, kind, ref.median_s, ours.median_s, ref.median_s / ours.median_s, error, spread))
            print(*(f"{c:.4g}" if isinstance(c, float) else c for c in rows[-1]), flush=True)
    header = "| network | size | call | e3nn-jax ms | tpcore ms | e3nn-jax / tpcore | float64 rel. diff | spread |"
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {z} | {k} | {a * 1e3:.2f} | {b * 1e3:.2f} | {r:.2f}x | {e:.1e} | {s:.2f} |" for n, z, k, a, b, r, e, s in rows]
    setup = (f"{args.configs} configurations of {args.nodes} nodes, {len(senders)} edges each; sizes "
             + "; ".join(f"{z}: {SIZES[z][0]}, harmonics to L = {SIZES[z][1]}" for z in args.sizes.split(","))
             + f"; {args.dtype}, {platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}")
    table = "\n".join(lines)
    print(setup)
    print(table)
    if args.write:
        with open(args.write, "w") as out:
            out.write(setup + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
