"""A relay namespace: its own database, its own prefixed topics on the shared broker and the
grants that let the relay's processors work on them.

The demo runs in one (recreated each run) and every integration test gets a fresh one.
"""

from __future__ import annotations

import asyncio

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import admin_client
from infra import kafka_acl
from infra.migrations import apply_all
from infra.principals import OPERATOR
from infra.topics_admin import (
    apply_catalogue,
    apply_participant_topics,
    apply_receipt_topics,
    apply_settlement_topics,
)
from schemas.topics import Namespace
from trust.pki import list_participants


async def create(cfg: StackConfig, prefix: str, database: str) -> StackConfig:
    """Create the database (migrated), the catalogue's topics and those addressed to each
    insurer and the Japan Pension Service of the stack's registry (and each municipality's
    notices topic) under `prefix`; return the stack's settings in that namespace. The insurers'
    receipts topics are left out (`receipt_topics` makes them where a test or the demo loads
    receipts)."""
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
    await apply_catalogue(cfg.kafka(OPERATOR), Namespace(prefix))
    await participant_topics(cfg, Namespace(prefix))
    if cfg.kafka_auth:
        await asyncio.to_thread(kafka_acl.grant_namespace, cfg, Namespace(prefix))
    return cfg.namespaced(prefix, database)


async def participant_topics(cfg: StackConfig, topics: Namespace) -> list[str]:
    """Create in `topics` the topics of every insurer and the Japan Pension Service, and the
    notices topic of every municipality, the stack's registry lists (those onboarded since
    too); the names created."""
    return await apply_participant_topics(cfg.kafka(OPERATOR), topics,
                                          [(p.role, p.code) for p in list_participants(cfg)],
                                          receipts=RECEIPTS_BY_DEFAULT,
                                          settlements=SETTLEMENTS_BY_DEFAULT)


RECEIPTS_BY_DEFAULT = False
"""Whether a namespace gets every insurer's receipts topics when it is made: not, as about
fifty integration tests make one each and none of them but the receipts tests reads them."""


SETTLEMENTS_BY_DEFAULT = False
"""Whether a namespace gets every insurer's settlements topic when it is made: not, for the
same reason; the settlement tests ask for theirs (`settlement_topics`)."""


async def settlement_topics(cfg: StackConfig, topics: Namespace, codes: list[str]) -> list[str]:
    """Create in `topics` the settlements topics of the insurers `codes`; the names created."""
    return await apply_settlement_topics(cfg.kafka(OPERATOR), topics, codes)


async def receipt_topics(cfg: StackConfig, topics: Namespace, codes: list[str]) -> list[str]:
    """Create in `topics` the receipts topics (and their dead letters) of the insurers
    `codes`; the names created."""
    return await apply_receipt_topics(cfg.kafka(OPERATOR), topics, codes)


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
    if cfg.kafka_auth:
        await asyncio.to_thread(kafka_acl.revoke_namespace, cfg, topics)
    kafka = admin_client(cfg.kafka(OPERATOR))
    await kafka.start()
    try:
        existing = set(await kafka.list_topics())
        doomed = sorted(t for t in existing if t.startswith(prefix))  # participants' too
        if doomed:
            await kafka.delete_topics(doomed)
            for _ in range(150):  # a namespace made again at once must not meet them
                if not set(doomed) & set(await kafka.list_topics()):
                    break
                await asyncio.sleep(0.2)
    finally:
        await kafka.close()
