"""SevenNet-0 on e3nn and on tpcore (``tpcore_sevennet.patch``), timed side by side in one process.

    .venv-sevenn/bin/python scripts/sevennet_bench.py [--quick] [--out FILE] [--threads N]

The pretrained SevenNet-0 (shipped in the sevenn wheel; 5 layers, 128 channels, float32) is built
once and copied; one copy is patched. Two kinds of call, each on both models:

- ``E+F+S``: SevenNet's ASE-calculator path on one periodic structure (eval mode, unbatched):
  energy, and forces and stress from the model's own autograd.
- ``train step``: one step of SevenNet's ``Trainer`` (its own loss from SevenNet-0's config:
  energy, force, stress; Adam) on a batch of EMT-labelled copper cells.

All calls are timed in the same rounds by tpcore's ``interleaved`` (shuffled order each round,
allocator steady, garbage collector off), so both models see the same drift of a shared machine;
ratios are e3nn time / tpcore time (> 1: tpcore faster). The difference columns compare the two
models' first outputs. Writes a markdown table (docs/results/sevennet-cpu.md for the full run) and
prints it.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

#: name -> (ase.build.bulk arguments, repetition, rattle amplitude in Angstrom)
STRUCTURES = {
    "Si64": (("Si", "diamond", 5.43), (2, 2, 2), 0.05),
    "Si16": (("Si", "diamond", 5.43), (1, 1, 2), 0.05),
    "NaCl216": (("NaCl", "rocksalt", 5.64), (3, 3, 3), 0.05),
}
PROFILES = {
    # a few minutes: at least 7 rounds unless they take over 4 minutes
    "full": dict(inference=("Si64", "NaCl216"), train_cells=4, train_repeat=(2, 2, 2), min_rounds=7, budget_s=240.0),
    # CI's smoke run: under 2 minutes with the model build
    "quick": dict(inference=("Si16",), train_cells=2, train_repeat=(1, 1, 2), min_rounds=3, budget_s=5.0),
}  # fmt: skip


def structure(name):
    from ase.build import bulk

    (formula, kind, a), repeat, rattle = STRUCTURES[name]
    atoms = bulk(formula, kind, a=a, cubic=True) * repeat
    atoms.rattle(rattle, seed=1)
    return atoms


def copper_batch(n_cells, repeat, cutoff):
    """EMT-labelled (energy, forces, stress) rattled and strained fcc copper cells, one batch."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import atoms_to_graph
    from torch_geometric.data import Batch

    graphs = []
    for k in range(n_cells):
        atoms = bulk("Cu", "fcc", a=3.61 * (1 + 0.01 * k), cubic=True) * repeat
        atoms.rattle(0.1, seed=k)
        atoms.calc = EMT()
        graphs.append(AtomGraphData.from_numpy_dict(atoms_to_graph(atoms, cutoff, y_from_calc=True)))
    return Batch.from_data_list(graphs)


def build(threads):
    import sevenn._keys as KEY
    from sevenn.util import load_checkpoint

    from tpcore_sevennet import patch

    torch.set_num_threads(threads)
    cp = load_checkpoint("7net-0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e3nn_model = cp.build_model()
    config = cp.config
    # Adam at a small rate: the pretrained weights stay where they are over the rounds
    config.update({KEY.DEVICE: "cpu", KEY.IS_DDP: False, KEY.OPTIM_PARAM: {"lr": 1e-6}})
    models = {"e3nn": e3nn_model, "tpcore": patch(copy.deepcopy(e3nn_model))}
    return models, config


def inference_call(model, atoms, cutoff):
    import sevenn._keys as KEY
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph

    model = copy.deepcopy(model)
    model.set_is_batch_data(False)
    model.eval()
    data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, cutoff))

    def call():
        out = model(data.clone())
        return {k: out[key].detach().numpy() for k, key in (("E", KEY.PRED_TOTAL_ENERGY), ("F", KEY.PRED_FORCE), ("S", KEY.PRED_STRESS))}

    return call, int(data[KEY.EDGE_IDX].shape[1])


def train_call(model, config, batch):
    from sevenn.train.trainer import Trainer

    trainer = Trainer.from_config(copy.deepcopy(model), config)

    def call():
        # Trainer.run_one_epoch's step, with the total loss kept for the difference column
        trainer.model.train()
        trainer.optimizer.zero_grad()
        out = trainer.model(batch.clone())
        loss = sum(w * fn.get_loss(out, trainer.model) for fn, w in trainer.loss_functions)
        loss.backward()
        trainer.optimizer.step()
        return {"loss": loss.detach().numpy()}

    return call


