"""The CLI end to end on the real stack: the demo, and a batch file with good and bad rows
published with --wait while the relay runs, then published again."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from groundfloor.config import StackConfig
from infra import kafka_acl
from infra.principals import participant
from infra.process import pid_alive, read_pid
from infra.processes import pid_files
from relay_linker.domain import history
from relay_linker.readback import load_all
from synthetic.population import generate
from tests.fixtures.template import csv_row, csv_text
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.e2e


def _shaho(*args: str, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shaho.cli", *args],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_demo_reports_what_the_relay_did_and_stops_its_processors(stack: StackConfig):
    done = _shaho("demo", "--persons", "80", "--seed", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "none yet 0" in out, out
    for line in ("outcomes: accepted", "link changes published: ", "relay database: ",
                 "anomalies: ", "dead letters: ", "backlog: ", "latency, filing published",
                 "started insurer-worker for ", "relayed exchange: "):
        assert line in out, line
    asked = [line for line in out.splitlines() if line.startswith("exchange: insurer ")]
    assert asked, out[-3000:]
    # every insurer reached answered in time: none reported unavailable
    assert not any("unavailable" in line for line in asked), asked
    assert any("answered " in line for line in asked), asked
    pushed = [line for line in out.splitlines() if line.startswith("pushed changes: ")]
    assert len(pushed) == 1 and "not read yet" not in pushed[0], out[-3000:]
    sent, kept = re.search(r"(\d+) notice\(s\) on .* opened and kept (\d+)", pushed[0]).groups()
    assert int(sent) > 0 and int(kept) == int(sent), pushed
    logged = [line for line in out.splitlines() if line.startswith("access log: ")]
    assert len(logged) == 1 and "proven by the standalone verifier: yes" in logged[0] \
        and "its heads hold together: yes" in logged[0], out[-3000:]
    assert "every month's entries under a witnessed head: yes" in out, out[-3000:]
    under = re.search(r"\((\d+) against a head the relay signed and an insurer cosigned\)",
                      logged[0])
    assert under and int(under.group(1)) > 0, logged
    assert "names this person: yes" in out and "proof of " in out
    assert "(witnessed head)" in out and " 0 refused, " in out, out[-3000:]
    notices = [line for line in out.splitlines() if line.startswith("notices: ")]
    assert len(notices) == 1, out[-3000:]
    reminders = re.search(r"nhi_enrolment_reminder:reminder (\d+)", notices[0])
    assert reminders and int(reminders.group(1)) > 0, notices
    copies = re.search(r"notice copies: (\d+) to \d+ persons' inboxes, (\d+) sealed", out)
    assert copies and int(copies.group(1)) > 0 and int(copies.group(2)) > 0, out[-3000:]
    opened = re.search(r"notices topic of \w+ \w+: (\d+) notices opened with its own private "
                       r"key, 0 did not open", out)
    assert opened and int(opened.group(1)) > 0, out[-3000:]
    loaded = re.search(r"合算 receipts: (\d+) sent by \d+ insurers .*, (\d+) stored", out)
    assert loaded and int(loaded.group(1)) > 0 and loaded.group(1) == loaded.group(2), out
    closed = re.search(r"合算 period 2024-08-01〜2025-07-31 closed at (\d+) base-date medical "
                       r"insurers: (\d+) households, (\d+) settled", out)
    assert closed and int(closed.group(1)) > 0 and int(closed.group(3)) > 0, out[-5000:]
    routed = re.search(r"(\d+) sent through the relay, (\d+) kept by their payers", out)
    assert routed and int(routed.group(1)) > 0 and routed.group(1) == routed.group(2), out
    assert "高額医療・高額介護合算 計算書" in out and "支給額合計 (total paid)" in out
    assert not any(pid_alive(read_pid(p)) for p in pid_files(stack))



def _batch(path: Path) -> tuple[int, int, list[tuple[str, str]]]:
    """A municipality's go-live file: good rows from the synthetic population, two bad rows."""
    population = generate(5, 25, date(2025, 1, 1))
    good = [f for f in population.filings if f.event_type == "ResidentRegistered"]
    rows = [csv_row(f) for f in good]
    broken = dict(rows[0], filing_reference="BROKEN-1", **{"identity.kana_name": ""})
    late = dict(rows[1], filing_reference="BROKEN-2", occurred_at="令和7年13月1日")
    path.write_text(csv_text([*rows, broken, late]), encoding="utf-8")
    return len(rows), 2, sorted({("municipality", f.filer_code) for f in good})


async def test_batch_file_bad_rows_reported_good_rows_land_and_reupload_changes_nothing(
    relay: RelayEnv, tmp_path: Path
):
    good, bad, filers = _batch(tmp_path / "go-live.csv")
    # each municipality publishes as its own principal, granted its topics in this namespace
    await asyncio.to_thread(kafka_acl.provision, relay.stack, filers, relay.topics)
    env = {**relay.env, "SHAHO_FAULT": ""}
    # the relay clock in production mode: a tick every second at the broker's time
    procs = [_start(name, env) for name in ("relay-clock", "relay-linker", "outbox-publisher")]
    try:
        first = _shaho("publish", str(tmp_path / "go-live.csv"), "--wait", "--timeout", "90",
                       env=env)
        conn = await relay.connect()
        try:
            ledger = await conn.fetchval("SELECT count(*) FROM filing_ledger")
            before = history(await load_all(conn, relay.keyring()))
        finally:
            await conn.close()
        again = _shaho("publish", str(tmp_path / "go-live.csv"), "--wait", "--timeout", "90",
                       env=env)
        conn = await relay.connect()
        try:
            assert await conn.fetchval("SELECT count(*) FROM filing_ledger") == ledger
            assert history(await load_all(conn, relay.keyring())) == before
        finally:
            await conn.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        await asyncio.to_thread(kafka_acl.revoke_namespace, relay.stack, relay.topics,
                                [participant(*f) for f in filers])
    assert first.returncode == 1, first.stdout + first.stderr  # some rows were rejected
    report = first.stdout + first.stderr
    assert report.count("line ") >= bad, report
    assert "identity.kana_name" in report
    assert report.count(" accepted ") + report.count(" accepted\n") >= good, report
    assert ledger == good
    assert again.returncode == first.returncode
    assert sorted(_outcome_lines(again.stdout)) == sorted(_outcome_lines(first.stdout))


def _start(processor: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", processor],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _outcome_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " accepted" in line or " refused" in line]
