"""Signing as a participant: a filer's (or the relay clock's) key held on this machine,
giving the `shaho-signer`/`shaho-signature` headers of each record it sends."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from groundfloor.config import StackConfig
from trust.pki import (
    RELAY_ACCESS_LOG,
    RELAY_CLOCK,
    RELAY_EXCHANGE,
    Participant,
    PkiError,
    certificates,
    ensure_participants,
    signing_key,
)
from trust.rules import role_of_topic
from trust.signing import SignerId, sign, signature_headers


@dataclass(frozen=True)
class RecordSigner:
    """One participant's key: signs records over the catalogue topic name, key and value."""

    signer: SignerId
    key: ec.EllipticCurvePrivateKey

    def headers(self, topic: str, key: bytes | None,
                value: bytes | None) -> list[tuple[str, bytes]]:
        return signature_headers(self.signer, sign(self.key, topic, key, value))


def participant_signer(cfg: StackConfig, participant: Participant,
                       serial: int | None = None) -> RecordSigner:
    """The participant's current key (or a retired one by serial)."""
    try:
        return RecordSigner(*signing_key(cfg, participant, serial))
    except FileNotFoundError as missing:
        raise PkiError(f"{participant.role} {participant.code} holds no signing key here; "
                       "onboard it with `shaho participants add`") from missing


def clock_signer(cfg: StackConfig) -> RecordSigner:
    """The relay clock's key, provisioned with the stack."""
    participant = Participant(*RELAY_CLOCK)
    ensure_participants(cfg, [participant])
    return participant_signer(cfg, participant)


def exchange_signer(cfg: StackConfig) -> RecordSigner:
    """The exchange router's key, provisioned on first use."""
    participant = Participant(*RELAY_EXCHANGE)
    ensure_participants(cfg, [participant])
    return participant_signer(cfg, participant)


def access_log_signer(cfg: StackConfig) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The name and key the relay signs the access logs' tree heads with, provisioned on first
    use."""
    participant = Participant(*RELAY_ACCESS_LOG)
    ensure_participants(cfg, [participant])
    return participant.code, participant_signer(cfg, participant).key


def access_log_record_signer(cfg: StackConfig) -> RecordSigner:
    """The relay's access-log key as a record signer: the heads it sends witnesses are signed
    with it, by whichever processor appends to the log."""
    participant = Participant(*RELAY_ACCESS_LOG)
    ensure_participants(cfg, [participant])
    return participant_signer(cfg, participant)


def access_log_keys(cfg: StackConfig) -> tuple[str, list[ec.EllipticCurvePublicKey]] | None:
    """The name heads are signed under and every key the relay's access log was given, the
    current one first and the retired ones after (old heads stay checkable after a rotation);
    None before the relay has signed any head here."""
    found = certificates(cfg, Participant(*RELAY_ACCESS_LOG))
    return None if not found else (RELAY_ACCESS_LOG[1], [c.public_key() for c in found])


def access_log_key(cfg: StackConfig) -> tuple[str, ec.EllipticCurvePublicKey] | None:
    """The name and public key a head's relay signature is checked with; None before the
    relay has signed any head here."""
    found = access_log_keys(cfg)
    return None if found is None else (found[0], found[1][0])


@dataclass
class FilerKeys:
    """The keys of the filers that send from this machine, found by topic (which names the
    role) and filer code. With `provision`, a filer without a key is provisioned first: the
    synthetic population, the demo and the tests, never a real filer's batch upload."""

    cfg: StackConfig
    provision: bool = False
    _signers: dict[Participant, RecordSigner] = field(default_factory=dict)

    def signer_for(self, topic: str, filer_code: str) -> RecordSigner:
        role = role_of_topic(topic)
        if role is None:
            raise PkiError(f"{topic} is no filers' topic")
        participant = Participant(role, filer_code)
        found = self._signers.get(participant)
        if found is None:
            if self.provision:
                ensure_participants(self.cfg, [participant])
            found = self._signers[participant] = participant_signer(self.cfg, participant)
        return found

    def headers(self, topic: str, key: bytes | None, value: bytes | None,
                filer_code: str) -> list[tuple[str, bytes]]:
        """The signature headers of a record `filer_code` sends on catalogue topic `topic`."""
        return self.signer_for(topic, filer_code).headers(topic, key, value)
