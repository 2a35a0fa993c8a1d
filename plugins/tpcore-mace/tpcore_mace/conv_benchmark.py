"""MACE's convolution as a whole message-passing step: e3nn (gather, product, ``index_add``) vs tpcore's op.

    python -m tpcore_mace.conv_benchmark [--quick] [--out out/mace-conv] [--threads 1]
    bash scripts/mace.sh --conv [--quick]

The graph is real: EMT frames of Cu, Ag, Au and CuAu (:mod:`tpcore_mace.data`, batched as MACE
batches them, ~17 neighbours per atom within MACE's r_max). The product is MACE's own ``conv_tp``
of its second interaction (node features ``C x (0e + ... + L)``, harmonics up to 3, MACE's
instructions), e3nn's as MACE builds it and tpcore's from :func:`tpcore_mace.convert`; node
features and per-edge weights are random, the harmonics are the graph's. Three phases per cell,
each timed interleaved (e3nn, tpcore, e3nn, ...) and best-of: forward; forward+backward (gradients
of a squared output in the node features, harmonics and weights); and the force double backward
(the gradient in the weights and node features of the squared gradient in the harmonics, which
is what a force loss trains through). Memory: the bytes autograd keeps over the double backward's
graph (:mod:`tpcore.report.memory`'s CPU rule). Writes ``results.md`` and ``results.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import torch

PHASES = ("forward", "forward+backward", "force double backward")
PROFILES = {
    "default": dict(channels=(16, 32, 128), Ls=(1, 2, 3), dtypes=("float32", "float64"), frames=4, repeat=3),
    "quick": dict(channels=(16,), Ls=(2,), dtypes=("float64",), frames=2, repeat=2),
}


def graph(frames: int, r_max: float):
    """``(edge_index, vectors, num_nodes)`` of ``frames`` EMT configurations as one MACE batch."""
    from mace.tools.utils import AtomicNumberTable

    from tpcore_mace import data
    from tpcore_mace.training import batches

    spec = data.EMTDataSpec(n_configs=frames, temperatures=(900.0,), equilibration_steps=20, stride=3)
    frames_ = data.generate(spec)
    numbers = sorted({int(z) for f in frames_ for z in f.numbers})
    batch = batches(data.to_graphs(frames_, AtomicNumberTable(numbers), r_max), len(frames_))[0]
    sender, receiver = batch.edge_index
    vectors = batch.positions[receiver] - batch.positions[sender] + batch.shifts
    return batch.edge_index, vectors, batch.positions.shape[0]


def products(channels: int, L: int, dtype: torch.dtype):
    """``(e3nn conv_tp, tpcore MACEConvolution, irreps_sh)`` of a MACE's second interaction."""
    from tpcore_mace import MACEConfig, build_mace, convert

    config = MACEConfig(channels=channels, max_L=L, max_ell=3, num_interactions=2, radial_MLP=(8,), MLP_irreps="4x0e")
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # (e3nn computes its constants in the default dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_mace("e3nn", [29, 47, 79], [-1.0, -2.0, -3.0], 17.0, config)
            fused = convert(copy.deepcopy(model))
    finally:
        torch.set_default_dtype(before)
    return model.interactions[1].conv_tp, fused.interactions[1].conv_tp, model.spherical_harmonics.irreps_out


def step_functions(e3nn_tp, fused, edge_index, num_nodes: int):
    sender, receiver = edge_index

    def e3nn_step(x, y, w):
        messages = e3nn_tp(x[sender], y, w)
        return messages.new_zeros((num_nodes, messages.shape[1])).index_add(0, receiver, messages)

    def tpcore_step(x, y, w):
        return fused(x, y, w, edge_index)

    return {"e3nn": e3nn_step, "tpcore": tpcore_step}


def phase(step, inputs, which: str):
    x, y, w = (t.detach().requires_grad_(True) for t in inputs)
    if which == "forward":
        with torch.no_grad():
            return step(x, y, w)
    out = step(x, y, w)
    if which == "forward+backward":
        return torch.autograd.grad((out**2).sum(), (x, y, w))
    (gy,) = torch.autograd.grad((out**2).sum(), y, create_graph=True)
    return torch.autograd.grad((gy**2).sum(), (x, w))


def saved_bytes(step, inputs) -> int:
    """Bytes autograd keeps for the force double backward (distinct storages computed from the inputs)."""
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    excluded = {t.untyped_storage().data_ptr() for t in leaves}
    saved: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded and t.requires_grad:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = step(*leaves)
        torch.autograd.grad((out**2).sum(), leaves[1], create_graph=True)
    return sum(saved.values())


