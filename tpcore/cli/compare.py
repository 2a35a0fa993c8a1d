"""``tpcore compare``: tpcore against e3nn and e3nn-jax, side by side in one run (see :mod:`tpcore.report.compare`)."""

from __future__ import annotations

import argparse
import sys

HELP = "time tpcore against e3nn and e3nn-jax in one run and print speedups, growth exponents, peak fractions"


def configure(parser: argparse.ArgumentParser) -> None:
    from tpcore.report.compare import WORKLOADS

    parser.add_argument("--lmax", type=int, default=6, help="L = LMIN..LMAX (default 6)")
    parser.add_argument("--lmin", type=int, default=1, help="(default 1)")
    parser.add_argument("--batch", type=int, default=1000, help="samples per call (default 1000)")
    parser.add_argument("--backends", default="torch,jax", help="comma-separated, among torch,jax (default both)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated among {','.join(WORKLOADS)}")
    parser.add_argument("--repeat", type=int, default=7,
                        help="timed calls per measurement, taking turns with the peer; the fastest counts (default 7)")
    parser.add_argument("--out", default=None, help="also write the tables as markdown to this file")


def run(args: argparse.Namespace) -> int:
    from tpcore.registry import get_registry
    from tpcore.report.compare import PEERS, WORKLOADS, measure, tables

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [b for b in backends if b not in PEERS] + [w for w in workloads if w not in WORKLOADS]
    if bad or args.lmin < 1 or args.lmax < args.lmin:
        print(f"tpcore compare: error: unknown {bad} or bad L range (backends {list(PEERS)}, workloads {WORKLOADS})",
              file=sys.stderr)
        return 2
    registry = get_registry()
    usable = [b for b in backends if registry.reason(b) is None]
    for b in set(backends) - set(usable):
        print(f"tpcore compare: skipping {b}: {registry.reason(b)}", file=sys.stderr)
    Ls = list(range(args.lmin, args.lmax + 1))
    rows, peaks = measure(usable, workloads, Ls, args.batch, args.repeat)
    text = "\n\n".join(tables(rows, peaks, Ls, args.batch))
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
