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
