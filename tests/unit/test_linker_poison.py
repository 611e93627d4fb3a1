"""The linker never stops on input: its decoder and its translation turn whatever a record
causes into a rejection with a reason, and a filing that decodes is translated and decided in
any era of the relay's calendar without raising."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.clocked import Released, Tick
from groundfloor.crypto import Keyring
from relay_clock.ticks import headers, new_tick
from relay_linker.domain import apply_all, decide, expire, new_state
from relay_linker.domain.commands import Source
from relay_linker.linker import Decoder, Incoming, KeyringHasher, translated
from relay_linker.messages import output_rows
from relay_linker.translate import Translator
from schemas import Filing, FilingRejected, RelayTick, decode_filing, encode
from schemas.base import JST
from schemas.filings import EVENT_TYPES, topics_for
from schemas.payload import FilerKind
from schemas.relay import TICK_HEADER, ReasonCode
from schemas.secret import SecretNumber
from schemas.topics import RELAY_CLOCK, Namespace
from tests.fixtures.examples import FILER_CODES, example_filing, example_payload
from tests.fixtures.poison import dumps, example_wire, mutated_example, named_poison, shifted, wire
from tests.fixtures.signing import MemoryPki
from trust.rules import role_of_topic

KEYRING = Keyring.ephemeral(b"poison records")
NAMESPACE = Namespace("t.")
PKI = MemoryPki()
SIGNERS = PKI.signers
DECODE = Decoder(NAMESPACE, KEYRING, SIGNERS)
TRANSLATOR = Translator(KEYRING)
HASHER = KeyringHasher(KEYRING)
EMPLOYER = "t.filing.employer.v1"
RELAY_TIME = datetime(2025, 4, 11, tzinfo=UTC)
LAST_RELAY_TIME = datetime(2999, 12, 31, 23, 59, tzinfo=JST)


def _record(value: object, topic: str = EMPLOYER, offset: int = 7,
            record_headers: list[tuple[str, bytes]] | None = None,
            signed: bool = True) -> ConsumerRecord:
    """A record as consumed; `signed` by its filer (the example filer of the topic's role),
    or by the relay clock when it is marked as a tick."""
    size = len(value) if isinstance(value, bytes | str) else 0
    key = b"EMP-0001:tok"
    record_headers = list(record_headers or [])
    if signed and isinstance(value, bytes):
        logical = NAMESPACE.logical(topic)
        if TICK_HEADER in record_headers:
            record_headers += PKI.headers(logical, key, value, "relay-clock", "relay")
        else:
            role = role_of_topic(logical)
            assert role is not None
            record_headers += PKI.headers(logical, key, value, FILER_CODES[FilerKind(role)])
    return ConsumerRecord(topic=topic, partition=2, offset=offset, timestamp=0,
                          timestamp_type=0, key=key, value=value, checksum=None,
                          serialized_key_size=12, serialized_value_size=size,
                          headers=record_headers)


def _released(item: Incoming, relay_time: datetime = RELAY_TIME) -> Released[Incoming]:
    record = item.record
    return Released(item, record.topic, record.partition, record.offset, 1, relay_time)


@pytest.mark.parametrize("name", sorted(named_poison()))
def test_each_poison_record_decodes_to_a_rejection(name: str):
    incoming = DECODE(_record(named_poison()[name]))
    assert isinstance(incoming, Incoming) and incoming.filing is None
    assert incoming.rejected is not None and incoming.rejected.reasons
    outcome = translated(TRANSLATOR, _released(incoming), Namespace(), SIGNERS)
    assert isinstance(outcome, FilingRejected)


def test_a_good_filing_decodes_and_translates():
    filing = example_filing("EmployeeInsuranceAcquired")
    incoming = DECODE(_record(encode(filing)))
    assert isinstance(incoming, Incoming) and incoming.filing == filing
    record = translated(TRANSLATOR, _released(incoming), Namespace(), SIGNERS)
    assert not isinstance(record, FilingRejected)
    assert record.event_id == filing.event_id and record.source == Source(EMPLOYER, 2, 7)


def test_whatever_decoding_raises_makes_the_record_undecodable():
    """A value that is no bytes (what a consumer with a deserializer would hand over) makes the
    decoder itself raise: the record is set aside, naming the exception's type only."""
    incoming = DECODE(_record("山田太郎 1234567890"))
    assert isinstance(incoming, Incoming) and incoming.rejected is not None
    [reason] = incoming.rejected.reasons
    assert reason.code == ReasonCode.UNDECODABLE.value
    assert reason.message == "the relay could not decode this record (TypeError)"
    assert incoming.rejected.filer_code is None


def test_a_forged_tick_far_outside_the_calendar_is_a_forged_tick():
    """A tick at 0001-01-01 in Japan has no UTC date: checking its MAC used to overflow."""
    forged = RelayTick.model_construct(seq=2, relay_time=datetime(1, 1, 1, tzinfo=UTC),
                                       mac="0" * 64)
    raw = encode(forged).replace(b"+00:00", b"+09:00").replace(b"Z", b"+09:00")
    incoming = DECODE(_record(raw, record_headers=headers()))
    assert isinstance(incoming, Incoming) and incoming.rejected is not None
    assert [r.code for r in incoming.rejected.reasons] == [ReasonCode.FORGED_TICK.value]


def test_an_authentic_tick_is_a_tick():
    tick = new_tick(KEYRING, 3, RELAY_TIME)
    assert DECODE(_record(encode(tick), record_headers=headers())) == Tick(3, RELAY_TIME)


def test_a_filing_whose_translation_raises_is_refused_as_untranslatable():
    """Only a filing built without validation can hold a lone surrogate in a number; the
    linker must still set it aside, with an answer to its filer."""
    payload = example_payload("ResidentRegistered").model_copy(
        update={"resident_code": SecretNumber("1234567890\udc80")})
    filing = example_filing("ResidentRegistered").model_copy(update={"payload": payload})
    incoming = Incoming(_record(b"{}", topic="t.filing.municipality.v1"), filing, None)
    rejected = translated(TRANSLATOR, _released(incoming), Namespace(), SIGNERS)
    assert isinstance(rejected, FilingRejected)
    [reason] = rejected.reasons
    assert reason.code == ReasonCode.UNTRANSLATABLE.value and reason.field is None
    assert reason.message.startswith("the relay could not translate this record (")
    assert "1234567890" not in reason.message
    assert (rejected.filer_code, rejected.filing_reference) == (filing.filer_code,
                                                                filing.filing_reference)
    assert rejected.event_id == filing.event_id


# --- properties -----------------------------------------------------------------------------

HEADERS = st.sampled_from([[], headers(), [("shaho-record", b"other")], [("x", b"\xff")]])


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64), record_headers=HEADERS, raw=st.binary(max_size=200),
       use_raw=st.booleans(), signed=st.booleans())
