"""The rules of trust: which role files which event type where, a certificate's standing at a
relay time (validity, revocation before or after), the path validation of participant
certificates, and the PKI on disk (0600 keys, rotation, `shaho participants` printing no key)."""

from __future__ import annotations

import argparse
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from groundfloor.config import StackConfig
from schemas.filings import EVENT_TYPES, FILER_TOPICS, filer_of
from schemas.payload import FilerKind
from shaho.trust_commands import _participants
from tests.fixtures.signing import MemoryPki
from trust.directory import Directory, certify, chain_ok, revocations
from trust.pki import (
    Participant,
    PkiError,
    add_participant,
    certificates,
    crl_path,
    ensure_participants,
    ensure_root,
    issue,
    new_root,
    participant_dir,
    revoke,
    rotate,
)
from trust.rules import (
    ROLE_TOPICS,
    ROLES,
    Refusal,
    Role,
    Validity,
    may_file,
    role_of_topic,
    standing,
)
from trust.signing import SignerId

T0 = datetime(2026, 4, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TOPICS = sorted({t.name for t in FILER_TOPICS.values()} | {"relay.clock.v1", "nowhere"})

instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC))


# -- who files what ------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_role_by_event_type_by_topic(role: str) -> None:
    for event_type in EVENT_TYPES:
        kind = filer_of(event_type)
        for topic in TOPICS:
            expected = (ROLE_TOPICS.get(role) == topic
                        and (kind is FilerKind.ANY or kind.value == role))
            assert may_file(role, event_type, topic) is expected, (role, event_type, topic)


def test_the_table_in_words() -> None:
    assert may_file("employer", "EmployeeAcquisition", "filing.employer.v1")
    assert not may_file("employer", "EmployeeAcquisition", "filing.municipality.v1")
    assert not may_file("municipality", "EmployeeAcquisition", "filing.employer.v1")
    assert may_file("municipality", "FilingRetraction", "filing.municipality.v1")
    assert not may_file("employer", "FilingRetraction", "filing.municipality.v1")
    for role in (Role.MEDICAL, Role.RELAY):  # no filing topic of their own
        assert role_of_topic(ROLE_TOPICS.get(role, "")) is None
        assert not any(may_file(role, e, t) for e in EVENT_TYPES for t in TOPICS)
    for role, topic in ROLE_TOPICS.items():
        assert role_of_topic(topic) == role


# -- standing at a relay time --------------------------------------------------------------

def test_validity_bounds_are_inclusive() -> None:
    valid = Validity(T0, T0 + DAY)
    assert standing(valid, T0 - timedelta(microseconds=1)) is Refusal.NOT_YET_VALID
    assert standing(valid, T0) is None
    assert standing(valid, T0 + DAY) is None
    assert standing(valid, T0 + DAY + timedelta(seconds=1)) is Refusal.EXPIRED


def test_revoked_before_or_after_the_records_relay_time() -> None:
    revoked = Validity(T0, T0 + 10 * DAY, revoked_at=T0 + 5 * DAY)
    assert standing(revoked, T0 + 5 * DAY - timedelta(seconds=1)) is None  # before: accepted
    assert standing(revoked, T0 + 5 * DAY) is Refusal.REVOKED
    assert standing(revoked, T0 + 20 * DAY) is Refusal.REVOKED  # revocation is judged first


@given(instants, instants, instants, st.none() | instants)
def test_standing_is_exactly_the_window_minus_revocation(start: datetime, end: datetime,
                                                         at: datetime,
                                                         revoked: datetime | None) -> None:
    found = standing(Validity(start, end, revoked), at)
    if revoked is not None and at >= revoked:
        assert found is Refusal.REVOKED
    elif at < start:
        assert found is Refusal.NOT_YET_VALID
    elif at > end:
        assert found is Refusal.EXPIRED
    else:
        assert found is None


