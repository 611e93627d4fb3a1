"""`shaho run lag-monitor` beside a faulted run, in the run's namespace: its JSON API
(`GET /api/lag`) polled in the background, each answer kept in a timeline, so that a test can
say what the monitor told while a fault lasted and after it.

An answer is one `Sample`: the HTTP status (None when nothing answered) and the JSON body. The
monitor serves 503 until its first evaluation and then its last evaluation, marked `stale` with
the `error` of the poll that failed while the broker does not answer
(`lag_monitor.serving.Service._lag`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shaho.bootstrap import lag_port_file
from tests.integration.relay_env import RelayEnv

LINKER_GROUP = "relay-linker"
INTERVAL, WINDOW, STOP_AFTER = 0.5, 3, 3.0
"""The monitor's settings in the fault runs: a window of 3 polls half a second apart, an
offset standing still with lag for 3 s judged STOP."""
PATIENCE = 120.0  # seconds a state may take to be reached: a bound against hanging


@dataclass(frozen=True)
class Sample:
    """One answer of `GET /api/lag` (`code` None: nothing answered), at monotonic time `at`."""

    at: float
    code: int | None
    body: dict | None

    @property
    def stale(self) -> bool:
        """The monitor says it does not know the lag now: unreachable, 503, or `stale`."""
        return self.code != 200 or self.body is None or bool(self.body.get("stale"))

    @property
    def says_why(self) -> bool:
        """A stale answer names its cause (an unreachable monitor has none to give)."""
        return self.code is None or bool(self.body and self.body.get("error"))

    def group(self, name: str) -> dict | None:
        if self.code != 200 or self.body is None:
            return None
        return next((g for g in self.body.get("groups", []) if g["group"] == name), None)

    def brief(self) -> str:
        if self.code is None:
            return "unreachable"
        if self.code != 200 or self.body is None:
            return f"HTTP {self.code}"
        groups = ", ".join(f"{g['group']} {g['status']} lag {g['lag_records']}"
                           for g in self.body.get("groups", []))
        return f"{'stale ' if self.body.get('stale') else ''}{groups or 'no groups'}"


def _get(port: int) -> tuple[int | None, dict | None]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/lag", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        try:
            return refused.code, json.loads(refused.read())
        except ValueError:
            return refused.code, None
    except (OSError, ValueError):
        return None, None


def _spawn(relay: RelayEnv, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shaho.cli", "run", "lag-monitor", "--interval", str(INTERVAL),
         "--window", str(WINDOW), "--stop-after", str(STOP_AFTER)],
        env=relay.cfg.child_env(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)


@dataclass
class LagWatch:
    """The lag monitor of `relay`'s namespace as its own process, and its answers so far."""

    relay: RelayEnv
    timeline: list[Sample] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None
    _task: asyncio.Task[None] | None = None
    _log: Path | None = None

    async def __aenter__(self) -> LagWatch:
        port_file = lag_port_file(self.relay.cfg)
        with tempfile.NamedTemporaryFile(prefix="lag-monitor-", suffix=".log",
                                         delete=False) as log:
            self._log = Path(log.name)
            self._proc = _spawn(self.relay, log)
        deadline = time.monotonic() + PATIENCE
        port = None
        while port is None:
            assert self._proc.poll() is None, f"the lag monitor exited: {self.log_tail()}"
            assert time.monotonic() < deadline, "the lag monitor wrote no port"
            text = port_file.read_text().strip() if port_file.exists() else ""
            port = int(text) if text else None
            if port is None:
                await asyncio.sleep(0.2)
        self._task = asyncio.create_task(self._poll(port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                await asyncio.to_thread(self._proc.wait, 60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    async def _poll(self, port: int) -> None:
        while True:
            code, body = await asyncio.to_thread(_get, port)
            self.timeline.append(Sample(time.monotonic(), code, body))
            await asyncio.sleep(0.25)

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-2000:] if self._log else ""

    def mark(self, what: str) -> float:
        """Note a moment of the run (a fault fired, a process restarted); its monotonic time."""
        now = time.monotonic()
        self.marks.append((now, what))
        return now

    def between(self, start: float, end: float | None = None) -> list[Sample]:
        return [s for s in self.timeline if s.at >= start and (end is None or s.at <= end)]

    async def until(self, wanted: Callable[[Sample], bool], what: str,
                    seconds: float = PATIENCE) -> Sample:
        """The first answer from now on that is `wanted`, waiting at most `seconds`."""
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            found = next((s for s in self.between(start) if wanted(s)), None)
            if found is not None:
                return found
            assert self._proc is not None and self._proc.poll() is None, (
                f"the lag monitor exited: {self.log_tail()}")
            await asyncio.sleep(0.2)
        raise AssertionError(f"the lag monitor never said {what}; it said "
                             f"{self.story(start)}")

    def story(self, start: float = 0.0) -> str:
        """The answers since `start`, each run of equal answers once, with the marks."""
        lines: list[str] = []
        events = sorted([(s.at, s.brief()) for s in self.between(start)]
                        + [(t, f"** {m}") for t, m in self.marks if t >= start])
        origin = events[0][0] if events else 0.0
        for at, text in events:
            if not lines or not lines[-1].endswith(text):
                lines.append(f"{at - origin:7.1f}s {text}")
        return "\n".join(lines[-60:])


def caught_up(sample: Sample, group: str = LINKER_GROUP) -> bool:
    """A fresh answer with `group` OK and nothing left to consume."""
    found = sample.group(group)
    return (not sample.stale and found is not None and found["status"] == "OK"
            and found["lag_records"] == 0)


def behind_and_judged(sample: Sample, group: str = LINKER_GROUP) -> bool:
    """A fresh answer with `group` behind and judged not OK (its offset standing still)."""
    found = sample.group(group)
    return (not sample.stale and found is not None and found["lag_records"] > 0
            and found["status"] != "OK")
