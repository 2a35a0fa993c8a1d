"""``tpcore compare``: tpcore against e3nn and e3nn-jax on the shapes real models use (see :mod:`tpcore.report.compare`)."""

from __future__ import annotations

import argparse
import sys

from tpcore.cli.common import (
    UsageError,
    batch_size,
    check_names,
    degree,
    device_problem,
    names,
    output_file,
    positive_float,
    positive_int,
    sized_by,
)
from tpcore.report.timing import BUDGET_S

HELP = "time tpcore against e3nn and e3nn-jax on real-model shapes and list the cells below target"

#: what --quick sets, for each option not given (a run of a few minutes)
QUICK = {"lmax": 2, "batch": 256, "repeat": 3, "timing_seconds": 2.0}
DEFAULTS = {"lmax": 6, "batch": 1000, "repeat": 7, "timing_seconds": BUDGET_S}


def configure(parser: argparse.ArgumentParser) -> None:
    from tpcore.report.compare import WORKLOADS
    from tpcore.report.workloads import ALIASES, PEERS, SHAPES

    backends = ",".join(PEERS.values())
    caps = ", ".join(f"{s.name} to L={s.max_L_cpu}" for s in SHAPES.values() if s.max_L_cpu < DEFAULTS["lmax"])
    aliases = ", ".join(f"{a} = {n}" for a, n in ALIASES.items())
    parser.add_argument("--lmax", type=degree, default=None, help="L = LMIN..LMAX (default 6; 2 with --quick)")
    parser.add_argument("--lmin", type=degree, default=1, help="(default 1)")
    parser.add_argument("--batch", type=batch_size, default=None, help="rows (edges) per call (default 1000; 256 with --quick)")
    parser.add_argument("--backends", type=names, default=list(PEERS.values()),
                        help=f"comma-separated, among {backends} (default all)")
    parser.add_argument("--workloads", type=names, default=None,
                        help=f"comma-separated among {','.join(WORKLOADS)} (default all, each on a CPU up to "
                             f"its largest CPU degree: {caps}; a shape named here runs at every L; {aliases})")
    parser.add_argument("--device", default=None,
                        help="where to run, e.g. cuda or cuda:1 (jax's gpu); default each backend's default device")
    parser.add_argument("--quick", action="store_true",
                        help="a small run: " + ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in QUICK.items())
                        + " unless given")
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help="interleaved rounds at least, each timing every workload and implementation of one "
                             "backend and L once; the median counts (default 7; 3 with --quick)")
    parser.add_argument("--timing-seconds", type=positive_float, default=None,
                        help=f"stop adding timing rounds at one backend and L after this many seconds (default {BUDGET_S:g}; "
                             f"{QUICK['timing_seconds']:g} with --quick)")
    parser.add_argument("--out", default=None, help="also write the tables as markdown to this file")


def run(args: argparse.Namespace) -> int:
    from tpcore.registry import get_registry
    from tpcore.report.compare import WORKLOADS, canonical, measure, tables
    from tpcore.report.workloads import ALIASES, PEERS

    for key, default in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else default)
    check_names("--backends", args.backends, list(PEERS.values()), "the backends with an e3nn peer")
    capped = args.workloads is None
    if capped:
        args.workloads = list(WORKLOADS)
    check_names("--workloads", args.workloads, [*WORKLOADS, *ALIASES], "the workloads")
    if args.lmax < args.lmin:
        raise UsageError(f"--lmax {args.lmax} is below --lmin {args.lmin}")
    if args.out is not None:
        output_file("--out", args.out)
    registry = get_registry()
    reasons = {b: registry.reason(b) if b in registry.backends else "not registered" for b in args.backends}
    if args.device is not None:
        reasons = {b: why or device_problem(b, args.device) for b, why in reasons.items()}
    usable = [b for b in args.backends if reasons[b] is None]
    if not usable:
        option = f"--device {args.device}" if args.device is not None else "--backends"
        raise UsageError(f"{option}: none is usable: " + "; ".join(f"{b}: {why}" for b, why in reasons.items()))
    for b in args.backends:
        if reasons[b] is not None:
            print(f"tpcore compare: skipping {b}: {reasons[b]}", file=sys.stderr)
    Ls = list(range(args.lmin, args.lmax + 1))
    workloads = list(dict.fromkeys(canonical(w) for w in args.workloads))
    with sized_by(f"--batch {args.batch}, --lmax {args.lmax}"):
        rows, peaks = measure(usable, workloads, Ls, args.batch, args.repeat, budget_s=args.timing_seconds,
                              device=args.device, capped=capped)
    text = "\n\n".join(tables(rows, peaks, Ls, args.batch, args.device))
    print(text)
    if args.out is not None:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
