"""Records a broken filer pushes onto Kafka that no producer of ours would send.

Each is a real filing of the population spoiled in one way, with its own filing reference.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from schemas.codec import encode
from schemas.envelope import Filing, event_id_for

MAX_BYTES = 1_000_000
PERSONS_PER_ROUND = 1000
Spoil = Callable[[dict[str, Any]], bytes]


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _shift_jis(data: dict[str, Any]) -> bytes:
    return _dump(data).encode("cp932", errors="replace")


def _truncated(data: dict[str, Any]) -> bytes:
    text = _dump(data)
    return text[: len(text) // 2].encode()


def _unknown_event_type(data: dict[str, Any]) -> bytes:
    return _dump({**data, "event_type": "MaternityLeaveStarted"}).encode()


def _unknown_version(data: dict[str, Any]) -> bytes:
    return _dump({**data, "schema_version": data["schema_version"] + 1}).encode()


def _wrong_check_digit(data: dict[str, Any]) -> bytes:
    number = data["payload"]["insurer_number"]
    wrong = f"{number[:-1]}{(int(number[-1]) + 1) % 10}"
    return _dump({**data, "payload": {**data["payload"], "insurer_number": wrong}}).encode()


def _lost_before_acquired(data: dict[str, Any]) -> bytes:
    valid_to = date.fromisoformat(data["payload"]["valid_from"]) - timedelta(days=30)
    payload = {**data["payload"], "valid_to": valid_to.isoformat()}
    return _dump({**data, "payload": payload}).encode()


def _missing_identity_item(data: dict[str, Any]) -> bytes:
    items = {k: v for k, v in data["payload"]["identity"].items() if k != "kana_name"}
    return _dump({**data, "payload": {**data["payload"], "identity": items}}).encode()


def _too_large(data: dict[str, Any]) -> bytes:
    return _dump({**data, "attachment": "A" * MAX_BYTES}).encode()


# name: (what decode_filing answers, which filings can be spoiled so, how)
KINDS: dict[str, tuple[str, Callable[[Filing], bool], Spoil]] = {
    "not_utf8": ("not_utf8", lambda f: hasattr(f.payload, "identity"), _shift_jis),
    "not_json": ("not_json", lambda f: True, _truncated),
    "unknown_event_type": (
        "unknown_event_type",
        lambda f: f.event_type.startswith("Employee"),
        _unknown_event_type,
    ),
    "unknown_schema_version": ("unknown_schema_version", lambda f: True, _unknown_version),
    "wrong_check_digit": (
        "invalid",
        lambda f: hasattr(f.payload, "insurer_number"),
        _wrong_check_digit,
    ),
    "loss_before_acquisition": (
        "invalid",
        lambda f: f.event_type == "MemberLoaded",
        _lost_before_acquired,
    ),
    "missing_identity_item": (
        "invalid",
        lambda f: hasattr(f.payload, "identity"),
        _missing_identity_item,
    ),
    "too_large": ("too_large", lambda f: True, _too_large),
}


def bad_records(
    rng: random.Random, filings: list[Filing], topic_of: Callable[[Filing], str], persons: int
) -> list[tuple[str, bytes, str, str]]:
    """(topic, raw bytes, expected reason code, filer code of the spoiled filing, the broken
    filer that sends and signs it): each kind once per 1,000 persons, at least once."""
    records = []
    for round_ in range(max(1, persons // PERSONS_PER_ROUND)):
        for index, (code, fits, spoil) in enumerate(KINDS.values()):
            candidates = [f for f in filings if fits(f)] or filings
            if not candidates:
                return records
            source = rng.choice(candidates)
            data = json.loads(encode(source))
            reference = f"X{round_:02d}{index:02d}-{source.filing_reference}"
            data["filing_reference"] = reference
            data["event_id"] = str(event_id_for(source.filer_code, reference))
            records.append((topic_of(source), spoil(data), code, source.filer_code))
    return records
