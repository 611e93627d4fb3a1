"""Relay processors started in the background by `shaho run --detach`: pid files and stopping.

`shaho down` stops them before the broker and the database.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from groundfloor.config import StackConfig
from groundfloor.metrics import Endpoint, endpoints
from infra.process import pid_alive, port_open, read_pid, stop_pid


def run_dir(cfg: StackConfig) -> Path:
    path = cfg.state_dir / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_files(cfg: StackConfig) -> list[Path]:
    return sorted(run_dir(cfg).glob("*.pid"))


def stop_all(cfg: StackConfig) -> list[str]:
    lines = []
    for path in pid_files(cfg):
        pid = read_pid(path)
        if pid_alive(pid):
            stop_pid(pid, grace=15.0)
            lines.append(f"{path.stem} stopped (pid {pid})")
        path.unlink(missing_ok=True)
    live_metrics(cfg)  # the port files of processors killed without a clean exit go too
    return lines


def describe_processes(cfg: StackConfig) -> list[str]:
    lines = []
    for path in pid_files(cfg):
        pid = read_pid(path)
        state = "running" if pid_alive(pid) else "not running"
        lines.append(f"processor {path.stem}: {state} (pid {pid})")
    return [*lines, *metrics_lines(cfg)]


def live_metrics(cfg: StackConfig) -> list[Endpoint]:
    """The metrics endpoints of running processors (port files written by
    `groundfloor.metrics.serve`); the files of processors no longer running are removed."""
    live = []
    for found in endpoints(run_dir(cfg)):
        if pid_alive(found.pid):
            live.append(found)
        else:
            (run_dir(cfg) / f"{found.processor}.{found.pid}.metrics").unlink(missing_ok=True)
    return live


def metrics_lines(cfg: StackConfig) -> list[str]:
    """One line per running processor serving metrics, and per lag monitor serving."""
    lines = [f"metrics {e.processor}{f' (namespace {e.namespace})' if e.namespace else ''}: "
             f"{e.url} (pid {e.pid})" for e in live_metrics(cfg)]
    for path in sorted(run_dir(cfg).glob("lag-monitor.*port")):
        port = read_pid(path)  # one number, as a pid file holds
        if port and port_open("127.0.0.1", port):
            lines.append(f"metrics lag-monitor: http://127.0.0.1:{port}/metrics")
    return lines


def spawn(cfg: StackConfig, name: str, *args: str, env: dict[str, str] | None = None) -> int:
    """Start `shaho run <name> ...` in the background, in `cfg`'s namespace (with `env` on top);
    its pid file lets `down` stop it."""
    log = run_dir(cfg) / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", name, *args],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=cfg.child_env(env), start_new_session=True)
    (run_dir(cfg) / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def stop(cfg: StackConfig, name: str) -> None:
    path = run_dir(cfg) / f"{name}.pid"
    pid = read_pid(path)
    if pid_alive(pid):
        stop_pid(pid, grace=15.0)
    path.unlink(missing_ok=True)