def run(profile, threads, log=print):
    import sevenn._keys as KEY

    from tpcore.report.timing import interleaved

    t0 = time.perf_counter()
    models, config = build(threads)
    cutoff = config[KEY.CUTOFF]
    workloads, calls, diffs = [], {}, {}
    for name in profile["inference"]:
        atoms = structure(name)
        per_model = {}
        for impl, model in models.items():
            per_model[impl], edges = inference_call(model, atoms, cutoff)
        key = f"E+F+S, {name}"
        workloads.append((key, f"{len(atoms)} atoms, {edges} edges"))
        calls.update({(key, impl): c for impl, c in per_model.items()})
    batch = copper_batch(profile["train_cells"], profile["train_repeat"], cutoff)
    key = f"train step, Cu {profile['train_cells']}x{batch.num_nodes // profile['train_cells']}"
    workloads.append((key, f"{batch.num_nodes} atoms, {batch.edge_index.shape[1]} edges"))
    calls.update({(key, impl): train_call(model, config, batch) for impl, model in models.items()})
    log(f"sevennet: SevenNet-0 built and copied in {time.perf_counter() - t0:.0f} s; warming up")
    for key, _ in workloads:  # warm-up: the first outputs of both models, and their differences
        first = {impl: calls[(key, impl)]() for impl in models}
        calls[(key, "tpcore")]()
        calls[(key, "e3nn")]()
        diffs[key] = {q: float(np.abs(first["tpcore"][q] - first["e3nn"][q]).max()) for q in first["e3nn"]}
    log(f"sevennet: timing {len(calls)} calls in interleaved rounds")
    timings = interleaved(calls, min_rounds=profile["min_rounds"], budget_s=profile["budget_s"])
    return workloads, timings, diffs


def table(workloads, timings, diffs, threads, profile_name) -> str:
    import e3nn
    import sevenn

    rows, worst = [], None
    for key, size in workloads:
        e, t = timings[(key, "e3nn")], timings[(key, "tpcore")]
        ratio = e.median_s / t.median_s
        worst = min(worst or (ratio, key), (ratio, key))
        diff = ", ".join(f"{q} {v:.1e}" for q, v in diffs[key].items())
        rows.append(f"| {key} | {size} | {e.median_s * 1e3:.0f} | {t.median_s * 1e3:.0f} | **{ratio:.2f}** | "
                    f"{e.spread:.2f} / {t.spread:.2f} | {e.rounds} | {diff} |")  # fmt: skip
    return "\n".join([
        f"# SevenNet-0 on tpcore, CPU ({profile_name} profile, {date.today().isoformat()})",
        "",
        f"`bash scripts/sevennet.sh{' --quick' if profile_name == 'quick' else ''}` (scripts/sevennet_bench.py): the pretrained "
        "SevenNet-0 (5 layers, 128 channels, float32) on e3nn and with its convolutions on tpcore "
        "(`tpcore_sevennet.patch`, auto strategy), every call in the same interleaved rounds. "
        f"torch {torch.__version__}, sevenn {sevenn.__version__}, e3nn {e3nn.__version__}, {threads} thread(s), "
        f"{cpu_name()}; a shared machine: ratios, not absolute times, carry over.",
        "",
        "E+F+S: energy, forces and stress of one structure as SevenNet's ASE calculator computes them. "
        "Train step: SevenNet's Trainer loss (energy, force, stress), backward and Adam step on a batch of "
        "EMT-labelled copper cells. Ratio: e3nn time / tpcore time (> 1: tpcore faster). Spread: interquartile "
        "range over the median. Difference: max |tpcore - e3nn| of the two models' first outputs, in SevenNet's units.",
        "",
        "| workload | size | e3nn ms | tpcore ms | e3nn / tpcore | spread e3nn / tpcore | rounds | difference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Worst cell: {worst[1]}, {worst[0]:.2f}x.",
        "",
    ])  # fmt: skip


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        return f"{model}, {sum(line.startswith('processor') for line in lines)} cores"
    except (OSError, StopIteration):
        return f"{platform.machine()} CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small structure and a small batch (CI's smoke run)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file to write (default: docs/results/sevennet-cpu.md, or out/sevennet/sevennet-cpu-quick.md with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "full"
    out = args.out or (ROOT / ("out/sevennet/sevennet-cpu-quick.md" if args.quick else "docs/results/sevennet-cpu.md"))
    text = table(*run(PROFILES[name], args.threads), threads=args.threads, profile_name=name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
