"""A relay namespace: its own database and its own prefixed topics on the shared broker.

The demo runs in one (recreated each run) and every integration test gets a fresh one.
"""

from __future__ import annotations

import os

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from groundfloor.config import StackConfig
from infra.migrations import apply_all
from infra.topics_admin import apply_catalogue
from schemas.topics import CATALOGUE, PREFIX_ENV


async def create(cfg: StackConfig, prefix: str, database: str) -> None:
    """Create the database (migrated) and the catalogue's topics under `prefix`."""
    admin = await asyncpg.connect(cfg.pg_dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(cfg.pg_dsn(database))
    try:
        await apply_all(conn)
    finally:
        await conn.close()
    old = os.environ.get(PREFIX_ENV)
    os.environ[PREFIX_ENV] = prefix
    try:
        await apply_catalogue(cfg.bootstrap_servers)
    finally:
        if old is None:
            os.environ.pop(PREFIX_ENV, None)
        else:
            os.environ[PREFIX_ENV] = old


async def drop(cfg: StackConfig, prefix: str, database: str) -> None:
    """Drop the database and delete the prefixed topics (both may be missing)."""
    if not prefix:
        raise ValueError("refusing to drop the unprefixed namespace")
    admin = await asyncpg.connect(cfg.pg_dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()
    kafka = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
    await kafka.start()
    try:
        existing = set(await kafka.list_topics())
        doomed = [prefix + t.name for t in CATALOGUE if prefix + t.name in existing]
        if doomed:
            await kafka.delete_topics(doomed)
    finally:
        await kafka.close()
