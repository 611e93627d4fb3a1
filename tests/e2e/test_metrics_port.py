"""A processor told to serve its metrics on a port that is taken says so and exits 2 before it
connects to anything, rather than running unobserved."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from groundfloor.metrics import PROCESSORS

pytestmark = pytest.mark.e2e


def test_a_taken_metrics_port_stops_the_processor_with_its_reason(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        base = port - PROCESSORS.index("relay-clock")
        env = {**os.environ, "SHAHO_STATE_DIR": str(tmp_path), "SHAHO_METRICS_PORT_BASE":
               str(base)}
        done = subprocess.run([sys.executable, "-m", "shaho.cli", "run", "relay-clock"],
                              env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    assert done.returncode == 2, done.stderr
    assert f"SHAHO_METRICS_PORT_BASE {base}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "run").glob("*.metrics"))


def test_the_listing_keeps_running_processors_and_drops_the_port_files_of_dead_ones(tmp_path):
    from dataclasses import replace

    from groundfloor.config import StackConfig
    from infra.processes import live_metrics, metrics_lines, run_dir

    cfg = replace(StackConfig.from_env(), state_dir=tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for name, pid in (("relay-linker", os.getpid()), ("notifications", gone.pid)):
        (run_dir(cfg) / f"{name}.{pid}.metrics").write_text(
            f'{{"processor": "{name}", "pid": {pid}, "port": 9400, "namespace": "t1."}}')
    assert [(e.processor, e.pid) for e in live_metrics(cfg)] == [("relay-linker", os.getpid())]
    assert sorted(p.name for p in run_dir(cfg).iterdir()) == [
        f"relay-linker.{os.getpid()}.metrics"]
    assert metrics_lines(cfg) == [
        f"metrics relay-linker (namespace t1.): http://127.0.0.1:9400/metrics (pid {os.getpid()})"]
