"""The access logs' witnessing contracts: a head for a witness and its cosignature round-trip,
are keyed by log and month (never a person), and anything else decodes to a refusal with
reasons, never another error; the witness's rule answers any note it is sent with a verdict."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from access_log.heads import cosigned, judge, signed_head
from access_log.merkle import Tree
from access_log.months import head_origin
from access_log.verifier import Head, HeadRefused, leaf_hash, verify_head
from schemas import MessageRejected, decode_relay, encode
from schemas.access_log import REFUSAL_LENGTH, HeadCosignature, TreeHeadForWitness, refusal_text

RELAY_KEY = ec.generate_private_key(ec.SECP256R1())
RELAY = ("relay-access-log", RELAY_KEY.public_key())
WITNESS = ec.generate_private_key(ec.SECP256R1())
AT = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
ORIGIN = head_origin("exchange", "2026-12")


def _note(size: int) -> str:
    tree = Tree([leaf_hash(bytes([i])) for i in range(size)])
    return signed_head(Head(ORIGIN, size, tree.root(), "2026-12-06T03:00:00Z"),
                       "relay-access-log", RELAY_KEY)


def test_a_head_and_its_cosignature_round_trip_keyed_by_log_and_month():
    sent = TreeHeadForWitness(log="exchange", month="2026-12", witness_code="06130012",
                              note=_note(5), since=3, consistency=[b"\x01" * 32] * 2,
                              relay_time=AT)
    assert decode_relay(encode(sent), TreeHeadForWitness) == sent
    assert sent.kafka_key() == b"exchange:2026-12"
    answer = HeadCosignature(witness_code="06130012", log="exchange", month="2026-12",
                             note=cosigned(sent.note, "06130012", WITNESS))
    assert decode_relay(encode(answer), HeadCosignature) == answer
    assert answer.kafka_key() == b"06130012:exchange:2026-12"
    checked = verify_head(answer.note, RELAY, {"06130012": WITNESS.public_key()})
    assert checked.head.size == 5 and checked.witnesses == ("06130012",)


@pytest.mark.parametrize("field,value", [
    ("month", "2026-13"), ("month", "202612"), ("log", "filings"), ("since", -1),
    ("consistency", [base64.b64encode(b"\x01" * 31).decode()]), ("note", ""),
    ("note", "x" * 5000), ("witness_code", ""),
])
def test_a_malformed_head_for_a_witness_is_refused_with_reasons(field, value):
    body = json.loads(encode(TreeHeadForWitness(
        log="exchange", month="2026-12", witness_code="06130012", note=_note(2),
        relay_time=AT)))
    body[field] = value
    with pytest.raises(MessageRejected) as refused:
        decode_relay(json.dumps(body).encode(), TreeHeadForWitness)
    assert refused.value.reasons


@pytest.mark.parametrize("refusal", ["  ", "fork\nexchange 2026-12: holds together",
                                     "fork \x1b[2J", "x" * 501])
def test_a_refusal_says_why_on_one_line(refusal):
    with pytest.raises(MessageRejected):
        decode_relay(json.dumps({"schema_version": 1, "witness_code": "06130012",
                                 "log": "exchange", "month": "2026-12", "note": _note(1),
                                 "refusal": refusal}).encode(), HeadCosignature)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_decode_or_are_refused(raw):
    for model in (TreeHeadForWitness, HeadCosignature):
        with contextlib.suppress(MessageRejected):
            decode_relay(raw, model)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.lists(st.binary(min_size=32, max_size=32), max_size=4))
def test_the_witness_answers_any_note_with_a_verdict(note, proof):
    last = judge(_note(3), None, None, ORIGIN, RELAY, AT).seen
    verdict = judge(note, proof or None, last, ORIGIN, RELAY, AT)
    assert not verdict.cosign and verdict.reason and verdict.seen == last


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_reason_becomes_a_refusal_the_contract_carries(reason):
    """A reason may quote the note it refuses (a signer's name of any length, say): the
    witness's answer must still be a valid HeadCosignature, never an error that stops it."""
    text = refusal_text(reason)
    answer = HeadCosignature(witness_code="06130012", log="exchange", month="2026-12",
                             note=_note(1), refusal=text)
    assert decode_relay(encode(answer), HeadCosignature).refusal == text
    assert len(text) <= REFUSAL_LENGTH


def test_a_long_reason_quoting_a_signer_is_cut_and_its_control_characters_spaced():
    name = "w" * 700
    assert refusal_text(f"{name} signs the head twice") == "w" * 499 + "…"
    assert refusal_text("fork\n\x1b[2J") == "fork  [2J"
    assert refusal_text("\x00\t ") == "refused"


def test_the_witness_cosigns_an_extension_and_refuses_a_proof_from_another_head():
    first = judge(_note(3), None, None, ORIGIN, RELAY, AT)
    assert first.cosign
    tree = Tree([leaf_hash(bytes([i])) for i in range(7)])
    grown = judge(_note(7), tree.consistency(3, 7), first.seen, ORIGIN, RELAY, AT)
    assert grown.cosign and grown.seen.size == 7
    elsewhere = judge(_note(7), tree.consistency(2, 7), first.seen, ORIGIN, RELAY, AT)
    assert not elsewhere.cosign and elsewhere.reason.startswith("fork")


def test_a_head_cosigned_with_a_retired_witness_key_stays_checkable():
    from shaho.access_log_commands import _cosigning_keys

    retired, current = WITNESS, ec.generate_private_key(ec.SECP256R1())
    note = cosigned(_note(4), "06130012", retired)
    chosen = _cosigning_keys(note, RELAY, {"06130012": [current.public_key(),
                                                          retired.public_key()]})
    assert verify_head(note, RELAY, chosen).witnesses == ("06130012",)
    newest = _cosigning_keys(note, RELAY, {"06130012": [current.public_key()]})
    with pytest.raises(HeadRefused):
        verify_head(note, RELAY, newest)
