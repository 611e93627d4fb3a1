"""The command registry: each command module fills one `Registry`; `cli.py` reads them all.

A command is a name, a one-line help, a handler `(args, cfg) -> exit code` and its options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

from groundfloor.config import StackConfig

Handler = Callable[[argparse.Namespace, StackConfig], int]
Options = Callable[[argparse.ArgumentParser], None] | None


@dataclass(frozen=True)
class Command:
    name: str
    help_text: str
    handler: Handler
    options: Options = None


@dataclass
class Registry:
    """The commands one module defines, in the order it defines them."""

    commands: dict[str, Command] = field(default_factory=dict)

    def command(self, name: str, help_text: str,
                options: Options = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command {name!r} defined twice")
            self.commands[name] = Command(name, help_text, handler, options)
            return handler

        return register


def print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)
