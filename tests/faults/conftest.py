"""The fault suite's bookkeeping: every run draws its seed (or takes `SHAHO_FAULT_SEED`), says how
many records it carried, and the session ends with each run's seed and count and the suite's time.

Run it alone with `bin/shaho test tests/faults`; `SHAHO_FAULT_SEED=<seed>` repeats a run's faults.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

MIN_RECORDS = 5_000
"""What every faulted run carries at least: the fault lands at a random offset among them."""


@dataclass
class FaultRun:
    """One faulted run: its name, its seed, and the records it carried (set by the test)."""

    name: str
    seed: int
    records: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def carried(self, records: int) -> int:
        """Note the records the run carried; fewer than `MIN_RECORDS` fail the run."""
        self.records = records
        assert records >= MIN_RECORDS, f"a faulted run carries {MIN_RECORDS} records at least"
        return records


_RUNS: list[FaultRun] = []
_SUITE: list[float] = []


def _seed() -> int:
    given = os.environ.get("SHAHO_FAULT_SEED", "").strip()
    if given:
        try:
            return int(given)
        except ValueError:
            raise pytest.UsageError(f"SHAHO_FAULT_SEED is not an integer: {given!r}") from None
    return random.randrange(1 << 31)


@pytest.fixture
def fault_run(request: pytest.FixtureRequest) -> Iterator[FaultRun]:
    run = FaultRun(request.node.nodeid, _seed())
    print(f"{run.name}: SHAHO_FAULT_SEED={run.seed} repeats this run")
    yield run
    run.seconds = time.monotonic() - run.started
    _RUNS.append(run)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in item.nodeid:
            item.add_marker(pytest.mark.faults)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/faults/" in report.nodeid:
        _SUITE.append(report.duration)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _SUITE:
        return
    terminalreporter.section("fault suite")
    for run in _RUNS:
        terminalreporter.write_line(f"{run.name}: seed {run.seed}, {run.records} records, "
                                    f"{run.seconds:.0f} s")
    terminalreporter.write_line(f"fault suite runtime: {sum(_SUITE):.0f} s "
                                f"({len(_RUNS)} faulted runs)")
