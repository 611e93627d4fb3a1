"""`shaho up`, `status` and `down` on a stack of their own: idempotent up, and down leaves
no broker or database running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.process import pid_alive, port_open, read_pid

pytestmark = pytest.mark.e2e

PORTS = {"SHAHO_KAFKA_PORT": "29092", "SHAHO_KAFKA_CONTROLLER_PORT": "29093",
         "SHAHO_PG_PORT": "25432"}


def _shaho(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shaho.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_up_twice_then_down_leaves_nothing_running(tmp_path: Path):
    env = {**os.environ, **PORTS, "SHAHO_STATE_DIR": str(tmp_path / "state"),
           "SHAHO_KAFKA_HEAP": "-Xmx512m"}
    try:
        first = _shaho(env, "up")
        assert first.returncode == 0, first.stderr
        assert "Kafka started" in first.stdout and "PostgreSQL started" in first.stdout
        second = _shaho(env, "up")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout and "none pending" in second.stdout
        status = _shaho(env, "status")
        assert "Kafka: running" in status.stdout and "PostgreSQL: running" in status.stdout
        kafka_pid = read_pid(tmp_path / "state" / "kafka" / "kafka.pid")
        assert pid_alive(kafka_pid)
    finally:
        down = _shaho(env, "down")
    assert down.returncode == 0, down.stderr
    assert "Kafka stopped" in down.stdout and "PostgreSQL stopped" in down.stdout
    assert not pid_alive(kafka_pid)
    assert not any(port_open("127.0.0.1", int(p)) for p in PORTS.values())
    assert "Kafka: stopped" in _shaho(env, "status").stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the data folder outlives the state folder as root")
def test_a_fresh_checkout_at_the_same_path_replaces_a_stack_left_running(tmp_path: Path):
    """A checkout removed while its stack ran leaves a broker (its pid file gone) and, as root,
    a database folder outside the checkout whose password went with it. `up` from a fresh
    checkout at the same path stops both and starts clean instead of failing."""
    state = tmp_path / "state"
    env = {**os.environ, **PORTS, "SHAHO_STATE_DIR": str(state), "SHAHO_KAFKA_HEAP": "-Xmx512m"}
    try:
        first = _shaho(env, "up")
        assert first.returncode == 0, first.stderr
        stray = read_pid(state / "kafka" / "kafka.pid")
        subprocess.run(["rm", "-rf", str(state)], check=True)
        again = _shaho(env, "up")
        assert again.returncode == 0, again.stderr
        assert "Kafka started" in again.stdout and "PostgreSQL started" in again.stdout
        assert not pid_alive(stray)
        assert (state / "secrets" / "pg-password").exists()
    finally:
        down = _shaho(env, "down")
    assert down.returncode == 0, down.stderr
    assert not any(port_open("127.0.0.1", int(p)) for p in PORTS.values())


SANDBOXED = "SHAHO_TEST_IN_PID_NAMESPACE"


@pytest.mark.skipif(os.geteuid() != 0 or os.environ.get(SANDBOXED) == "1"
                    or shutil.which("unshare") is None,
                    reason="needs root and unshare; already inside the namespace")
def test_the_same_in_a_pid_namespace_whose_proc_is_not_its_own():
    """A sandbox may give the checks their own pid namespace but leave /proc showing the outer
    one, so no process there is found by its command line: the stray broker is then found by
    the pid kept outside the state folder. bash stands as the namespace's reaping init."""
    command = (f"{sys.executable} -m pytest -q -p no:cacheprovider {__file__}"
               " -k a_fresh_checkout_at_the_same_path; exit $?")
    run = subprocess.run(["unshare", "--pid", "--fork", "bash", "-c", command],
                         env={**os.environ, SANDBOXED: "1"}, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
