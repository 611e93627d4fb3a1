"""What the relay holds, read whole for the tests that look for amounts in it: a dump of its
database (not the insurers' own stores) and every record of its topics (not the insurers'
private ones), and the search for an amount in clear, as text or as a binary integer."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

from aiokafka.structs import ConsumerRecord

from consumers.reading import read_committed
from groundfloor.kafka_clients import admin_client
from infra.postgres import _bin_dir
from infra.principals import OPERATOR, TESTS
from schemas.topics import PRIVATE_PREFIX
from tests.integration.relay_env import RelayEnv


async def database_dump(relay: RelayEnv) -> bytes:
    """pg_dump of the relay's database without the insurers' own stores (`insurer_*`)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [str(_bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(relay.cfg.pg_port), "-U",
         relay.cfg.pg_user, "--exclude-schema=insurer_*", relay.database],
        env={**os.environ, "PGPASSWORD": relay.cfg.pg_password()}, capture_output=True,
        check=True)
    return done.stdout


async def relay_records(relay: RelayEnv) -> list[ConsumerRecord]:
    """Every committed record on the namespace's topics but the insurers' private ones."""
    admin = admin_client(relay.cfg.kafka(OPERATOR))
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(relay.prefix)
                       and not relay.topics.logical(t).startswith(PRIVATE_PREFIX))
    finally:
        await admin.close()
    return await read_committed(relay.cfg.kafka(TESTS), names)


def in_clear(amount: int, data: bytes) -> bool:
    """Whether `data` holds `amount` as a number in text (not inside a longer run of hex or
    base64, where digits occur by chance) or as a 4- or 8-byte integer either way round."""
    text = re.compile(rb"(?<![0-9A-Za-z+/])" + str(amount).encode() + rb"(?![0-9A-Za-z+/])")
    return bool(text.search(data)) or any(amount.to_bytes(n, order, signed=True) in data
                                          for n in (4, 8) for order in ("big", "little"))


def topics_holding(amount: int, records: list[ConsumerRecord]) -> list[str]:
    """The topics of `records` whose key or value holds `amount` in clear."""
    return sorted({r.topic for r in records
                   if in_clear(amount, (r.key or b"") + b"\n" + (r.value or b""))})