def measure(channels: int, L: int, dtype_name: str, edge_index, vectors, num_nodes: int, repeat: int) -> dict:
    from e3nn import o3

    dtype = getattr(torch, dtype_name)
    e3nn_tp, fused, irreps_sh = products(channels, L, dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num_nodes, e3nn_tp.irreps_in1.dim, generator=gen, dtype=dtype)
    y = o3.spherical_harmonics(irreps_sh, vectors.to(dtype), normalize=True, normalization="component")
    w = torch.randn(y.shape[0], e3nn_tp.weight_numel, generator=gen, dtype=dtype)
    steps = step_functions(e3nn_tp, fused, edge_index, num_nodes)
    inputs = (x, y, w)
    # the same numbers first: a benchmark of two different computations means nothing
    expected, actual = (phase(steps[k], inputs, "force double backward") for k in ("e3nn", "tpcore"))
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    for a, e in zip(actual, expected):
        err = float((a - e).abs().max()) / max(float(e.abs().max()), 1.0)
        if err > tol:
            raise AssertionError(f"C={channels} L={L} {dtype_name}: tpcore differs from e3nn by {err:.3g} (relative)")
    cell = {"channels": channels, "L": L, "dtype": dtype_name, "edges": int(y.shape[0]), "nodes": num_nodes}
    for which in PHASES:
        best = {name: float("inf") for name in steps}
        for _ in range(repeat):
            for name, step in steps.items():
                start = time.perf_counter()
                phase(step, inputs, which)
                best[name] = min(best[name], time.perf_counter() - start)
        cell[which] = {"e3nn_s": best["e3nn"], "tpcore_s": best["tpcore"], "speedup": best["e3nn"] / best["tpcore"]}
    memory = {name: saved_bytes(step, inputs) for name, step in steps.items()}
    cell["saved_bytes"] = memory | {"ratio": memory["tpcore"] / memory["e3nn"]}
    return cell


def table(cells: list[dict]) -> str:
    head = "| C | L | dtype | edges | forward | fwd+bwd | force double bwd | saved bytes tpcore/e3nn |\n|---:|---:|---|---:|---:|---:|---:|---:|"
    rows = [
        f"| {c['channels']} | {c['L']} | {c['dtype']} | {c['edges']} | "
        + " | ".join(f"{c[p]['speedup']:.2f}x" for p in PHASES)
        + f" | {c['saved_bytes']['ratio']:.2f} |"
        for c in cells
    ]
    worst = min(cells, key=lambda c: min(c[p]["speedup"] for p in PHASES[1:]))
    phase_ = min(PHASES[1:], key=lambda p: worst[p]["speedup"])
    return "\n".join([head, *rows, "", f"Worst training cell: C={worst['channels']} L={worst['L']} {worst['dtype']}, "
                      f"{phase_} {worst[phase_]['speedup']:.2f}x e3nn."])  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small cell (CI)")
    parser.add_argument("--out", default="out/mace-conv")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile = PROFILES["quick" if args.quick else "default"]
    from tpcore_mace import MACEConfig

    edge_index, vectors, num_nodes = graph(profile["frames"], MACEConfig().r_max)
    print(f"graph: {num_nodes} atoms, {edge_index.shape[1]} edges ({edge_index.shape[1] / num_nodes:.1f} neighbours per atom)", flush=True)
    cells = []
    for dtype_name in profile["dtypes"]:
        for channels in profile["channels"]:
            for L in profile["Ls"]:
                start = time.perf_counter()
                cell = measure(channels, L, dtype_name, edge_index, vectors, num_nodes, profile["repeat"])
                cells.append(cell)
                print(f"C={channels:<4} L={L} {dtype_name}: " + ", ".join(f"{p} {cell[p]['speedup']:.2f}x" for p in PHASES)
                      + f", saved bytes {cell['saved_bytes']['ratio']:.2f} of e3nn's ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(cells)
    footer = (f"\nMACE's second-interaction convolution on {num_nodes} atoms / {edge_index.shape[1]} edges of EMT frames; "
              f"speedup = e3nn time / tpcore time, best of {profile['repeat']} interleaved, {args.threads} thread(s), torch {torch.__version__}.")  # fmt: skip
    (out / "results.md").write_text(text + "\n" + footer + "\n")
    (out / "results.json").write_text(json.dumps(cells, indent=1))
    print(text + "\n" + footer)
    print(f"wrote {out / 'results.md'}, results.json")


if __name__ == "__main__":
    main()
