"""MACE's message-passing step on jax: tpcore's convolution against e3nn-jax's, timed side by side.

    .venv/bin/python scripts/conv_bench_jax.py [--quick] [--nodes N] [--degree K] [--out FILE]

The step is MACE's interaction convolution on a graph of ``N`` nodes with ``K`` random senders
each: node features ``Cx0e + Cx1o + Cx2e``, edge harmonics ``0e + 1o + 2e + 3o``, MACE's ``uvu``
instructions and output irreps (``tp_out_irreps_with_instructions``), per-edge weights (as MACE's
radial MLP gives them). tpcore: ``tpcore.build_conv(spec, backend="jax")``. e3nn-jax: the senders
gathered, ``e3nn_jax.legacy.FunctionalTensorProduct.left_right`` (e3nn's ``TensorProduct``) under
``vmap`` over the edges, ``jax.ops.segment_sum`` into receivers. Both are checked to agree first.

Each is timed jitted in three calls: ``forward``; ``forward+backward``: the gradient of the sum
of squares of the output with respect to ``x1``, ``x2`` and the weights; ``force double
backward``: the gradient with respect to the weights of the squared norm of that sum's gradient
with respect to ``x2`` (the step of training on forces through the harmonics). All calls of one
shape are timed in the same interleaved rounds (:func:`tpcore.report.timing.interleaved`, medians);
ratios are e3nn-jax time / tpcore time (> 1: tpcore faster). Results: docs/results/conv-cpu-jax.md.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date
from pathlib import Path

import e3nn_jax as e3nn
import e3nn_jax.legacy
import jax
import jax.numpy as jnp
import numpy as np

import tpcore
from tpcore import TensorProductSpec
from tpcore.irreps import Irreps
from tpcore.report.timing import interleaved

ROOT = Path(__file__).resolve().parent.parent
SH = "0e + 1o + 2e + 3o"
CALLS = ("forward", "forward+backward", "force double backward")


def mace_instructions(channels: int, sh: str = SH) -> tuple[Irreps, Irreps, Irreps, list[tuple]]:
    """MACE's ``tp_out_irreps_with_instructions``: every product irrep of a node block and a
    harmonic that is among the harmonics' irreps gets its own output block; outputs sorted."""
    irreps_in1, irreps_sh = Irreps(f"{channels}x0e + {channels}x1o + {channels}x2e"), Irreps(sh)
    target = (irreps_sh * channels).sort().irreps.simplify()
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in1):
        for j, (_, ir_edge) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_edge:
                if ir_out in target:
                    instructions.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    irreps_out, p, _ = Irreps(out).sort()
    instructions = sorted(((i, j, p[k], mode, train) for i, j, k, mode, train in instructions), key=lambda x: x[2])
    return irreps_in1, irreps_sh, irreps_out, instructions


