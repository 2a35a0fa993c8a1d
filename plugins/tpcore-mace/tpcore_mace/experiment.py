"""The MACE benchmark: e3nn-CG, tpcore-CG, tpcore-S2-grid and tpcore-GTP MACE on one EMT data set.

    python -m tpcore_mace.experiment [--quick] [--out out/mace]

All four models start from the same seed and see the same batches in the same order; epochs are
interleaved (epoch k of every variant before epoch k+1 of any, the variants' order rotating), so
machine drift hits all alike. Writes ``results.md`` (the table), ``results.json`` (every epoch) and
``learning_curves.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from tpcore_mace import data
from tpcore_mace.models import MACEConfig, build_mace, count_parameters
from tpcore_mace.training import LossWeights, batches, evaluate, reference_energies, scale_shift, train_epoch

#: variant -> (table name, backend)
NAMES = {
    "e3nn": ("e3nn-CG", "e3nn (torch)"),
    "cgtp": ("tpcore-CG", "tpcore torch cgtp"),
    "s2grid": ("tpcore-S2-grid", "tpcore torch s2grid"),
    "gtp": ("tpcore-GTP", "tpcore torch gtp"),
}

PROFILES = {
    # about 20 min on 2 idle cores for the four variants together; GTP takes most of it
    "default": dict(data=data.EMTDataSpec(n_configs=128), n_valid=32, epochs=8, batch_size=8, lr=0.01, config=MACEConfig()),
    # about 1 min: CI's smoke run of the whole pipeline
    "quick": dict(data=data.EMTDataSpec(n_configs=32, equilibration_steps=40, stride=5), n_valid=8, epochs=2, batch_size=8, lr=0.01,
                  config=MACEConfig(channels=8, radial_MLP=(16, 16), MLP_irreps="8x0e")),
}  # fmt: skip


def run(profile: dict, variants, out: Path, cache: Path, dtype: str, seed: int = 0, log=print) -> dict:
    torch.set_default_dtype(getattr(torch, dtype))
    frames = data.load(profile["data"], cache_dir=cache)
    train_frames, valid_frames = data.split(frames, profile["n_valid"], seed=seed)
    atomic_numbers = sorted({int(z) for a in frames for z in a.numbers})
    from mace.tools.utils import AtomicNumberTable

    config: MACEConfig = profile["config"]
    z_table = AtomicNumberTable(atomic_numbers)
    train_graphs = data.to_graphs(train_frames, z_table, config.r_max)
    valid_graphs = data.to_graphs(valid_frames, z_table, config.r_max)
    e0 = reference_energies(train_frames, atomic_numbers)
    scale, shift, avg_neighbors = scale_shift(train_graphs, train_frames, e0, atomic_numbers)
    log(f"data: {len(train_graphs)} train / {len(valid_graphs)} valid configurations, {avg_neighbors:.1f} neighbours per atom")

    models, optimizers = {}, {}
    for v in variants:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e3nn 0.4.4's TorchScript notes while building
            models[v] = build_mace(v, atomic_numbers, e0, avg_neighbors, config, scale=scale, shift=shift, seed=seed)
        optimizers[v] = torch.optim.Adam(models[v].parameters(), lr=profile["lr"], amsgrad=True)
    valid_batches = batches(valid_graphs, 16)
    history = {v: [] for v in variants}
    weights = LossWeights()
    result = {
        "config": asdict(config) | {"hidden_irreps": config.hidden_irreps},
        "data": asdict(profile["data"]) | {"n_train": len(train_graphs), "n_valid": len(valid_graphs), "avg_num_neighbors": avg_neighbors},
        "training": {"epochs": profile["epochs"], "batch_size": profile["batch_size"], "lr": profile["lr"], "dtype": dtype, "loss": asdict(weights)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()},
        "parameters": {v: count_parameters(m) for v, m in models.items()},
        "history": history,
    }  # fmt: skip
    for epoch in range(profile["epochs"]):
        train_batches = batches(train_graphs, profile["batch_size"], torch.Generator().manual_seed(seed + epoch))
        order = variants[epoch % len(variants) :] + variants[: epoch % len(variants)]
        for v in order:
            loss, seconds = train_epoch(models[v], optimizers[v], train_batches, weights)
            history[v].append({"epoch": epoch + 1, "loss": loss, "seconds": seconds, **evaluate(models[v], valid_batches)})
        log(f"epoch {epoch + 1}: " + "  ".join(f"{NAMES[v][0]} {history[v][-1]['force_mae']:.1f} meV/A {history[v][-1]['seconds']:.1f}s" for v in variants))
        # written after every epoch (history grows in place), so an interrupted run leaves its table
        write(out, result)
    return result


def write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "results.md").write_text(table(result))
    plot(result, out / "learning_curves.png")


def seconds_per_epoch(epochs: list) -> float:
    """Median training time per epoch, the first (warm-up) epoch left out when there are others."""
    times = [e["seconds"] for e in epochs]
    return statistics.median(times[1:] if len(times) > 1 else times)


def table(result: dict) -> str:
    history = result["history"]
    base = seconds_per_epoch(history["e3nn"]) if "e3nn" in history else None
    lines = [
        "| variant | backend | energy MAE (meV/atom) | force MAE (meV/Å) | s/epoch | speedup vs e3nn-CG | parameters |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for v, epochs in history.items():
        name, backend = NAMES[v]
        s = seconds_per_epoch(epochs)
        speedup = f"{base / s:.2f}x" if base else "n/a"
        last = epochs[-1]
        lines.append(f"| {name} | {backend} | {last['energy_mae']:.2f} | {last['force_mae']:.1f} | {s:.2f} | {speedup} | {result['parameters'][v]:,} |")
    c, d, t = result["config"], result["data"], result["training"]
    lines += [
        "",
        f"MACE: hidden irreps {c['hidden_irreps']}, max_ell {c['max_ell']}, correlation {c['correlation']}, "
        f"{c['num_interactions']} interactions, r_max {c['r_max']} Å, radial MLP {list(c['radial_MLP'])}. "
        f"Data: EMT MD, {d['n_train']} train / {d['n_valid']} valid configurations, {d['avg_num_neighbors']:.1f} neighbours per atom. "
        f"Training: {t['epochs']} epochs, batch {t['batch_size']}, Adam lr {t['lr']}, {t['dtype']}, "
        f"{result['machine']['threads']} threads, torch {result['machine']['torch']}. "
        "MAEs on the validation set after the last epoch; s/epoch is the median training time of an epoch "
        "(first epoch left out), validation excluded.",
        "",
    ]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for v, epochs in result["history"].items():
        name = NAMES[v][0]
        x = [e["epoch"] for e in epochs]
        style = {"linestyle": "--", "marker": "x"} if v in ("cgtp", "gtp") else {"marker": "o"}
        axes[0].plot(x, [e["force_mae"] for e in epochs], label=name, **style)
        axes[1].plot(x, [e["energy_mae"] for e in epochs], label=name, **style)
        wall = [sum(e["seconds"] for e in epochs[: k + 1]) for k in range(len(epochs))]
        axes[2].plot(wall, [e["force_mae"] for e in epochs], label=name, **style)
    for ax, (xl, yl) in zip(axes, [("epoch", "force MAE (meV/Å)"), ("epoch", "energy MAE (meV/atom)"), ("training time (s)", "force MAE (meV/Å)")]):
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("MACE on EMT metals: validation error (e3nn-CG = tpcore-CG and S2-grid = GTP by construction: dashed over solid)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI profile: a small model and data set, a few epochs")
    parser.add_argument("--out", type=Path, default=Path("out/mace"), help="where results.md, results.json and the PNG go")
    parser.add_argument("--cache", type=Path, default=Path(".cache/tpcore-mace"), help="where the generated data set is cached")
    parser.add_argument("--variants", default=",".join(NAMES), help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="MACE's default is float64")
    # One thread by default: these small batches gain little from a second one, and OpenMP threads
    # on a CPU that other jobs share ran 5-10x slower (spinning at barriers while descheduled).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile = dict(PROFILES["quick" if args.quick else "default"])
    if args.epochs is not None:
        profile["epochs"] = args.epochs
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in NAMES]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {list(NAMES)}")
    start = time.perf_counter()
    run(profile, variants, args.out, args.cache, args.dtype)
    print((args.out / "results.md").read_text())
    print(f"wrote {args.out}/results.md, results.json, learning_curves.png in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
