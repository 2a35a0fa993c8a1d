"""The ``tpcore`` command.

One module per subcommand, each with ``HELP``, ``configure(parser)`` declaring its arguments and
``run(args) -> int``; what they share lives in :mod:`tpcore.cli.common`. Adding a subcommand is
adding its module to :data:`COMMANDS`.

Exit codes: 0 success, 1 a check failed (``check``, ``report``), 2 a usage error (one line on
stderr naming the argument, before anything is measured), 130 interrupted with Ctrl-C (one line;
whatever was already written is kept).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NamedTuple, Sequence

from tpcore.cli import analyze, backends, check, compare, info, report
from tpcore.cli.common import INTERRUPTED, USAGE_ERROR, UsageError


class Command(NamedTuple):
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Subcommands by name, in the order ``tpcore --help`` lists them.
COMMANDS: dict[str, Command] = {
    name: Command(module.HELP, module.configure, module.run)
    for name, module in (("backends", backends), ("info", info), ("check", check), ("analyze", analyze),
                         ("report", report), ("compare", compare))
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error, the help or the version
        return 0 if exc.code is None else exc.code
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    try:
        return COMMANDS[args.command].run(args)
    except UsageError as exc:
        print(f"tpcore {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"\ntpcore {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except MemoryError as exc:  # a size no check foresaw; the commands name their own (common.sized_by)
        print(f"tpcore {args.command}: error: out of memory ({(str(exc).splitlines() or [''])[0]})", file=sys.stderr)
        return USAGE_ERROR


def _parser() -> argparse.ArgumentParser:
    from tpcore import __version__

    parser = argparse.ArgumentParser(prog="tpcore", description="Equivariant tensor products on pluggable backends.")
    parser.add_argument("--version", action="version", version=f"tpcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    return parser


__all__ = ["COMMANDS", "Command", "USAGE_ERROR", "main"]

