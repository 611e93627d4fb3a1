"""Small process helpers for the local stack: pid files, port probes, waiting, stopping.

Shared by the Kafka and PostgreSQL launchers so both stop and probe the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def proc_is_ours() -> bool:
    """True when /proc shows this process's pid namespace: a sandbox may unshare the pid
    namespace without mounting its own /proc, and then /proc's numbers name other processes."""
    try:
        return int(os.readlink("/proc/self")) == os.getpid()
    except (OSError, ValueError):
        return False


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not proc_is_ours():
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def processes_naming(text: str) -> list[int]:
    """The live processes whose command line contains `text` (this process excluded); none
    when /proc is not this pid namespace's."""
    found: list[int] = []
    if not proc_is_ours():
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def stop_pid(pid: int, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL it if it outlives `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        if wait_for(lambda: not pid_alive(pid), grace if sig == signal.SIGTERM else 10):
            return
