"""``tpcore compare``: tpcore against e3nn and e3nn-jax, side by side in one run (see :mod:`tpcore.report.compare`)."""

from __future__ import annotations

import argparse
import sys

from tpcore.cli.common import UsageError, check_names, names, output_file, positive_float, positive_int
from tpcore.report.timing import BUDGET_S

HELP = "time tpcore against e3nn and e3nn-jax in one run and print speedups, growth exponents, peak fractions"


def configure(parser: argparse.ArgumentParser) -> None:
    from tpcore.report.compare import WORKLOADS
    from tpcore.report.workloads import PEERS

    backends = ",".join(PEERS.values())
    parser.add_argument("--lmax", type=positive_int, default=6, help="L = LMIN..LMAX (default 6)")
    parser.add_argument("--lmin", type=positive_int, default=1, help="(default 1)")
    parser.add_argument("--batch", type=positive_int, default=1000, help="samples per call (default 1000)")
    parser.add_argument("--backends", type=names, default=list(PEERS.values()),
                        help=f"comma-separated, among {backends} (default all)")
    parser.add_argument("--workloads", type=names, default=list(WORKLOADS), help=f"comma-separated among {','.join(WORKLOADS)}")
    parser.add_argument("--repeat", type=positive_int, default=7,
                        help="interleaved rounds at least, each timing every workload and implementation of one "
                             "backend and L once; the median counts (default 7)")
    parser.add_argument("--timing-seconds", type=positive_float, default=BUDGET_S,
                        help=f"stop adding timing rounds at one backend and L after this many seconds (default {BUDGET_S:g})")
    parser.add_argument("--out", default=None, help="also write the tables as markdown to this file")


def run(args: argparse.Namespace) -> int:
    from tpcore.registry import get_registry
    from tpcore.report.compare import WORKLOADS, measure, tables
    from tpcore.report.workloads import PEERS

    check_names("--backends", args.backends, list(PEERS.values()), "the backends with an e3nn peer")
    check_names("--workloads", args.workloads, WORKLOADS, "the workloads")
    if args.lmax < args.lmin:
        raise UsageError(f"--lmax {args.lmax} is below --lmin {args.lmin}")
    if args.out:
        output_file("--out", args.out)
    registry = get_registry()
    reasons = {b: registry.reason(b) if b in registry.backends else "not registered" for b in args.backends}
    usable = [b for b in args.backends if reasons[b] is None]
    if not usable:
        raise UsageError("--backends: none is usable: " + "; ".join(f"{b}: {why}" for b, why in reasons.items()))
    for b in args.backends:
        if reasons[b] is not None:
            print(f"tpcore compare: skipping {b}: {reasons[b]}", file=sys.stderr)
    Ls = list(range(args.lmin, args.lmax + 1))
    rows, peaks = measure(usable, args.workloads, Ls, args.batch, args.repeat, budget_s=args.timing_seconds)
    text = "\n\n".join(tables(rows, peaks, Ls, args.batch))
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