def test_the_decoder_never_raises(seed: int, record_headers, raw: bytes, use_raw: bool,
                                  signed: bool):
    event_type, mutated = mutated_example(random.Random(seed))
    topic = NAMESPACE.physical(topics_for(event_type)[0])
    decoded = DECODE(_record(raw if use_raw else mutated, topic, record_headers=record_headers,
                             signed=signed))
    assert isinstance(decoded, Tick | Incoming)
    if isinstance(decoded, Incoming):
        assert (decoded.filing is None) != (decoded.rejected is None)
        outcome = translated(TRANSLATOR, _released(decoded), Namespace(), SIGNERS)
        assert isinstance(outcome, FilingRejected) == (decoded.filing is None)


def _registration_state(registration: Filing, relay_time: datetime):
    state = new_state()
    record = TRANSLATOR.record(registration, Source("t.filing.municipality.v1", 0, 0),
                               relay_time)
    apply_all(state, decide(state, record, HASHER))
    return state


def _decide_all(filing: Filing, registration: Filing | None) -> None:
    """Translate, decide after the registration, build the outputs and expire 15 days on:
    nothing may raise for a filing that decoded."""
    relay_time = max(filing.occurred_at, registration.occurred_at if registration else
                     filing.occurred_at)
    state = new_state() if registration is None else _registration_state(registration,
                                                                           relay_time)
    source = Source(EMPLOYER, 1, 1)
    record = TRANSLATOR.record(filing, source, relay_time)
    effects = decide(state, record, HASHER)
    apply_all(state, effects)
    output_rows(effects, source, NAMESPACE, relay_time)
    later = min(relay_time + timedelta(days=15), LAST_RELAY_TIME)  # ticks lie in the calendar
    expired = expire(state, later)
    apply_all(state, expired)
    output_rows(expired, Source(NAMESPACE.physical(RELAY_CLOCK), 0, 2), NAMESPACE, later)


def _decoded(data: dict, event_type: str) -> Filing | None:
    try:
        return decode_filing(dumps(data), topics_for(event_type)[0].name)
    except FilingRejected:
        return None


@settings(max_examples=1000, deadline=None)
@given(event_type=st.sampled_from(EVENT_TYPES), days=st.integers(-90_000, 360_000))
def test_a_filing_that_decodes_is_decided_in_any_era(event_type: str, days: int):
    """The registration and another filing about the same person, both moved by `days`: when
    both decode, the linker's translation, decision, outputs and expiry run without raising
    (ages reach 75 years past the calendar's last day)."""
    registration = _decoded(shifted(example_wire("ResidentRegistered"), days),
                            "ResidentRegistered")
    filing = _decoded(shifted(example_wire(event_type), days), event_type)
    if filing is not None:
        _decide_all(filing, registration)


@settings(max_examples=1000, deadline=None)
@given(seed=st.integers(0, 2**64))
def test_a_mutated_filing_that_decodes_is_decided(seed: int):
    event_type, raw = mutated_example(random.Random(seed))
    try:
        filing = decode_filing(raw, topics_for(event_type)[0].name)
    except FilingRejected:
        return
    _decide_all(filing, example_filing("ResidentRegistered"))


def test_the_eras_reach_both_ends_of_the_calendar():
    """The edges themselves, not left to chance: filings moved so their filing date is the
    calendar's last day, or so their earliest date is its first."""
    decided = 0
    for event_type in EVENT_TYPES:
        example = example_filing(event_type)
        for days in ((date(2999, 12, 31) - example.filed_on).days,
                     (date(1800, 1, 1) - example.payload.identity.birth_date.reveal()).days
                     if hasattr(example.payload, "identity") else 0):
            registration = _decoded(shifted(example_wire("ResidentRegistered"), days),
                                    "ResidentRegistered")
            filing = _decoded(shifted(wire(example), days), event_type)
            if filing is not None:
                _decide_all(filing, registration)
                decided += 1
    assert decided >= len(EVENT_TYPES)
