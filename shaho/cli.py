"""The `shaho` command: one entry point for the stack, the processors, the demo and the tests.

Every command is defined in one of the command modules below and registered in its `Registry`.
"""

from __future__ import annotations

import argparse
import sys

from groundfloor.config import StackConfig
from infra.kafka import StackError
from shaho import (
    access_log_commands,
    exchange_commands,
    insurer_commands,
    lag_commands,
    reconcile_commands,
    relay_commands,
    stack_commands,
    trust_commands,
)
from shaho.registry import Command

COMMANDS: dict[str, Command] = {**stack_commands.commands.commands,
                                **relay_commands.commands.commands,
                                **trust_commands.commands.commands,
                                **exchange_commands.commands.commands,
                                **insurer_commands.commands.commands,
                                **access_log_commands.commands.commands,
                                **reconcile_commands.commands.commands,
                                **lag_commands.commands.commands}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shaho", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help_text)
        if cmd.options:
            cmd.options(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = StackConfig.from_env()
    try:
        return COMMANDS[args.command].handler(args, cfg)
    except StackError as exc:
        print(f"shaho {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
