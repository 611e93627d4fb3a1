"""Named crash points for recovery tests: `SHAHO_FAULT=<point>:<n>` SIGKILLs the process the
n-th time it reaches <point> (several as a comma-separated list). Inert when the variable is unset.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_counts: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    spec = os.environ.get("SHAHO_FAULT", "")
    armed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, _, nth = part.rpartition(":")
        armed[point] = int(nth)
    return armed


_ARMED = _armed()


def reached(point: str) -> None:
    """Count a pass through `point`; kill this process with SIGKILL when its turn comes."""
    if point not in _ARMED:
        return
    _counts[point] += 1
    if _counts[point] == _ARMED[point]:
        os.kill(os.getpid(), signal.SIGKILL)