def test_a_certificate_outside_its_validity_is_refused_at_that_relay_time() -> None:
    pki = MemoryPki()
    signer = pki.add("employer", "EMP-0001", T0, T0 + 30 * DAY).signer
    assert pki.signers.standing(signer, T0 - DAY) is Refusal.NOT_YET_VALID
    assert pki.signers.standing(signer, T0 + DAY) is None
    assert pki.signers.standing(signer, T0 + 31 * DAY) is Refusal.EXPIRED
    pki.revoke(pki.keys[Participant("employer", "EMP-0001")], T0 + 10 * DAY)
    assert pki.signers.standing(signer, T0 + 9 * DAY) is None
    assert pki.signers.standing(signer, T0 + 10 * DAY) is Refusal.REVOKED


# -- path validation -----------------------------------------------------------------------

def _leaf(root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate,
          public_key: object) -> x509.Certificate:
    return issue(root_key, root, Participant("employer", "EMP-0009"), public_key,  # type: ignore[arg-type]
                 T0, T0 + DAY)


def test_path_validation_accepts_the_roots_p256_leaves_only() -> None:
    root_key, root = new_root()
    good = _leaf(root_key, root, ec.generate_private_key(ec.SECP256R1()).public_key())
    assert chain_ok(root, good)
    ed_leaf = _leaf(root_key, root, ed25519.Ed25519PrivateKey.generate().public_key())
    assert not chain_ok(root, ed_leaf)
    p384_leaf = _leaf(root_key, root, ec.generate_private_key(ec.SECP384R1()).public_key())
    assert not chain_ok(root, p384_leaf)
    other_key, other_root = new_root()
    stranger = _leaf(other_key, other_root, ec.generate_private_key(ec.SECP256R1()).public_key())
    assert not chain_ok(root, stranger)
    certified = certify(root, [good, ed_leaf, p384_leaf, stranger], {})
    assert [c.signer.serial for c in certified.values()] == [good.serial_number]


def test_a_self_signed_leaf_naming_a_participant_is_refused() -> None:
    _, root = new_root()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "employer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "EMP-0001")])
    forged = (x509.CertificateBuilder().subject_name(name).issuer_name(root.subject)
              .public_key(key.public_key()).serial_number(7)
              .not_valid_before(T0).not_valid_after(T0 + DAY).sign(key, hashes.SHA256()))
    assert not chain_ok(root, forged)


# -- the PKI on disk and `shaho participants` ----------------------------------------------

def _cfg(tmp_path: Path) -> StackConfig:
    """A state folder of its own and no broker: its principals are not provisioned here."""
    return StackConfig(root=tmp_path, state_dir=tmp_path / "state", kafka_port=1,
                       controller_port=2, pg_port=3, pg_data=tmp_path / "pg", kafka_auth=False)


def test_provisioning_is_idempotent_and_keys_are_their_owners_only(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    wanted = [Participant("employer", "EMP-0001"), Participant("relay", "relay-clock")]
    assert ensure_participants(cfg, wanted) == sorted(wanted)
    before = (participant_dir(cfg, wanted[0]) / "signing.pem").read_bytes()
    assert ensure_participants(cfg, wanted) == []
    assert (participant_dir(cfg, wanted[0]) / "signing.pem").read_bytes() == before
    keys = [*tmp_path.rglob("*.key")]
    assert len(keys) == 5  # the root's, and each participant's signing and encryption keys
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_rotation_keeps_the_old_key_until_its_expiry_and_revocation_is_dated(
        tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    employer = Participant("employer", "EMP-0001")
    add_participant(cfg, employer, T0, T0 + 30 * DAY)
    with pytest.raises(PkiError):
        add_participant(cfg, employer, T0, T0 + 30 * DAY)
    with pytest.raises(PkiError):  # a new key must overlap the old one
        rotate(cfg, employer, T0 + 31 * DAY, T0 + 90 * DAY)
    old = certificates(cfg, employer)[0]
    new = rotate(cfg, employer, T0 + 20 * DAY, T0 + 90 * DAY)
    directory = Directory(cfg)
    old_id = next(s for s in _ids(directory) if s.serial == old.serial_number)
    new_id = next(s for s in _ids(directory) if s.serial == new.serial_number)
    assert directory.standing(old_id, T0 + 25 * DAY) is None  # the overlap
    assert directory.standing(new_id, T0 + 25 * DAY) is None
    assert directory.standing(old_id, T0 + 31 * DAY) is Refusal.EXPIRED
    assert directory.standing(new_id, T0 + 31 * DAY) is None
    revoke(cfg, employer, T0 + 40 * DAY, new.serial_number)
    assert revocations(ensure_root(cfg)[1], crl_path(cfg)) == {new.serial_number: T0 + 40 * DAY}
    assert directory.standing(new_id, T0 + 39 * DAY) is None
    assert directory.standing(new_id, T0 + 40 * DAY) is Refusal.REVOKED


def _ids(directory: Directory) -> list:
    directory.refresh(force=True)
    return list(directory._signers)


def test_a_revocation_list_not_signed_by_the_root_is_refused(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    employer = Participant("employer", "EMP-0001")
    ensure_participants(cfg, [employer])
    revoke(cfg, employer, T0)
    other_key, _ = new_root()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ensure_root(cfg)[1].subject)
           .last_update(T0).next_update(T0 + DAY).sign(other_key, hashes.SHA256()))
    crl_path(cfg).write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError):
        revocations(ensure_root(cfg)[1], crl_path(cfg))


