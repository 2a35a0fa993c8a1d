"""What the subcommands of ``tpcore`` share: the spec options, the table printer, the exit codes.

Every subcommand module imports from here and nothing from :mod:`tpcore.cli` itself, which only
collects the subcommands.
"""

from __future__ import annotations

import argparse
from typing import Sequence

#: exit code of a usage error, as argparse uses
USAGE_ERROR = 2


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a spec: ``--variant --irreps-in1 --irreps-in2 --irreps-out [--mode] [--weighted]``."""
    from tpcore.spec import VARIANTS

    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--irreps-in1", required=True, help='e3nn syntax, e.g. "8x0e+8x1o"')
    parser.add_argument("--irreps-in2", required=True)
    parser.add_argument("--irreps-out", required=True)
    parser.add_argument("--mode", default=None, help="cgtp connection mode (default uvw)")
    parser.add_argument("--weighted", action="store_true", help="per-channel, per-degree weights (gtp, s2grid, mtp)")


def spec_from_args(args: argparse.Namespace):
    """The spec named by the options of :func:`add_spec_arguments`."""
    from tpcore.spec import TensorProductSpec

    irreps = (args.irreps_in1, args.irreps_in2, args.irreps_out)
    if args.variant == "cgtp":
        if args.weighted:
            raise ValueError("--weighted applies to gtp, s2grid and mtp; cgtp weights follow --mode")
        return TensorProductSpec.cgtp(*irreps, mode=args.mode or "uvw")
    if args.mode is not None:
        raise ValueError(f"--mode applies to cgtp only; {args.variant} acts channel-wise")
    return getattr(TensorProductSpec, args.variant)(*irreps, weighted=args.weighted)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Plain aligned columns, numbers right-aligned; empty string when there are no rows."""
    if not rows:
        return ""
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values):
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  " + "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


__all__ = ["USAGE_ERROR", "add_spec_arguments", "spec_from_args", "table"]
