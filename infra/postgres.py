"""The local PostgreSQL server from Debian's package: a data folder of our own, own port.

As root, `initdb` and `pg_ctl` run as the `postgres` user (they refuse root); the package is
installed with apt-get when missing. Durable settings only: fsync and synchronous_commit stay on.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from groundfloor.config import StackConfig
from infra import debian
from infra.kafka import StackError
from infra.process import pid_alive, port_open, read_pid, wait_for

PG_INSTALL = debian.install_command("postgresql")


def _bin_dir() -> Path:
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if roots:
        return roots[-1]
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError


def _ensure_installed() -> Path:
    try:
        return _bin_dir()
    except FileNotFoundError:
        pass
    debian.install("postgresql", "PostgreSQL")
    return _bin_dir()


def _as_owner(cmd: list[str]) -> list[str]:
    """Run server commands as `postgres` when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(_as_owner(cmd), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{what} failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")


def _prepare_dir(cfg: StackConfig) -> None:
    cfg.pg_data.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(cfg.pg_data.parent, "postgres", "postgres")
        os.chmod(cfg.pg_data.parent, 0o700)


def _password(cfg: StackConfig) -> str:
    path = cfg.pg_password_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return cfg.pg_password()


def _initdb(cfg: StackConfig, bindir: Path) -> None:
    if (cfg.pg_data / "PG_VERSION").exists():
        return
    _prepare_dir(cfg)
    pwfile = cfg.pg_data.parent / "pwfile"
    pwfile.write_text(_password(cfg) + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    pwfile.chmod(0o600)
    try:
        _run([str(bindir / "initdb"), "-D", str(cfg.pg_data), "-E", "UTF8",
              "--locale=C.UTF-8", "-U", cfg.pg_user, f"--pwfile={pwfile}",
              "--auth-local=scram-sha-256", "--auth-host=scram-sha-256"], "initdb")
    finally:
        pwfile.unlink(missing_ok=True)


def _server_options(cfg: StackConfig) -> str:
    return " ".join([
        f"-p {cfg.pg_port}",
        "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={cfg.pg_data.parent}",
        "-c max_connections=100",
        "-c shared_buffers=256MB",
        "-c fsync=on",
        "-c synchronous_commit=on",
        "-c wal_level=replica",
        "-c log_min_messages=warning",
    ])


def pid_file(cfg: StackConfig) -> Path:
    return cfg.pg_data / "postmaster.pid"


def log_file(cfg: StackConfig) -> Path:
    return cfg.pg_data.parent / "postgres.log"


def is_running(cfg: StackConfig) -> bool:
    return pid_alive(read_pid(pid_file(cfg)))


def _accepts(cfg: StackConfig, bindir: Path) -> bool:
    result = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                             str(cfg.pg_port)], capture_output=True, check=False)
    return result.returncode == 0


def _forget_orphaned_data(cfg: StackConfig, bindir: Path) -> None:
    """As root the data folder lives outside the state folder (keyed by its path), so it can
    outlive the checkout that made it: without our password file it is unusable. Stop its
    server and remove it, so a fresh checkout at the same path starts clean."""
    outside = cfg.pg_data.parent == cfg.runtime_dir
    if not outside or cfg.pg_password_path.exists() or not cfg.pg_data.exists():
        return
    if is_running(cfg):
        _run([str(bindir / "pg_ctl"), "-D", str(cfg.pg_data), "-m", "fast", "-w", "stop"],
             "pg_ctl stop (data folder without a password)")
    shutil.rmtree(cfg.pg_data)


def ensure_running(cfg: StackConfig, timeout: float = 60.0) -> str:
    bindir = _ensure_installed()
    _forget_orphaned_data(cfg, bindir)
    if is_running(cfg) and _accepts(cfg, bindir):
        _ensure_database(cfg, bindir)
        return f"PostgreSQL already running on 127.0.0.1:{cfg.pg_port} (data {cfg.pg_data})"
    if port_open("127.0.0.1", cfg.pg_port):
        raise StackError(f"port {cfg.pg_port} is taken by another process; stop it or set "
                         "SHAHO_PG_PORT")
    _initdb(cfg, bindir)
    _run([str(bindir / "pg_ctl"), "-D", str(cfg.pg_data), "-l", str(log_file(cfg)),
          "-o", _server_options(cfg), "-w", "-t", str(int(timeout)), "start"], "pg_ctl start")
    if not wait_for(lambda: _accepts(cfg, bindir), timeout):
        raise StackError(f"PostgreSQL did not become ready; see {log_file(cfg)}")
    _ensure_database(cfg, bindir)
    return f"PostgreSQL started on 127.0.0.1:{cfg.pg_port} (data {cfg.pg_data})"


def _ensure_database(cfg: StackConfig, bindir: Path) -> None:
    env = {**os.environ, "PGPASSWORD": cfg.pg_password()}
    base = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(cfg.pg_port), "-U", cfg.pg_user,
            "-d", "postgres", "-tAc"]
    exists = subprocess.run(
        [*base, f"SELECT 1 FROM pg_database WHERE datname = '{cfg.pg_database}'"],
        capture_output=True, text=True, env=env, check=False,
    )
    if exists.stdout.strip() == "1":
        return
    created = subprocess.run([*base, f'CREATE DATABASE "{cfg.pg_database}"'],
                             capture_output=True, text=True, env=env, check=False)
    if created.returncode != 0:
        raise StackError(f"creating database failed: {created.stderr[-500:]}")


def stop(cfg: StackConfig) -> str:
    if not is_running(cfg):
        return "PostgreSQL not running"
    bindir = _bin_dir()
    _run([str(bindir / "pg_ctl"), "-D", str(cfg.pg_data), "-m", "fast", "-w", "stop"],
         "pg_ctl stop")
    return "PostgreSQL stopped"