def test_shaho_participants_lists_codes_and_roles_never_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _cfg(tmp_path)
    ensure_participants(cfg, [Participant("employer", "EMP-0001"),
                              Participant("municipality", "131016")])

    printed: list[str] = []

    def run(**given: object) -> str:
        args = argparse.Namespace(**{"action": None, **given})
        assert _participants(args, cfg) == 0
        printed.append(capsys.readouterr().out)
        return printed[-1]

    run(action="add", role="insurer", code="06130011", valid_from=None,
        valid_until=T0 + 365 * DAY)
    run(action="rotate", role="employer", code="EMP-0001", valid_from=T0,
        valid_until=T0 + 365 * DAY)
    run(action="revoke", role="municipality", code="131016", at=T0, serial=None)
    listed = run()
    assert listed.split() == ["employer", "EMP-0001", "insurer", "06130011",
                              "municipality", "131016"]
    secrets = [line for key in tmp_path.rglob("*.key")
               for line in key.read_text().splitlines() if "-----" not in line]
    assert secrets
    everything = "".join(printed)
    assert "PRIVATE" not in everything and "BEGIN" not in everything
    assert not any(line in everything for line in secrets)


def test_the_directory_sees_each_change_at_once_and_reloads_for_nothing_else(
        tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    employer = Participant("employer", "EMP-0001")
    ensure_participants(cfg, [employer])
    directory = Directory(cfg)
    first = _ids(directory)
    assert len(first) == 1
    loads = []
    original = directory.__class__.refresh

    def counting(self: Directory, force: bool = False) -> None:
        before = self._seen
        original(self, force)
        if self._seen != before:
            loads.append(self._seen)

    directory.refresh = counting.__get__(directory)  # type: ignore[method-assign]
    stranger = SignerId("employer", "EMP-0001", first[0].serial + 1)
    for _ in range(50):
        assert directory.lookup(stranger) is None
    assert loads == [], "an unknown signer reloads nothing"
    new = rotate(cfg, employer, T0, T0 + DAY)  # at once: no wait for a coarse mtime
    found = directory.lookup(SignerId("employer", "EMP-0001", new.serial_number))
    assert found is not None and len(loads) == 1
    revoke(cfg, employer, T0)
    assert directory.standing(found.signer, T0) is Refusal.REVOKED
    assert len(loads) == 2


def test_held_signers_stay_as_they_were_and_the_next_hold_sees_a_revocation(
        tmp_path: Path) -> None:
    """A batch of records is checked against the signers held for it (one look at the files);
    a revocation reaches the next batch's hold."""
    cfg = _cfg(tmp_path)
    employer = Participant("employer", "EMP-0001")
    ensure_participants(cfg, [employer])
    directory = Directory(cfg)
    signer = _ids(directory)[0]
    held = directory.held()
    revoke(cfg, employer, T0, signer.serial)
    assert held.standing(signer, T0) is None
    assert directory.held().standing(signer, T0) is Refusal.REVOKED
