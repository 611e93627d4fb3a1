"""Brings the whole local stack up and down: Kafka, PostgreSQL, migrations, topics, the
broker's principals and their ACLs, keyring.

`up` is idempotent and reports what it did; `down` stops only what this checkout started.
"""

from __future__ import annotations

import asyncio

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.crypto import Keyring
from infra import kafka, kafka_acl, postgres
from infra.migrations import apply_all
from infra.principals import OPERATOR
from infra.processes import describe_processes, stop_all
from infra.topics_admin import apply_catalogue, describe
from schemas.topics import Namespace


async def _migrate(cfg: StackConfig) -> list[str]:
    conn = await asyncpg.connect(cfg.pg_dsn())
    try:
        return await apply_all(conn)
    finally:
        await conn.close()


def _ensure_keyring(cfg: StackConfig) -> str:
    existed = cfg.keyring_path.exists()
    Keyring.create_if_missing(cfg.keyring_path)
    return "keyring present" if existed else f"keyring created at {cfg.keyring_path}"


def up(cfg: StackConfig) -> list[str]:
    """Start everything; return one line per step."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    lines = [postgres.ensure_running(cfg), kafka.ensure_running(cfg)]
    applied = asyncio.run(_migrate(cfg))
    lines.append(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
    operator = cfg.kafka(OPERATOR)
    created = asyncio.run(apply_catalogue(operator, Namespace(cfg.topic_prefix)))
    lines.append(f"topics created: {len(created)}" if created else "topics: all present")
    if cfg.kafka_auth:
        lines.append(kafka_acl.provision(cfg, []).line())
    lines.append(_ensure_keyring(cfg))
    return lines


def down(cfg: StackConfig) -> list[str]:
    return [*stop_all(cfg), kafka.stop(cfg), postgres.stop(cfg)]


def is_up(cfg: StackConfig) -> bool:
    return kafka.is_running(cfg) and postgres.is_running(cfg)


def status(cfg: StackConfig) -> list[str]:
    lines = [
        f"Kafka: {'running' if kafka.is_running(cfg) else 'stopped'} "
        f"({cfg.bootstrap_servers}, state {cfg.kafka_dir}, log {kafka.log_file(cfg)})",
        f"PostgreSQL: {'running' if postgres.is_running(cfg) else 'stopped'} "
        f"(127.0.0.1:{cfg.pg_port}, database {cfg.pg_database}, data {cfg.pg_data})",
    ]
    if kafka.is_running(cfg):
        try:
            parts = asyncio.run(describe(cfg.kafka(OPERATOR), Namespace(cfg.topic_prefix)))
            lines.append(f"topics: {len(parts)} present")
        except Exception as exc:  # status must report, never crash
            lines.append(f"topics: unknown ({type(exc).__name__})")
    lines.extend(describe_processes(cfg))
    return lines
