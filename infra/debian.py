"""Debian packages the stack and its checks need (PostgreSQL, promtool): installed with apt-get
when run as root, otherwise a StackError naming the command to run.
"""

from __future__ import annotations

import os
import subprocess

from infra.kafka import StackError


def install_command(package: str) -> str:
    """The command a user without root runs to install `package`."""
    return f"apt-get update && apt-get install -y {package}"


def install(package: str, what: str) -> None:
    """`package` installed with apt-get as root; StackError saying how (`what` is missing)
    when not root, or what apt-get said when it failed."""
    if os.geteuid() != 0:
        raise StackError(f"{what} is not installed; install it with: {install_command(package)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
