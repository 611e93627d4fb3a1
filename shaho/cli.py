"""The `shaho` command: one entry point for the stack, the processors, the demo and the tests.

Every command is defined in one of the command modules below and registered in its `Registry`;
`shaho run` reads its own module only, so a processor starts without the other commands'
imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from groundfloor.config import StackConfig
from infra.kafka import StackError
from shaho.registry import Command

MODULES = ("stack_commands", "run_commands", "relay_commands", "trust_commands",
           "exchange_commands", "insurer_commands", "access_log_commands", "reconcile_commands",
           "lag_commands")
"""The command modules, in the order `shaho --help` lists their commands."""
OWN_MODULE = {"run": "run_commands"}
"""Commands read without the other modules (the command name is the first argument)."""


def commands(argv: list[str] | None = None) -> dict[str, Command]:
    """The commands `argv` may name: only its command's module when it has one of its own."""
    first = (sys.argv[1:] if argv is None else argv)[:1]
    modules = [OWN_MODULE[first[0]]] if first and first[0] in OWN_MODULE else MODULES
    found: dict[str, Command] = {}
    for name in modules:
        found.update(importlib.import_module(f"shaho.{name}").commands.commands)
    return found


def build_parser(known: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shaho", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cmd in (known if known is not None else commands([])).items():
        p = sub.add_parser(name, help=cmd.help_text)
        if cmd.options:
            cmd.options(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    known = commands(argv)
    args = build_parser(known).parse_args(argv)
    cfg = StackConfig.from_env()
    try:
        return known[args.command].handler(args, cfg)
    except StackError as exc:
        print(f"shaho {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
