"""PersonChanged v1, the relay-internal message of a person's birth date, death and removal:
round trips, refuses what does not fit with the field named, and decodes any bytes or any JSON
object into a message or a clear problem, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import MessageRejected, decode_relay, encode
from schemas.internal import INTERNAL_MESSAGES, PersonChanged
from schemas.topics import LINK_CHANGE_V2, PERSON_CHANGE, topic

BASE = {
    "relay_id": "r-0001", "person_version": 2, "born_on": "1980-05-10", "died_on": None,
    "removed": False, "source_event_id": "6f1c1a8e-7f7b-4d7e-9a53-0d6f3c2d1b11",
    "outbox_id": "6f1c1a8e-7f7b-4d7e-9a53-0d6f3c2d1b12", "relay_time": "2025-04-20T03:00:00Z",
}
FIELDS = sorted(BASE)


def _decode(data: object) -> PersonChanged:
    return decode_relay(json.dumps(data).encode(), PersonChanged)


def test_a_person_change_round_trips_keyed_by_relay_id() -> None:
    message = _decode(BASE)
    assert message.born_on == date(1980, 5, 10) and message.died_on is None
    assert message.relay_time == datetime(2025, 4, 20, 3, tzinfo=UTC)
    assert message.outbox_id == UUID(BASE["outbox_id"])
    assert decode_relay(encode(message), PersonChanged) == message
    assert message.kafka_key() == b"r-0001"
    assert PersonChanged in INTERNAL_MESSAGES and PersonChanged.SCHEMA_VERSION == 1


def test_a_death_and_a_removal_decode() -> None:
    dead = _decode({**BASE, "died_on": "2025-04-05"})
    assert dead.died_on == date(2025, 4, 5)
    gone = _decode({**BASE, "born_on": None, "removed": True})
    assert gone.removed and gone.born_on is None


def test_the_topic_partitions_like_link_change_v2_and_says_it_reveals_birth_dates() -> None:
    assert topic(PERSON_CHANGE.name).partitions == LINK_CHANGE_V2.partitions
    assert PERSON_CHANGE.key == "<relay id>" and PERSON_CHANGE.message == "PersonChanged"
    assert "birth dates" in PERSON_CHANGE.summary and "Relay-internal" in PERSON_CHANGE.summary


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"born_on": "1980-13-01"}, "born_on"),
        ({"died_on": "yesterday"}, "died_on"),
        ({"removed": True}, "born_on"),  # a removed person has no dates
        ({"born_on": None, "died_on": "2025-04-05", "removed": True}, "died_on"),
        ({"person_version": 0}, "person_version"),
        ({"removed": "yes"}, "removed"),
        ({"relay_time": None}, "relay_time"),
        ({"relay_id": "R 1"}, "relay_id"),
        ({"outbox_id": "not-a-uuid"}, "outbox_id"),
        ({"shoe_size": 24}, "shoe_size"),
    ],
)
def test_what_does_not_fit_is_refused_naming_its_field(fields: dict, where: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        _decode({**BASE, **fields})
    assert [r.field for r in refused.value.reasons] == [where]
    assert all(r.code and r.message for r in refused.value.reasons)


def test_a_refusal_never_echoes_the_birth_date() -> None:
    with pytest.raises(MessageRejected) as refused:
        _decode({**BASE, "removed": True, "person_version": -1})
    assert "1980" not in str(refused.value)
    assert all("1980" not in r.message for r in refused.value.reasons)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_or_are_refused_with_reasons(raw: bytes) -> None:
    try:
        decode_relay(raw, PersonChanged)
    except MessageRejected as refused:
        assert refused.reasons and all(r.code and r.message for r in refused.reasons)


JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from(["1980-05-10", "2025-02-29", "r-0002", "2025-04-20T03:00:00+09:00",
                     "6f1c1a8e-7f7b-4d7e-9a53-0d6f3c2d1b13", "", "\x00", "９"]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=1000, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([*FIELDS, "extra"]), JSON_VALUES, max_size=4),
       dropped=st.sets(st.sampled_from(FIELDS), max_size=3))
def test_any_json_object_gives_a_message_or_a_clear_problem(changes: dict,
                                                            dropped: set[str]) -> None:
    data = {k: v for k, v in {**BASE, **changes}.items() if k not in dropped}
    try:
        message = _decode(data)
    except MessageRejected as refused:
        assert refused.reasons
        assert all(r.code and r.message for r in refused.reasons)
        known = {*FIELDS, "extra", None}
        assert all(r.field is None or r.field.split(".")[0] in known for r in refused.reasons)
    else:
        assert decode_relay(encode(message), PersonChanged) == message
        assert not (message.removed and (message.born_on or message.died_on))


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON_VALUES, st.lists(JSON_VALUES, max_size=3)))
def test_any_json_value_gives_a_message_or_a_clear_problem(value: object) -> None:
    try:
        _decode(value)
    except MessageRejected as refused:
        assert refused.reasons