def graph(nodes: int, degree: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``degree`` distinct random senders per receiver, edges ordered by receiver."""
    rng = np.random.default_rng(seed)
    src = np.concatenate([rng.choice(np.delete(np.arange(nodes), n), degree, replace=False) for n in range(nodes)])
    return src.astype(np.int32), np.repeat(np.arange(nodes, dtype=np.int32), degree)


def convolutions(channels: int, nodes: int, dtype: str) -> dict:
    """``name -> conv(x1, x2, w, src, dst)`` for tpcore and e3nn-jax (``num_nodes`` bound)."""
    irreps_in1, irreps_sh, irreps_out, instructions = mace_instructions(channels)
    spec = TensorProductSpec.cgtp(irreps_in1, irreps_sh, irreps_out, mode="uvu", instructions=instructions)
    conv = tpcore.build_conv(spec, backend="jax", dtype=dtype)
    tp = e3nn.legacy.FunctionalTensorProduct(str(irreps_in1), str(irreps_sh), str(irreps_out), instructions)

    def e3nn_conv(x1, x2, w, src, dst):
        def message(wi, a, b):
            return tp.left_right(wi, e3nn.IrrepsArray(tp.irreps_in1, a), e3nn.IrrepsArray(tp.irreps_in2, b)).array

        return jax.ops.segment_sum(jax.vmap(message)(w, x1[src], x2), dst, num_segments=nodes)

    return {"tpcore": lambda x1, x2, w, src, dst: conv(x1, x2, w, src, dst, nodes), "e3nn-jax": e3nn_conv}, spec


def steps(conv) -> dict:
    """The three jitted calls of one convolution."""

    def energy(x1, x2, w, src, dst):
        return 0.5 * jnp.sum(conv(x1, x2, w, src, dst) ** 2)

    def force_loss(w, x1, x2, src, dst):
        forces = jax.grad(energy, argnums=1)(x1, x2, w, src, dst)
        return jnp.sum(forces**2)

    return {
        "forward": jax.jit(conv),
        "forward+backward": jax.jit(jax.grad(energy, argnums=(0, 1, 2))),
        "force double backward": jax.jit(lambda x1, x2, w, src, dst: jax.grad(force_loss)(w, x1, x2, src, dst)),
    }


def measure(channels: int, nodes: int, degree: int, dtype: str, min_rounds: int, budget_s: float) -> dict:
    convs, spec = convolutions(channels, nodes, dtype)
    src, dst = (jnp.asarray(i) for i in graph(nodes, degree))
    rng = np.random.default_rng(1)
    args = [jnp.asarray(rng.normal(size=s), dtype) for s in
            ((nodes, spec.irreps_in1.dim), (len(src), spec.irreps_in2.dim), (len(src), spec.weight_numel))] + [src, dst]  # fmt: skip
    fns = {name: steps(conv) for name, conv in convs.items()}
    tolerance = {"float32": 1e-4, "float64": 1e-10}[dtype]
    for call in CALLS:
        outs = [jax.tree_util.tree_leaves(jax.block_until_ready(fns[name][call](*args))) for name in fns]  # also compiles
        for a, b in zip(*outs):
            scale = float(jnp.abs(b).max())
            error = float(jnp.abs(a - b).max()) / scale
            if error > tolerance:
                raise AssertionError(f"C={channels} {dtype} {call}: tpcore and e3nn-jax differ by {error:.2e} of the largest value")
    timed = {(name, call): (lambda f=fns[name][call]: jax.block_until_ready(f(*args))) for name in fns for call in CALLS}
    for f in timed.values():
        f()
    t = interleaved(timed, min_rounds=min_rounds, budget_s=budget_s)
    return {call: (t["tpcore", call].median_s, t["e3nn-jax", call].median_s) for call in CALLS}


def table(rows: list) -> str:
    lines = ["| C | dtype | " + " | ".join(f"{c} (ms tpcore / e3nn-jax, ratio)" for c in CALLS) + " |",
             "|---|---|" + "---|" * len(CALLS)]  # fmt: skip
    for channels, dtype, result in rows:
        cells = [f"{1e3 * a:.2f} / {1e3 * b:.2f}, **{b / a:.2f}x**" for a, b in (result[c] for c in CALLS)]
        lines.append(f"| {channels} | {dtype} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="C = 16, 32 in float32 on 100 nodes, few rounds (< 60 s)")
    parser.add_argument("--nodes", type=int, default=None, help="nodes of the graph (default 150; 100 with --quick)")
    parser.add_argument("--degree", type=int, default=20, help="senders per receiver")
    parser.add_argument("--channels", type=int, nargs="+", default=None, help="default 16 32 128 (16 32 with --quick)")
    parser.add_argument("--dtypes", nargs="+", default=None, help="default float32 float64 (float32 with --quick)")
    parser.add_argument("--out", type=Path, default=None, help="write the table there (docs/results/conv-cpu-jax.md)")
    args = parser.parse_args()
    nodes = args.nodes or (100 if args.quick else 150)
    channels = args.channels or ([16, 32] if args.quick else [16, 32, 128])
    dtypes = args.dtypes or (["float32"] if args.quick else ["float32", "float64"])
    if "float64" in dtypes:
        jax.config.update("jax_enable_x64", True)
    rows = []
    for c in channels:
        for dtype in dtypes:
            result = measure(c, nodes, args.degree, dtype, min_rounds=3 if args.quick else 7, budget_s=1.0 if args.quick else 20.0)
            rows.append((c, dtype, result))
            print(f"C={c} {dtype}: " + ", ".join(f"{call} {b / a:.2f}x" for call, (a, b) in result.items()), flush=True)
    text = table(rows)
    print(text)
    if args.out is not None:
        command = (f"scripts/conv_bench_jax.py --nodes {nodes} --degree {args.degree} --channels {' '.join(map(str, channels))} "
                   f"--dtypes {' '.join(dtypes)} --out {args.out}")
        args.out.write_text(
            f"# MACE's convolution as one message-passing step, tpcore vs e3nn-jax (jax, CPU)\n\n"
            f"{date.today()}, `.venv/bin/python {command}`: {nodes} nodes, {args.degree} senders each "
            f"({nodes * args.degree} edges), jax {jax.__version__}, e3nn-jax {e3nn.__version__}, "
            f"{platform.machine()} {os.cpu_count()}-core CPU shared with other jobs (noisy). "
            "Medians of interleaved rounds; ratio = e3nn-jax time / tpcore time.\n\n" + text + "\n"
        )


if __name__ == "__main__":
    main()
