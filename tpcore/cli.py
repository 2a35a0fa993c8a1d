"""The ``tpcore`` command.

Subcommands live in :data:`COMMANDS` (name -> :class:`Command`); adding one is adding an entry
with a ``configure(parser)`` that declares its arguments and a ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NamedTuple, Sequence

USAGE_ERROR = 2


class Command(NamedTuple):
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    return COMMANDS[args.command].run(args)


def _parser() -> argparse.ArgumentParser:
    from tpcore import __version__

    parser = argparse.ArgumentParser(prog="tpcore", description="Equivariant tensor products on pluggable backends.")
    parser.add_argument("--version", action="version", version=f"tpcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    return parser


# -- tpcore backends ----------------------------------------------------------------------------


def _configure_backends(parser: argparse.ArgumentParser) -> None:
    pass


def _run_backends(args: argparse.Namespace) -> int:
    from tpcore.errors import TpcoreError
    from tpcore.registry import ENV_BACKEND, get_registry

    registry = get_registry()
    rows = []
    for s in registry.status():
        b = s.backend
        rows.append([b.name, "yes" if s.usable else "no", s.reason or "-", b.priority, _source(s.plugin),
                     ",".join(b.devices), ",".join(b.dtypes) + f" (default {b.default_dtype})"])
    print("Backends (default order: TPCORE_BACKEND, else by priority, then name)")
    print(_table(["backend", "usable", "reason", "priority", "plugin (source)", "devices", "dtypes"], rows) or "  none registered")
    via = f" (from {ENV_BACKEND})" if os.environ.get(ENV_BACKEND, "").strip() else ""
    try:
        print(f"\nDefault backend: {registry.default_backend()}{via}")
    except TpcoreError as exc:
        print(f"\nDefault backend: none ({str(exc).splitlines()[0]})")
    impl_rows = [
        [i.backend, i.variant, i.name, i.priority, i.capabilities.grad_order, "yes" if i.capabilities.jit else "no",
         ",".join(sorted(i.capabilities.modes)) if i.capabilities.modes is not None else "all",
         ",".join(sorted(i.capabilities.dtypes)), ",".join(sorted(i.capabilities.devices)),
         "yes" if i.capabilities.per_sample_weights else "no"]
        for i in registry.implementations()
    ]
    print("\nImplementations")
    print(_table(["backend", "variant", "impl", "priority", "grad", "jit", "modes", "dtypes", "devices",
                  "per-sample weights"], impl_rows) or "  none registered")
    remarks = [(p, p.error or "; ".join(p.notes)) for p in registry.plugins if p.error or p.notes]
    if remarks:
        print("\nPlugins")
        print(_table(["plugin", "status", "source", "detail"], [[p.name, p.status, _source(p), d] for p, d in remarks]))
    return 0


def _source(plugin) -> str:
    return f"{plugin.name} ({plugin.source})"


# -- tpcore info --------------------------------------------------------------------------------


def _configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, choices=("cgtp", "gtp", "s2grid", "mtp"))
    parser.add_argument("--irreps-in1", required=True, help='e3nn syntax, e.g. "8x0e+8x1o"')
    parser.add_argument("--irreps-in2", required=True)
    parser.add_argument("--irreps-out", required=True)
    parser.add_argument("--mode", default=None, help="cgtp connection mode (default uvw)")
    parser.add_argument("--weighted", action="store_true", help="per-channel, per-degree weights (gtp, s2grid, mtp)")


def spec_from_args(args: argparse.Namespace):
    """The spec named by ``--variant --irreps-in1 --irreps-in2 --irreps-out [--mode] [--weighted]``."""
    from tpcore.spec import TensorProductSpec

    irreps = (args.irreps_in1, args.irreps_in2, args.irreps_out)
    if args.variant == "cgtp":
        if args.weighted:
            raise ValueError("--weighted applies to gtp, s2grid and mtp; cgtp weights follow --mode")
        return TensorProductSpec.cgtp(*irreps, mode=args.mode or "uvw")
    if args.mode is not None:
        raise ValueError(f"--mode applies to cgtp only; {args.variant} acts channel-wise")
    return getattr(TensorProductSpec, args.variant)(*irreps, weighted=args.weighted)


def _run_info(args: argparse.Namespace) -> int:
    from tpcore.analysis import flops

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        print(f"tpcore info: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(f"TensorProductSpec.{spec.variant}")
    for label, irreps in (("irreps_in1", spec.irreps_in1), ("irreps_in2", spec.irreps_in2), ("irreps_out", spec.irreps_out)):
        print(f"  {label:<20} {irreps}  (dim {irreps.dim})")
    print(f"  {'mode':<20} {spec.mode}")
    for attr in ("irrep_normalization", "path_normalization"):
        if hasattr(spec, attr):
            print(f"  {attr:<20} {getattr(spec, attr)}")
    if spec.variant != "cgtp":
        print(f"  {'weighted':<20} {getattr(spec, 'weighted', False)}")
    print(f"  {'paths':<20} {len(spec.paths)}")
    print(f"  {'weight_numel':<20} {spec.weight_numel}")
    rows = []
    for k, p in enumerate(spec.paths):
        ws = p.weight_slice
        weights = "-" if ws is None else f"[{ws.start}:{ws.stop}] {tuple(p.weight_shape)}"
        rows.append([k, f"{p.ir_in1} x {p.ir_in2} -> {p.ir_out}", p.mode, f"{p.mul_in1},{p.mul_in2},{p.mul_out}",
                     f"{p.normalization:.6g}", weights])
    print("\nPaths")
    print(_table(["#", "path", "mode", "mul (in1,in2,out)", "normalization", "weights"], rows) or "  none")
    print("\nFLOPs per sample")
    print(_table(["strategy", "flops"], [[name, int(n)] for name, n in flops(spec).items()]))
    return 0


# -- formatting ---------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
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


from tpcore.testing import cli as _check  # noqa: E402 - `tpcore check` lives with the conformance suite
from tpcore.analysis import cli as _analyze  # noqa: E402 - `tpcore analyze` lives with the analysis
from tpcore.report import cli as _report  # noqa: E402 - `tpcore report` lives with its workloads
from tpcore.report import compare as _compare  # noqa: E402 - `tpcore compare` too

#: Subcommands by name. Planned: check (conformance matrix), report (the main job), analyze.
COMMANDS: dict[str, Command] = {
    "backends": Command("list the registered backends, whether they are usable and why not, and their implementations",
                        _configure_backends, _run_backends),
    "info": Command("describe a tensor-product spec: paths, weights, FLOPs per strategy", _configure_info, _run_info),
    "check": Command(_check.HELP, _check.configure, _check.run),
    "analyze": Command(_analyze.HELP, _analyze.configure, _analyze.run),
    "report": Command(_report.HELP, _report.configure, _report.run),
    "compare": Command(_compare.HELP, _compare.configure, _compare.run),
}


if __name__ == "__main__":
    sys.exit(main())
