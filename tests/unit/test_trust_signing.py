"""Signatures over the exact bytes of a record and the headers that carry them: the framing is
injective, anything else than the signed bytes is refused, and hostile headers never raise."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from relay_linker.admission import Refused, authenticate
from schemas.topics import Namespace
from tests.fixtures.signing import MemoryPki
from trust.rules import Refusal
from trust.signing import (
    MAX_SIGNATURE,
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    SignerId,
    framed,
    sign,
    signature_headers,
    signed_by,
    verifies,
)

PKI = MemoryPki()
EMPLOYER = PKI.add("employer", "EMP-0001")
OTHER = PKI.add("employer", "EMP-0002")
NAMESPACE = Namespace("t.")
TOPIC = "filing.employer.v1"
KEY, VALUE = b"EMP-0001:ref-1", b'{"event_type":"x"}'

topics = st.text(max_size=12)
maybe_bytes = st.none() | st.binary(max_size=12)
records = st.tuples(topics, maybe_bytes, maybe_bytes)


def _record(value: bytes | None, key: bytes | None = KEY,
            headers: list[tuple[str, bytes]] | None = None,
            topic: str = TOPIC) -> ConsumerRecord:
    return ConsumerRecord(
        topic=NAMESPACE.physical(topic), partition=0, offset=3, timestamp=0, timestamp_type=0,
        key=key, value=value, checksum=None, serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""), headers=headers or [])


def _headers(signer: object = EMPLOYER, topic: str = TOPIC, key: bytes | None = KEY,
             value: bytes | None = VALUE) -> list[tuple[str, bytes]]:
    return signer.headers(topic, key, value)  # type: ignore[attr-defined]


# -- framing -------------------------------------------------------------------------------

def test_framing_tells_apart_the_splits_of_the_same_bytes() -> None:
    assert framed("ab", b"c", b"") != framed("a", b"bc", b"")
    assert framed("a", b"b", b"c") != framed("a", b"bc", b"")
    assert framed("a", b"", b"bc") != framed("a", b"bc", b"")
    assert framed("a", None, b"x") != framed("a", b"", b"x")
    assert framed("a", b"x", None) != framed("a", b"x", b"")


@given(records, records)
def test_framing_is_injective(one: tuple, other: tuple) -> None:
    if one != other:
        assert framed(*one) != framed(*other)


@given(st.text(max_size=40), st.binary(max_size=40), st.binary(max_size=40), st.integers(1, 39))
def test_moving_bytes_from_key_to_value_never_frames_the_same(topic: str, key: bytes,
                                                              value: bytes, cut: int) -> None:
    whole = key + value
    cut = min(cut, len(whole))
    if cut != len(key):
        assert framed(topic, key, value) != framed(topic, whole[:cut], whole[cut:])


# -- signatures ----------------------------------------------------------------------------

def test_a_signature_verifies_over_exactly_the_bytes_signed() -> None:
    signature = sign(EMPLOYER.key, TOPIC, KEY, VALUE)
    public = EMPLOYER.key.public_key()
    assert verifies(public, signature, TOPIC, KEY, VALUE)
    assert not verifies(public, signature, TOPIC, KEY, VALUE + b" ")
    assert not verifies(public, signature, TOPIC, b"EMP-0001:ref-2", VALUE)
    assert not verifies(public, signature, "filing.municipality.v1", KEY, VALUE)
    assert not verifies(OTHER.key.public_key(), signature, TOPIC, KEY, VALUE)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=100))
def test_a_forged_signature_is_refused_without_raising(signature: bytes) -> None:
    assert not verifies(EMPLOYER.key.public_key(), signature, TOPIC, KEY, VALUE)


@settings(max_examples=40, deadline=None)
@given(records, records)
def test_a_signature_over_other_bytes_is_refused(signed: tuple, sent: tuple) -> None:
    signature = sign(EMPLOYER.key, *signed)
    assert verifies(EMPLOYER.key.public_key(), signature, *sent) == (signed == sent)


# -- headers -------------------------------------------------------------------------------

def test_the_signer_header_round_trips_and_refuses_non_canonical_forms() -> None:
    signer = SignerId("employer", "EMP-0001", 0xABC)
    assert SignerId.parse(signer.header()) == signer
    for raw in (b"employer/EMP-0001/0ABC", b"employer/EMP-0001/ABC", b"employer/EMP-0001",
                b"employer/EMP-0001/abc/x", b"/EMP-0001/abc", b"employer//abc",
                b"employer/EMP-0001/-1", b"employer/EMP-0001/+1", b"\xff/a/1",
                b"e/" + b"x" * 300 + b"/1"):
        assert SignerId.parse(raw) is None, raw


def test_headers_need_exactly_one_signer_and_one_signature() -> None:
    good = signature_headers(SignerId("employer", "E", 1), b"s")
    assert signed_by(good) == (SignerId("employer", "E", 1), b"s")
    assert signed_by(None) is None
    assert signed_by([]) is None
    assert signed_by(good + good[:1]) is None
    assert signed_by(good + good[1:]) is None
    assert signed_by([good[0], (SIGNATURE_HEADER, b"")]) is None
    assert signed_by([good[0], (SIGNATURE_HEADER, b"s" * (MAX_SIGNATURE + 1))]) is None


header_names = st.sampled_from([SIGNER_HEADER, SIGNATURE_HEADER, "shaho-tick", "x"]) | st.text(
    max_size=20)
header_values = st.binary(max_size=120) | st.builds(
    lambda r, c, s: f"{r}/{c}/{s:x}".encode(), st.sampled_from(["employer", "relay", "x"]),
    st.sampled_from(["EMP-0001", "EMP-0002", "relay-clock", "?"]), st.integers(0, 2**160))
hostile_headers = st.none() | st.lists(st.tuples(header_names, st.none() | header_values),
                                       max_size=5)


@settings(max_examples=200, deadline=None)
@given(hostile_headers)
def test_reading_hostile_headers_never_raises(headers: list | None) -> None:
    found = signed_by(headers)
    assert found is None or isinstance(found[0], SignerId)


@settings(max_examples=150, deadline=None)
@given(hostile_headers, st.none() | st.binary(max_size=60), st.none() | st.binary(max_size=60))
def test_authenticating_hostile_records_only_ever_refuses(headers: list | None,
                                                         key: bytes | None,
                                                         value: bytes | None) -> None:
    found = authenticate(PKI.signers, _record(value, key, headers or []), NAMESPACE)
    assert isinstance(found, Refused)
    assert found.refusal in (Refusal.UNSIGNED, Refusal.UNKNOWN_SIGNER, Refusal.BAD_SIGNATURE)
    assert found.signer is None


def test_authentication_names_each_refusal() -> None:
    signed = _headers()
    assert authenticate(PKI.signers, _record(VALUE, headers=signed), NAMESPACE) \
        == EMPLOYER.signer
    cases = {
        Refusal.UNSIGNED: _record(VALUE),
        Refusal.UNKNOWN_SIGNER: _record(VALUE, headers=signature_headers(
            SignerId("employer", "EMP-0001", EMPLOYER.signer.serial + 1), signed[1][1])),
        Refusal.BAD_SIGNATURE: _record(VALUE + b"!", headers=signed),
    }
    for refusal, record in cases.items():
        assert authenticate(PKI.signers, record, NAMESPACE) == Refused(refusal), refusal
    # another participant's signature under this one's name
    borrowed = [signed[0], _headers(OTHER)[1]]
    assert authenticate(PKI.signers, _record(VALUE, headers=borrowed), NAMESPACE) \
        == Refused(Refusal.BAD_SIGNATURE)
    # signed for another topic, sent on this one
    elsewhere = _headers(topic="filing.municipality.v1")
    assert authenticate(PKI.signers, _record(VALUE, headers=elsewhere), NAMESPACE) \
        == Refused(Refusal.BAD_SIGNATURE)


def test_a_key_of_the_right_curve_the_root_never_certified_is_unknown() -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    claimed = SignerId("employer", "EMP-0001", 12345)
    headers = signature_headers(claimed, sign(stranger, TOPIC, KEY, VALUE))
    assert authenticate(PKI.signers, _record(VALUE, headers=headers), NAMESPACE) \
        == Refused(Refusal.UNKNOWN_SIGNER)
