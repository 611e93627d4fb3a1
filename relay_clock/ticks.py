"""Relay clock ticks as values: making one, checking one read off a topic, and the record
header that tells a tick from a filing on a shared topic.

The MAC binds seq and relay time under the relay's clock key, so no participant can move the
relay's time by writing a tick of its own onto a topic it may write to."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import UTC, datetime

from groundfloor.crypto import Keyring, tick_mac
from schemas.relay import TICK_HEADER, RelayTick


def canonical(relay_time: datetime) -> str:
    """The one spelling of a relay time that the MAC covers: UTC, microseconds."""
    return relay_time.astimezone(UTC).isoformat(timespec="microseconds")


def new_tick(keyring: Keyring, seq: int, relay_time: datetime) -> RelayTick:
    mac = tick_mac(keyring, seq, canonical(relay_time)).hex()
    return RelayTick(seq=seq, relay_time=relay_time.astimezone(UTC), mac=mac)


def authentic(keyring: Keyring, tick: RelayTick) -> bool:
    """Whether `tick` was made with this relay's clock key."""
    want = tick_mac(keyring, tick.seq, canonical(tick.relay_time)).hex()
    return hmac.compare_digest(want, tick.mac)


def headers() -> list[tuple[str, bytes]]:
    """The headers a tick record carries."""
    return [TICK_HEADER]


def is_tick_record(record_headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a record claims to be a tick (it must still prove it: see `authentic`)."""
    return any(h == TICK_HEADER for h in (record_headers or ()))
