"""Outcomes sealed to their filer: only the addressee's key opens one, and only where it was
published (topic, record key, id, addressee, key id); wrong keys, moved or tampered seals and
arbitrary bytes are refused as NotOpened or MessageRejected, never anything else."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundfloor.config import StackConfig
from producers.outcomes import Mailbox
from relay_linker.domain import effects as fx
from relay_linker.domain.commands import Source
from relay_linker.messages import dead_letter_rows, output_rows
from schemas import (
    FilingOutcome,
    FilingRejected,
    MessageRejected,
    Reason,
    decode_filing,
    decode_relay,
    encode,
    event_id_for,
)
from schemas.relay import OutcomeAddressee, OutcomeStatus, SealedOutcome
from schemas.topics import OUTCOME_EMPLOYER, OUTCOME_INSURER, Namespace
from trust.encryption_keys import (
    EncryptionKey,
    NoEncryptionKey,
    PublicKeyDirectory,
    PublicKeys,
    ensure_encryption_keys,
    load_private_key,
    load_public_key,
    private_path,
    public_path,
)
from trust.pki import Participant
from trust.sealing import NotOpened, decode_sealed, key_id, open_outcome, seal_outcome

TOPIC = OUTCOME_EMPLOYER.name
EMPLOYER = OutcomeAddressee.EMPLOYER
X_KEY = ec.generate_private_key(ec.SECP256R1())
Y_KEY = ec.generate_private_key(ec.SECP256R1())


def _outcome(code: str = "E-X", reference: str = "ACQ-1",
             status: OutcomeStatus = OutcomeStatus.REFUSED) -> FilingOutcome:
    return FilingOutcome(
        event_id=event_id_for(code, reference), filer_code=code, filing_reference=reference,
        receipt_id=f"RCPT-{reference}", status=status, outbox_id=uuid4(),
        reasons=() if status is OutcomeStatus.ACCEPTED else (
            Reason(code="identity_mismatch", field="payload.identity.kana_name",
                   message="differs"),))


def load_key(private: ec.EllipticCurvePrivateKey) -> EncryptionKey:
    return EncryptionKey(key_id(private.public_key()), private.public_key())


def _sealed(outcome: FilingOutcome | None = None,
            key: ec.EllipticCurvePrivateKey = X_KEY) -> SealedOutcome:
    return seal_outcome(outcome or _outcome(), EMPLOYER, TOPIC, key.public_key())


def test_the_addressee_opens_its_outcome_as_it_was_decided():
    outcome = _outcome()
    sealed = decode_sealed(encode(_sealed(outcome)))
    assert open_outcome(sealed, TOPIC, b"E-X", X_KEY) == outcome
    assert sealed.kafka_key() == b"E-X"
    assert sealed.key_id == key_id(X_KEY.public_key())
    assert sealed.addressee_role is EMPLOYER and sealed.addressee_code == "E-X"


def test_the_wire_form_carries_no_reference_or_reason_in_clear():
    raw = encode(_sealed())
    for clear in (b"ACQ-1", b"RCPT-", b"identity_mismatch", b"refused"):
        assert clear not in raw


def test_another_key_does_not_open_it():
    with pytest.raises(NotOpened):
        open_outcome(_sealed(), TOPIC, b"E-X", Y_KEY)


def test_each_seal_is_fresh_but_opens_to_the_same_outcome():
    outcome = _outcome()
    first, second = _sealed(outcome), _sealed(outcome)
    assert first.sealed != second.sealed
    assert first.outbox_id == second.outbox_id
    assert open_outcome(first, TOPIC, b"E-X", X_KEY) == open_outcome(second, TOPIC, b"E-X",
                                                                    X_KEY)


@pytest.mark.parametrize("moved", [
    {"topic": OUTCOME_INSURER.name},
    {"record_key": b"E-Y"},
    {"outbox_id": uuid4()},
    {"addressee_code": "E-Y"},
    {"addressee_role": OutcomeAddressee.INSURER},
    {"key_id": "0" * 64},
])
def test_a_seal_moved_to_another_place_does_not_open(moved: dict):
    sealed = _sealed()
    topic, record_key = moved.pop("topic", TOPIC), moved.pop("record_key", b"E-X")
    elsewhere = sealed.model_copy(update=moved)
    with pytest.raises(NotOpened):
        open_outcome(elsewhere, topic, record_key, X_KEY)


def test_a_tampered_seal_does_not_open():
    sealed = _sealed()
    for at in (0, 64, 65, len(sealed.sealed) // 2, len(sealed.sealed) - 1):
        flipped = bytearray(sealed.sealed)
        flipped[at] ^= 0x01
        with pytest.raises(NotOpened):
            open_outcome(sealed.model_copy(update={"sealed": bytes(flipped)}), TOPIC, b"E-X",
                         X_KEY)


def test_an_outcome_sealed_for_its_addressee_but_naming_another_filer_does_not_open():
    """A seal to X's key whose plaintext answers Y: X never takes Y's outcome as its own."""
    forged = seal_outcome(_outcome("E-Y"), EMPLOYER, TOPIC, X_KEY.public_key())
    relabelled = forged.model_copy(update={"addressee_code": "E-X"})
    with pytest.raises(NotOpened):
        open_outcome(relabelled, TOPIC, b"E-X", X_KEY)


def test_too_short_or_too_long_seals_are_no_sealed_outcome():
    raw = encode(_sealed()).replace(b'"sealed":"', b'"sealed":"AAAA', 1)
    assert decode_sealed(raw)  # still base64 of a plausible size
    short = encode(_sealed().model_copy(update={"sealed": b"\x00" * 10}))
    with pytest.raises(MessageRejected):
        decode_sealed(short)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_as_no_sealed_outcome(raw: bytes):
    with pytest.raises(MessageRejected):
        decode_sealed(raw)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(min_size=81, max_size=600), st.sampled_from(["E-X", "E-Y", "x"]))
def test_arbitrary_sealed_bytes_never_open_and_never_raise_anything_else(body: bytes,
                                                                        code: str):
    sealed = _sealed().model_copy(update={"sealed": body, "addressee_code": code})
    with pytest.raises(NotOpened):
        open_outcome(sealed, TOPIC, code.encode(), X_KEY)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.binary(max_size=300), st.none()), st.one_of(st.binary(max_size=70),
                                                                   st.none()))
def test_the_mailbox_reads_any_record_without_raising(raw: bytes | None, key: bytes | None):
    mailbox = Mailbox({Participant("employer", "E-X"): X_KEY})
    assert mailbox.open("employer", key, raw) is None
    assert mailbox.unopened <= 1
    if key != b"E-X":
        assert mailbox.unopened == 0, "another filer's record is skipped, not counted"


def test_the_mailbox_opens_its_own_skips_others_and_counts_what_does_not_open():
    x = Mailbox({Participant("employer", "E-X"): X_KEY})
    mine, theirs = _outcome("E-X"), _outcome("E-Y")
    sealed_y = seal_outcome(theirs, EMPLOYER, TOPIC, Y_KEY.public_key())
    assert x.open("employer", b"E-X", encode(_sealed(mine))) == mine
    assert x.open("employer", b"E-Y", encode(sealed_y)) is None
    assert x.unopened == 0
    moved = sealed_y.model_copy(update={"addressee_code": "E-X"})
    assert x.open("employer", b"E-X", encode(moved)) is None
    assert x.open("employer", b"E-X", b"not json") is None
    assert x.unopened == 2


def _cfg(tmp_path: Path) -> StackConfig:
    return StackConfig(root=tmp_path, state_dir=tmp_path / "state", kafka_port=1,
                       controller_port=2, pg_port=3, pg_data=tmp_path / "pg")


def test_keys_are_made_once_private_0600_and_named_by_their_public_key(tmp_path: Path):
    cfg = _cfg(tmp_path)
    x, y = Participant("employer", "E-X"), Participant("insurer", "06130012")
    assert ensure_encryption_keys(cfg, [x, y, x]) == [x, y]
    before = private_path(cfg, x).read_bytes()
    assert ensure_encryption_keys(cfg, [x, y]) == []
    assert private_path(cfg, x).read_bytes() == before
    assert stat.S_IMODE(os.stat(private_path(cfg, x)).st_mode) == 0o600
    public = load_public_key(cfg, x)
    assert public.key_id == key_id(load_private_key(cfg, x).public_key())
    assert load_public_key(cfg, y).key_id != public.key_id
    public_path(cfg, x).unlink()
    assert ensure_encryption_keys(cfg, [x]) == []
    assert load_public_key(cfg, x).key_id == public.key_id, "written again from the private"


def test_the_relay_directory_finds_a_key_made_after_it_started(tmp_path: Path):
    cfg = _cfg(tmp_path)
    directory = PublicKeyDirectory(cfg)
    late = Participant("employer", "E-LATE")
    with pytest.raises(NoEncryptionKey):
        directory.lookup(late)
    ensure_encryption_keys(cfg, [late])
    assert directory.lookup(late).key_id == load_public_key(cfg, late).key_id
    with pytest.raises(NoEncryptionKey):
        PublicKeys().lookup(late)
    with pytest.raises(NoEncryptionKey):
        load_private_key(cfg, Participant("employer", "E-NONE"))


def _issued(filed_on: str) -> fx.OutcomeIssued:
    return fx.OutcomeIssued(event_id_for("E-X", "ACQ-1"), "E-X", "ACQ-1", uuid4(), "accepted",
                            (), index=0, outbox_id=uuid4(), filed_on=filed_on)


def test_the_linker_seals_each_outcome_to_the_filer_of_the_topic_it_filed_on():
    keys = PublicKeys({Participant("employer", "E-X"): load_key(X_KEY)})
    source = Source("filing.employer.v1", 0, 7)
    clear, sealed = output_rows([_issued("filing.employer.v1")], source, Namespace("t."),
                                addressees=keys)
    assert (clear.topic, sealed.topic) == ("t.relay.filing-outcome.v1", "t.outcome.employer.v1")
    assert sealed.key == b"E-X" and sealed.id != clear.id
    opened = open_outcome(decode_sealed(sealed.value), TOPIC, sealed.key, X_KEY)
    assert opened == decode_relay(clear.value, FilingOutcome)
    with pytest.raises(NotOpened):
        open_outcome(decode_sealed(sealed.value), TOPIC, sealed.key, Y_KEY)


def test_an_outcome_is_not_sealed_without_the_filers_key():
    source = Source("filing.employer.v1", 0, 7)
    rows = output_rows([_issued("filing.employer.v1")], source, Namespace(),
                       addressees=PublicKeys())
    assert [r.topic for r in rows] == ["relay.filing-outcome.v1"]


def test_a_dead_letters_refusal_is_sealed_to_the_signer():
    keys = PublicKeys({Participant("employer", "E-X"): load_key(X_KEY)})
    broken = b'{"filer_code": "E-X", "filing_reference": "ACQ-1", "event_type": "Garbage"}'
    try:
        decode_filing(broken, "filing.employer.v1")
    except FilingRejected as rejected:
        rows = dead_letter_rows(("filing.employer.v1.dlq", b"k", b"v"), rejected,
                                Source("filing.employer.v1", 3, 42), Namespace(), raw=broken,
                                signer_role="employer", addressees=keys)
    letter, clear, sealed = rows
    assert letter.topic == "filing.employer.v1.dlq"
    assert sealed.topic == TOPIC and sealed.key == b"E-X"
    assert open_outcome(decode_sealed(sealed.value), TOPIC, b"E-X", X_KEY) == decode_relay(
        clear.value, FilingOutcome)


SEALED_X = _sealed(_outcome())
WIRE_X = encode(SEALED_X)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(WIRE_X) - 1), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_a_mutated_sealed_outcome_opens_to_the_same_outcome_or_not_at_all(
        changes: list[tuple[int, int]]):
    wire = bytearray(WIRE_X)
    for at, byte in changes:
        wire[at] = byte
    reference = open_outcome(SEALED_X, TOPIC, b"E-X", X_KEY)
    try:
        opened = open_outcome(decode_sealed(bytes(wire)), TOPIC, b"E-X", X_KEY)
    except (MessageRejected, NotOpened):
        return
    assert opened == reference, "a change that still opens changed nothing that counts"
