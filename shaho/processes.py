"""Relay processors started in the background by `shaho run --detach`: pid files and stopping.

`shaho down` stops them before the broker and the database.
"""

from __future__ import annotations

from pathlib import Path

from infra.process import pid_alive, read_pid, stop_pid
from shaho.config import StackConfig


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
    return lines


def describe_processes(cfg: StackConfig) -> list[str]:
    lines = []
    for path in pid_files(cfg):
        pid = read_pid(path)
        state = "running" if pid_alive(pid) else "not running"
        lines.append(f"processor {path.stem}: {state} (pid {pid})")
    return lines
