"""e3nn NequIP and tpcore NequIP side by side: the same model before and after ``enable_tpcore``.

    python -m tpcore_nequip.benchmark [--quick] [--out FILE] [--threads N] [--impl NAME]

For each size (``l_max``, features, dtype) one NequIP GNN is built, copied and modified; the copy
must give e3nn's energies and forces (float64 to 1e-10, float32 to 1e-4 relative), then energy +
forces and a training step (energy + forces, then the backward pass of an energy + forces loss into
the parameters) of both are timed in the same rounds (:func:`tpcore.report.timing.interleaved`).
The table gives e3nn time / tpcore time (> 1: tpcore is faster). The full run writes
``docs/results/nequip-cpu.md``; both print the table. Exit status 1 if a model is not exact.
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

#: max |tpcore - e3nn| / max |e3nn| of energies and forces allowed per model dtype
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
TYPES = ["Cu", "Au"]
R_MAX = 4.0


@dataclass(frozen=True)
class Size:
    l_max: int
    features: int
    dtype: str


@dataclass(frozen=True)
class Profile:
    sizes: tuple[Size, ...]
    cells: tuple[int, int, int]  # fcc cubic cells per frame (4 atoms each)
    frames: int
    budget_s: float  # timing seconds per size
    min_rounds: int


def _sizes(l_maxes, features, dtypes):
    return tuple(Size(lm, f, d) for d in dtypes for lm in l_maxes for f in features)


PROFILES = {
    # about 15 min on 2 idle cores, one thread
    "default": Profile(_sizes((1, 2), (16, 32, 64), ("float32", "float64")), cells=(3, 3, 3), frames=2, budget_s=20.0, min_rounds=7),
    # under a minute: CI's smoke run of the whole pipeline
    "quick": Profile(_sizes((1,), (16,), ("float32", "float64")), cells=(2, 2, 2), frames=2, budget_s=2.0, min_rounds=3),
}  # fmt: skip


def build_model(size: Size, seed: int = 0) -> torch.nn.Module:
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    return NequIPGNNModel(
        seed=seed, model_dtype=size.dtype, r_max=R_MAX, type_names=TYPES, num_layers=4, l_max=size.l_max,
        num_features=size.features, avg_num_neighbors=18.0,
    )  # fmt: skip


def build_batch(cells, frames: int, seed: int = 0) -> dict:
    """``frames`` periodic fcc Cu cells (a quarter of the atoms Au), rattled: about 18 neighbours per atom."""
    import ase.build
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    to_types = ChemicalSpeciesToAtomTypeMapper(model_type_names=TYPES)
    out = []
    for i in range(frames):
        atoms = ase.build.bulk("Cu", "fcc", a=3.7, cubic=True).repeat(cells)
        atoms.symbols[::4] = "Au"
        atoms.rattle(0.05, seed=seed + i)
        out.append(to_types(compute_neighborlist_(from_ase(atoms), r_max=R_MAX)))
    return AtomicDataDict.batched_from_list(out)


def energy_forces(model, data):
    out = model(dict(data))
    return out["total_energy"], out["forces"]


def training_step(model, data):
    for p in model.parameters():
        p.grad = None
    energy, forces = energy_forces(model, data)
    ((energy**2).sum() + (forces**2).sum()).backward()
    return energy


def max_error(reference, modified, data) -> float:
    """Max |tpcore - e3nn| over max |e3nn|, energies and forces together."""
    err, scale = 0.0, 0.0
    for a, e in zip(energy_forces(modified, data), energy_forces(reference, data)):
        err = max(err, float((a - e).detach().abs().max()))
        scale = max(scale, float(e.detach().abs().max()))
    return err / (scale or 1.0)


@dataclass
class Row:
    size: Size
    atoms: int
    edges: int
    error: float
    ms: dict  # (variant, phase) -> median ms
    spread: float  # the largest interquartile range / median of the four

    def ratio(self, phase: str) -> float:
        return self.ms["e3nn", phase] / self.ms["tpcore", phase]


def measure(size: Size, profile: Profile, impl: str | None, log=print) -> Row:
    from nequip.model import modify

    from tpcore.report.timing import interleaved

    reference = build_model(size)
    modified = modify(copy.deepcopy(reference), [{"modifier": "enable_tpcore", "impl": impl}])
    data = build_batch(profile.cells, profile.frames)
    error = max_error(reference, modified, data)
    calls = {}
    for variant, model in (("e3nn", reference), ("tpcore", modified)):
        calls[variant, "energy+forces"] = lambda m=model: energy_forces(m, data)
        calls[variant, "training step"] = lambda m=model: training_step(m, data)
    for call in calls.values():  # warm up: caches, allocator, autograd graphs
        call()
    timings = interleaved(calls, min_rounds=profile.min_rounds, budget_s=profile.budget_s)
    row = Row(size, int(data["pos"].shape[0]), int(data["edge_index"].shape[1]), error,
              {k: t.median_s * 1e3 for k, t in timings.items()}, max(t.spread for t in timings.values()))  # fmt: skip
    log(f"l_max {size.l_max}, {size.features} features, {size.dtype}: error {error:.1e}, "
        f"energy+forces {row.ratio('energy+forces'):.2f}x, training step {row.ratio('training step'):.2f}x "
        f"({next(iter(timings.values())).rounds} rounds)")  # fmt: skip
    return row


def table(rows: list[Row], profile: Profile, threads: int, impl: str | None) -> str:
    lines = [
        "| l_max | features | dtype | e3nn energy+forces (ms) | e3nn / tpcore | e3nn training step (ms) | e3nn / tpcore | max error | spread |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.size
        lines.append(
            f"| {s.l_max} | {s.features} | {s.dtype} | {r.ms['e3nn', 'energy+forces']:.1f} | {r.ratio('energy+forces'):.2f} "
            f"| {r.ms['e3nn', 'training step']:.1f} | {r.ratio('training step'):.2f} | {r.error:.1e} | {r.spread:.0%} |"
        )
    worst = min(((r, phase) for r in rows for phase in ("energy+forces", "training step")), key=lambda rp: rp[0].ratio(rp[1]))
    r, phase = worst
    import nequip

    lines += [
        "",
        f"NequIP {nequip.__version__} GNN (4 layers, r_max {R_MAX} Å, types {', '.join(TYPES)}), every e3nn tensor "
        f"product swapped and each convolution's gather, product and scatter made one tpcore op by `enable_tpcore` "
        f"(impl {impl or 'auto'}); {profile.frames} frames of {rows[0].atoms // profile.frames} "
        f"atoms, {rows[0].edges} edges in all. Ratios > 1: tpcore is faster. Energy+forces: one call (forces by autograd "
        "inside the model); training step: that call, then the backward pass of an energy + forces loss into the parameters. "
        f"Medians of interleaved rounds (`tpcore.report.timing.interleaved`), one process, {threads} thread(s), "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}; spread: the largest interquartile "
        "range / median of a row's four timings. Max error: max |tpcore - e3nn| / max |e3nn| of energies and forces. "
        f"Worst cell: {phase}, l_max {r.size.l_max}, {r.size.features} features, {r.size.dtype}, {r.ratio(phase):.2f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI's profile: one small size in both dtypes, short timing")
    parser.add_argument("--out", type=Path, default=None, help="markdown file for the table (full run: docs/results/nequip-cpu.md)")
    parser.add_argument("--impl", default=None, help="tpcore implementation for every tensor product (default: tpcore's choice)")
    # One thread by default, as scripts/mace.sh: OpenMP threads on a CPU that other jobs share
    # ran several times slower (spinning at barriers while descheduled).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile = PROFILES["quick" if args.quick else "default"]
    out = args.out if args.out is not None or args.quick else Path("docs/results/nequip-cpu.md")
    start = time.perf_counter()
    rows = [measure(size, profile, args.impl, log=lambda s: print(s, file=sys.stderr)) for size in profile.sizes]
    text = table(rows, profile, args.threads, args.impl)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("# NequIP: e3nn against tpcore (CPU)\n\n`bash scripts/nequip.sh`\n\n" + text)
        print(f"wrote {out}", file=sys.stderr)
    print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    inexact = [r for r in rows if not r.error <= TOLERANCE[r.size.dtype]]
    for r in inexact:
        print(f"not exact: l_max {r.size.l_max}, {r.size.features} features, {r.size.dtype}: error {r.error:.1e} > {TOLERANCE[r.size.dtype]:g}", file=sys.stderr)
    return 1 if inexact else 0


if __name__ == "__main__":
    raise SystemExit(main())
