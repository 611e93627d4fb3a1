"""Card issuance and revocation payloads: the public key must be a usable card key.

Errors never echo the key, and neither key nor fingerprint reaches the Kafka key."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from schemas.codec import FilingRejected, decode_filing, encode
from schemas.envelope import PAYLOADS, topic_for
from schemas.topics import FILING_MUNICIPALITY
from tests.fixtures.examples import (
    card_fingerprint,
    card_public_key,
    example_filing,
    example_payload,
)


def _der(key: Any) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _issued(**changes: Any) -> dict[str, Any]:
    data = example_payload("CardIssued").model_dump(mode="json")
    return {**data, **changes}


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, str]]:
    return [(e["loc"], e["type"]) for e in exc.value.errors()]


def test_cards_are_municipality_filings() -> None:
    assert topic_for("CardIssued") is FILING_MUNICIPALITY
    assert topic_for("CardRevoked") is FILING_MUNICIPALITY


def test_the_example_key_is_deterministic_and_fingerprinted() -> None:
    assert card_public_key() == card_public_key()
    fingerprint = example_payload("CardRevoked").fingerprint
    assert fingerprint == card_fingerprint(card_public_key())
    assert len(fingerprint) == 64


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
    ],
    ids=["ec-p256", "rsa-2048"],
)
def test_acceptable_keys(key: Any) -> None:
    text = base64.b64encode(_der(key)).decode()
    assert PAYLOADS[("CardIssued", 1)].model_validate(_issued(public_key=text)).public_key == text


def _refused_keys() -> dict[str, str]:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    good = _der(ec.generate_private_key(ec.SECP256R1()).public_key())
    return {
        "p384": base64.b64encode(_der(p384)).decode(),
        "rsa1024": base64.b64encode(_der(small)).decode(),
        "not-base64": "not base64 at all!",
        "not-der": base64.b64encode(b"garbage-bytes-of-a-key").decode(),
        "trailing": base64.b64encode(good + b"\x00").decode(),
        # an EC key on a curve no library knows (the P-256 OID with its last arc changed):
        # the key loader raises UnsupportedAlgorithm, which must be a refusal too
        "unknown-curve": base64.b64encode(good.replace(
            bytes.fromhex("06082a8648ce3d030107"), bytes.fromhex("06082a8648ce3d030109"))
        ).decode(),
    }


@pytest.mark.parametrize("name", sorted(_refused_keys()))
def test_unacceptable_keys_are_refused_without_echo(name: str) -> None:
    text = _refused_keys()[name]
    with pytest.raises(ValidationError) as caught:
        PAYLOADS[("CardIssued", 1)].model_validate(_issued(public_key=text))
    assert _errors(caught) == [(("public_key",), "public_key")]
    assert text not in str(caught.value)


def test_issued_on_is_not_after_the_filing() -> None:
    filing = example_filing("CardIssued").model_dump(mode="json")
    filing["payload"]["issued_on"] = filing["effective_date"] = "2025-04-11"
    with pytest.raises(FilingRejected) as caught:
        decode_filing(json.dumps(filing, ensure_ascii=False).encode())
    assert [r.field for r in caught.value.reasons] == ["payload.issued_on"]


def test_fingerprint_is_lowercase_hex_sha256() -> None:
    data = example_payload("CardRevoked").model_dump(mode="json")
    model = PAYLOADS[("CardRevoked", 1)]
    for bad in (data["fingerprint"].upper(), data["fingerprint"][:-1], "z" * 64):
        with pytest.raises(ValidationError):
            model.model_validate({**data, "fingerprint": bad})


def test_cards_refer_to_the_person_by_resident_code() -> None:
    data = _issued(person={"basic_pension_number": "1234-567890"})
    with pytest.raises(ValidationError) as caught:
        PAYLOADS[("CardIssued", 1)].model_validate(data)
    assert _errors(caught) == [(("person",), "person_key")]


def test_key_and_fingerprint_stay_out_of_the_kafka_key() -> None:
    issued, revoked = example_filing("CardIssued"), example_filing("CardRevoked")
    assert issued.payload.public_key not in issued.kafka_key().decode()
    assert revoked.payload.fingerprint not in revoked.kafka_key().decode()
    assert decode_filing(encode(issued)) == issued
    assert revoked.effective_date == date(2025, 4, 9)
