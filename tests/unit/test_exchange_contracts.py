"""The relayed exchange's contracts and seals: requests decode or are refused with reasons,
never anything else; a sealed number opens only for its provider, in its routed request, under
its purpose; an answer only for its asker; the asker's number is keyed as the linker keys it."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from groundfloor.crypto import Keyring, blind_index
from relay_exchange.numbers import number_key
from relay_linker.translate import Translator
from schemas import MessageRejected, decode_relay, encode
from schemas.common import InsuredNumber
from schemas.exchange import (
    ExchangeAnswer,
    ExchangeReply,
    ExchangeRequest,
    MemberNumber,
    RoutedRequest,
    item_id,
    reply_id,
    routed_id,
)
from trust.number_sealing import open_answer, open_number, seal_answer, seal_number
from trust.sealing import NotOpened

A_KEY = ec.generate_private_key(ec.SECP256R1())
B_KEY = ec.generate_private_key(ec.SECP256R1())
EXPIRES = datetime(2026, 1, 1, tzinfo=UTC)


def _request(**changes) -> dict:
    body = {
        "request_id": str(uuid4()), "asker_code": "06130012", "scheme": "medical",
        "category": "qualification", "purpose": "eligibility_confirmation",
        "as_of": "2025-04-01", "expires_at": "2026-01-01T00:00:00Z",
        "entries": [{"entry": "p1", "member": {"insured_number": {"number": "1234"}}}],
    }
    body.update(changes)
    return body


def _decode(body: dict) -> ExchangeRequest:
    return decode_relay(json.dumps(body).encode(), ExchangeRequest)


def test_a_request_round_trips_and_is_keyed_by_asker_and_id():
    request = _decode(_request())
    assert decode_relay(encode(request), ExchangeRequest) == request
    assert request.kafka_key() == f"06130012:{request.request_id}".encode()


@pytest.mark.parametrize("changes, field", [
    ({"as_of": None}, "span"),
    ({"period_from": "2025-01-01", "period_to": "2025-12-31"}, "span"),
    ({"as_of": None, "period_from": "2025-01-01"}, "span"),
    ({"as_of": None, "period_from": "2025-02-01", "period_to": "2025-01-01"}, "span"),
    ({"entries": []}, "entries"),
    ({"entries": [{"entry": "p1", "member": {"insured_number": {"number": "1"}}}] * 2},
     "entries"),
    ({"entries": [{"entry": "p1", "member": {}}]}, "member"),
    ({"entries": [{"entry": "p 1", "member": {"insured_number": {"number": "1"}}}]}, "entry"),
    ({"scheme": "resident"}, "scheme"),
    ({"purpose": "curiosity"}, "purpose"),
    ({"expires_at": "2026-01-01T00:00:00"}, "expires_at"),
])
def test_a_malformed_request_is_refused_with_reasons(changes, field):
    with pytest.raises(MessageRejected) as refused:
        _decode(_request(**changes))
    assert refused.value.reasons


def test_a_refused_request_never_echoes_a_number():
    secret = "港いろは９８７６５"
    body = _request(entries=[{"entry": "p1", "member": {"insured_number": {"number": secret},
                                                        "basic_pension_number": "12"}}])
    with pytest.raises(MessageRejected) as refused:
        _decode(body)
    assert secret not in str(refused.value) and "98765" not in str(refused.value)
    assert all(secret not in r.message for r in refused.value.reasons)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_are_refused(raw):
    for model in (ExchangeRequest, RoutedRequest, ExchangeAnswer, ExchangeReply):
        with contextlib.suppress(MessageRejected):
            decode_relay(raw, model)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["request_id", "asker_code", "scheme", "category",
                                        "purpose", "as_of", "period_from", "period_to",
                                        "expires_at", "entries"]),
                       st.one_of(st.none(), st.text(max_size=20), st.integers(),
                                 st.lists(st.text(max_size=5), max_size=3))))
def test_arbitrary_fields_decode_or_are_refused(changes):
    try:
        _decode(_request(**changes))
    except MessageRejected as refused:
        assert refused.reasons


def test_ids_are_deterministic_and_distinct():
    request = UUID(int=7)
    assert routed_id("A", request, "B") == routed_id("A", request, "B") \
        != routed_id("A", request, "C")
    r = routed_id("A", request, "B")
    assert item_id(r, "p1") != item_id(r, "p2")
    assert reply_id("A", request, "p1", "forwarded", None) != reply_id(
        "A", request, "p1", "refused", "not_member")
    # two askers that used the same request id share no routed request, item or reply
    assert routed_id("A", request, "B") != routed_id("X", request, "B")
    assert reply_id("A", request, "p1", "forwarded", None) != reply_id(
        "X", request, "p1", "forwarded", None)


ROUTED, ITEM = uuid4(), uuid4()


def test_a_sealed_number_opens_only_for_its_provider_request_item_and_purpose():
    sealed = seal_number("記号|123|01", B_KEY.public_key(), ROUTED, ITEM, "B", "combined")
    assert open_number(sealed, B_KEY, ROUTED, ITEM, "B", "combined") == "記号|123|01"
    for key, routed, item, provider, purpose in [
        (A_KEY, ROUTED, ITEM, "B", "combined"),  # another insurer's key
        (B_KEY, uuid4(), ITEM, "B", "combined"),  # reused in another request
        (B_KEY, ROUTED, uuid4(), "B", "combined"),  # moved to another item
        (B_KEY, ROUTED, ITEM, "C", "combined"),  # another provider named
        (B_KEY, ROUTED, ITEM, "B", "eligibility"),  # another purpose
    ]:
        with pytest.raises(NotOpened) as refused:
            open_number(sealed, key, routed, item, provider, purpose)
        assert "123" not in str(refused.value)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255))
def test_a_tampered_sealed_number_does_not_open(position, flip):
    sealed = bytearray(seal_number("1234", B_KEY.public_key(), ROUTED, ITEM, "B", "p"))
    position %= len(sealed)
    sealed[position] ^= flip or 1
    with pytest.raises(NotOpened):
        open_number(bytes(sealed), B_KEY, ROUTED, ITEM, "B", "p")


def test_an_answer_opens_only_for_its_asker():
    request = uuid4()
    sealed = seal_answer(b'{"status":"covered"}', A_KEY.public_key(), request, ITEM, "A", "B")
    assert open_answer(sealed, A_KEY, request, ITEM, "A", "B") == b'{"status":"covered"}'
    with pytest.raises(NotOpened):
        open_answer(sealed, B_KEY, request, ITEM, "A", "B")
    with pytest.raises(NotOpened):
        open_answer(sealed, A_KEY, request, ITEM, "A", "C")  # claimed by another provider


@pytest.mark.parametrize("member, translate", [
    (MemberNumber(insured_number=InsuredNumber(symbol="港いろは", number="１２３", branch="01")),
     lambda t: t.insured("06130012", InsuredNumber(symbol="港いろは", number="１２３",
                                                   branch="01"))),
    (MemberNumber(insured_number=InsuredNumber(number="77")),
     lambda t: t.insured("06130012", InsuredNumber(number="77"))),
    (MemberNumber(care_insured_number="1234567890"),
     lambda t: t.care("06130012", "1234567890")),
    (MemberNumber(basic_pension_number="1234-567890"),
     lambda t: t.pension("1234-567890")),
])
def test_the_askers_number_is_keyed_as_the_linker_keys_a_filings(member, translate):
    keyring = Keyring.generate()
    ref = translate(Translator(keyring))
    kind, value = number_key("06130012", member)
    assert ref.kind == kind
    assert ref.index == blind_index(keyring, kind, value)


def test_entry_tokens_are_no_numbers():
    with pytest.raises(MessageRejected):
        _decode(_request(entries=[{"entry": "x" * 65, "member": {
            "insured_number": {"number": "1"}}}]))
    assert date(2025, 4, 1) == _decode(_request()).as_of
