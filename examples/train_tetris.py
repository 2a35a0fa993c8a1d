"""Train the tetris network for each tensor-product variant and backend; print accuracy and speed.

    python examples/train_tetris.py --variants cgtp,gtp,s2grid --backends torch,jax --epochs 12

Expected: cgtp classifies all eight pieces, including the mirror-image pair; the Gaunt variants
(gtp, s2grid) cannot tell the mirror images apart (chiral-pair accuracy about 50%, overall at most
7/8), because they only have the symmetric paths (see tetris_data's docstring).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tetris_data as data  # noqa: E402

TRAINERS = {"torch": "tetris_torch", "jax": "tetris_jax"}


def progress_line(label: str):
    """A callback drawing ``label [#####.....] 5/10 loss 0.123`` on stderr (tqdm is not a dependency)."""
    start = time.perf_counter()

    def draw(done: int, total: int, loss: float) -> None:
        bar = "#" * (20 * done // total) + "." * (20 - 20 * done // total)
        elapsed = time.perf_counter() - start
        sys.stderr.write(f"\r{label:<16} [{bar}] {done}/{total} loss {loss:.3f} {elapsed:5.1f}s")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return draw


def run(variants, backends, epochs, copies, per_batch, seed=0, show_progress=True) -> list[dict]:
    """One result row per (backend, variant)."""
    import importlib

    train_set = data.make_dataset(copies, seed=seed)
    test_set = data.make_dataset(max(copies // 2, 2), seed=seed + 1)
    rows = []
    for backend in backends:
        trainer = importlib.import_module(TRAINERS[backend])
        for variant in variants:
            label = f"{backend}/{variant}"
            result = trainer.train(variant, train_set, test_set, epochs, per_batch, seed=seed, progress=progress_line(label) if show_progress else None)
            rows.append({"backend": backend, "variant": variant, **result})
    return rows


def table(rows: list[dict]) -> str:
    """Accuracy and seconds per epoch; 'first' includes jax's compilation, 'steady' is the mean of the rest."""
    lines = [f"{'backend':<8}{'variant':<9}{'test acc':>9}{'chiral acc':>11}{'final loss':>11}{'s/epoch first':>14}{'s/epoch steady':>15}"]
    for r in rows:
        seconds = r["epoch_seconds"]
        steady = sum(seconds[1:]) / len(seconds[1:]) if len(seconds) > 1 else seconds[0]
        lines.append(
            f"{r['backend']:<8}{r['variant']:<9}{r['accuracy']:>9.1%}{r['chiral_accuracy']:>11.1%}{r['losses'][-1]:>11.3f}"
            f"{seconds[0]:>14.3f}{steady:>15.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="cgtp,gtp,s2grid", help="comma-separated tpcore variants")
    parser.add_argument("--backends", default="torch,jax", help="comma-separated: torch, jax")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--copies", type=int, default=16, help="rotated copies of each piece in the training set")
    parser.add_argument("--per-batch", type=int, default=2, help="copies of each piece per minibatch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for backend in args.backends.split(","):
        if backend not in TRAINERS:
            parser.error(f"--backends: {backend!r} is not one of {', '.join(TRAINERS)}")
    rows = run(args.variants.split(","), args.backends.split(","), args.epochs, args.copies, args.per_batch, args.seed)
    print(table(rows))


if __name__ == "__main__":
    main()
