"""promtool, Prometheus's rule checker, from Debian's `prometheus` package: installed with
apt-get when missing (as PostgreSQL is), so the alerting rules are always checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.kafka import StackError

PROMTOOL_INSTALL = "apt-get update && apt-get install -y prometheus"
RULES = Path(__file__).resolve().parent / "prometheus" / "alerts.yaml"
RULES_TESTS = RULES.with_name("alerts.test.yaml")


def ensure_promtool() -> Path:
    """The promtool executable, installed first when missing (as root); StackError saying
    how to install it otherwise."""
    found = shutil.which("promtool")
    if found:
        return Path(found)
    if os.geteuid() != 0:
        raise StackError(f"promtool is not installed; install it with: {PROMTOOL_INSTALL}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "prometheus"]):
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    found = shutil.which("promtool")
    if not found:
        raise StackError("the prometheus package was installed but promtool is not on PATH")
    return Path(found)
