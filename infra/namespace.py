"""A relay namespace: its own database and its own prefixed topics on the shared broker.

The demo runs in one (recreated each run) and every integration test gets a fresh one.
"""

from __future__ import annotations

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import admin_client
from infra.migrations import apply_all
from infra.topics_admin import apply_catalogue
from schemas.topics import CATALOGUE, Namespace


async def create(cfg: StackConfig, prefix: str, database: str) -> StackConfig:
    """Create the database (migrated) and the catalogue's topics under `prefix`; return the
    stack's settings in that namespace."""
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
    await apply_catalogue(cfg.bootstrap_servers, Namespace(prefix))
    return cfg.namespaced(prefix, database)


async def drop(cfg: StackConfig, prefix: str, database: str) -> None:
    """Drop the database and delete the prefixed topics (both may be missing)."""
    if not prefix:
        raise ValueError("refusing to drop the unprefixed namespace")
    admin = await asyncpg.connect(cfg.pg_dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()
    topics = Namespace(prefix)
    kafka = admin_client(cfg.bootstrap_servers)
    await kafka.start()
    try:
        existing = set(await kafka.list_topics())
        doomed = [topics.physical(t) for t in CATALOGUE if topics.physical(t) in existing]
        if doomed:
            await kafka.delete_topics(doomed)
    finally:
        await kafka.close()
