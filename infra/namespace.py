"""A relay namespace: its own database, its own prefixed topics on the shared broker and the
grants that let the relay's processors work on them.

The demo runs in one (recreated each run) and every integration test gets a fresh one, which
has the per-participant streams of `ON_REQUEST_STREAMS` only where the test asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import asyncpg

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import admin_client
from infra import kafka_acl
from infra.migrations import apply_all
from infra.principals import OPERATOR
from infra.topics_admin import (
    STREAM_ROLES,
    apply_catalogue,
    apply_receipt_topics,
    apply_settlement_topics,
    participants_topics,
)
from schemas.topics import CATALOGUE, NOTICES, RECEIPTS, SETTLEMENTS, Namespace, Topic
from trust.pki import list_participants


async def create(cfg: StackConfig, prefix: str, database: str,
                 streams: Collection[str] = ()) -> StackConfig:
    """Create the database (migrated) and, under `prefix`, the catalogue's topics and the
    per-participant topics (`participant_topics`) of every participant of the stack's registry,
    of the standing streams and of the on-request `streams` asked for; return the stack's
    settings in that namespace."""
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
    topics = Namespace(prefix)
    await apply_catalogue(cfg.kafka(OPERATOR),  # one round of admin requests for them all
                          topics, (*CATALOGUE, *_participants_topics(cfg, streams)))
    if cfg.kafka_auth:
        await asyncio.to_thread(kafka_acl.grant_namespace, cfg, topics)
    return cfg.namespaced(prefix, database)


EXCHANGE_STREAMS = ("requests.v1", "replies.v1")
"""The exchange's per-participant streams: the requests routed to an insurer, the replies to
its own (six partitions each, most of a namespace's per-participant partitions)."""
ON_REQUEST_STREAMS: frozenset[str] = frozenset({*EXCHANGE_STREAMS, NOTICES, RECEIPTS, SETTLEMENTS})
"""The per-participant streams a namespace has only where asked (`streams`): about fifty
integration tests make a namespace each, every partition costs the broker set-up time, and only
the tests that write or read these streams ask for them (those that route requests make their
insurers' topics, `infra.topics_admin.apply_topics_of`; the demo asks for the streams it uses).
The change notices and the heads stay: the linker's publisher and the notices log write them.
`shaho up` makes every stream in the stack's own topics."""


def standing_streams(streams: Collection[str] = ()) -> list[str]:
    """The per-participant streams a namespace made with `streams` has: those not made only
    on request, and `streams`. ValueError for a stream that is no per-participant one."""
    unknown = sorted(set(streams) - set(STREAM_ROLES))
    if unknown:
        raise ValueError(f"no per-participant stream {', '.join(unknown)}")
    return [s for s in STREAM_ROLES if s not in ON_REQUEST_STREAMS or s in streams]


def _participants_topics(cfg: StackConfig, streams: Collection[str]) -> tuple[Topic, ...]:
    return participants_topics([(p.role, p.code) for p in list_participants(cfg)],
                               standing_streams(streams))


async def participant_topics(cfg: StackConfig, topics: Namespace,
                             streams: Collection[str] = ()) -> list[str]:
    """Create in `topics` the per-participant topics of the standing streams and of the
    on-request `streams` (`standing_streams`) addressed to every participant the stack's
    registry lists (those onboarded since the namespace was made too) that lack them; the
    names created. The configs of those there are left as made: the namespace's own."""
    wanted = _participants_topics(cfg, streams)
    return await apply_catalogue(cfg.kafka(OPERATOR), topics, wanted, align=False) \
        if wanted else []


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
