"""CPU seconds per process read from /proc, and database round trips counted per connection,
so a benchmark's explanation rests on measured CPU shares and round trips, not on guesses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 'state' on


def cpu_seconds(pid: int, with_reaped_children: bool = False) -> float:
    """User + system CPU of `pid` (and, when asked, of its children already reaped)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    own = utime + stime
    return (own + (cutime + cstime if with_reaped_children else 0)) / TICKS


def run_queue_seconds(pid: int | str = "self") -> float:
    """Seconds the process's main thread has spent ready to run but waiting for a core (the
    scheduler's run-queue delay, /proc/<pid>/schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def server_cpu(postmaster: int) -> float:
    """PostgreSQL's CPU: the postmaster, its exited backends and its live ones."""
    return cpu_seconds(postmaster, with_reaped_children=True) + sum(
        cpu_seconds(child) for child in children(postmaster))


def postmaster_pid(pg_data: Path) -> int | None:
    try:
        return int((pg_data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class RoundTrips:
    """Counts the statements a pool's connections send (each one a round trip)."""

    count: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def logged(self, record: asyncpg.connection.LoggedQuery) -> None:
        self.count += 1
        words = record.query.split(None, 1)
        verb = words[0].rstrip(";").upper() if words else "?"
        self.kinds[verb] = self.kinds.get(verb, 0) + 1

    async def attach(self, conn: asyncpg.Connection) -> None:
        """A pool's `init`: count every statement this connection sends."""
        conn.add_query_logger(self.logged)


@dataclass
class CpuMeter:
    """CPU seconds used by named processes between `start` and `stop`."""

    pids: dict[str, int]
    reaped: set[str] = field(default_factory=set)
    before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _read(self, name: str) -> float:
        pid = self.pids[name]
        return server_cpu(pid) if name in self.reaped else cpu_seconds(pid)

    def start(self) -> None:
        self.before = {name: self._read(name) for name in self.pids}

    def stop(self) -> dict[str, float]:
        self.used = {name: self._read(name) - self.before[name] for name in self.pids}
        return self.used
