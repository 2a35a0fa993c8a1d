"""The ``tpcore`` command.

One module per subcommand, each with ``HELP``, ``configure(parser)`` declaring its arguments and
``run(args) -> int``; what they share lives in :mod:`tpcore.cli.common`. Adding a subcommand is
adding its module to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
from typing import Callable, NamedTuple, Sequence

from tpcore.cli import analyze, backends, check, compare, info, report
from tpcore.cli.common import USAGE_ERROR


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


__all__ = ["COMMANDS", "Command", "USAGE_ERROR", "main"]

