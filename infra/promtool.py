"""promtool, Prometheus's rule checker, from Debian's `prometheus` package: installed with
apt-get when missing (as PostgreSQL is), so the alerting rules are always checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infra import debian
from infra.kafka import StackError

PROMTOOL_INSTALL = debian.install_command("prometheus")
RULES = Path(__file__).resolve().parent / "prometheus" / "alerts.yaml"
RULES_TESTS = RULES.with_name("alerts.test.yaml")


def ensure_promtool() -> Path:
    """The promtool executable, installed first when missing (as root); StackError saying
    how to install it otherwise."""
    found = shutil.which("promtool")
    if found:
        return Path(found)
    debian.install("prometheus", "promtool")
    found = shutil.which("promtool")
    if not found:
        raise StackError("the prometheus package was installed but promtool is not on PATH")
    return Path(found)
