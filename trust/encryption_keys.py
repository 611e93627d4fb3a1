"""Each participant's encryption key pair, apart from its signing key: made once per
participant, the private key kept by the participant, the public key read by the relay to seal
the participant's outcomes (`PublicKeys`), never a private key.

Files, in the participant's folder `<state_dir>/pki/participants/<role>/<code>/`:
`encryption.key` (PKCS#8 PEM, 0600) and `encryption.pub.pem` (SubjectPublicKeyInfo PEM). The
key id is `trust.sealing.key_id` of the public key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from groundfloor.config import StackConfig
from trust.pki import Participant, participant_dir, registry_path
from trust.sealing import key_id

PRIVATE_FILE = "encryption.key"
PUBLIC_FILE = "encryption.pub.pem"


class NoEncryptionKey(LookupError):
    """A participant holds no encryption key here (it was never provisioned)."""


@dataclass(frozen=True)
class EncryptionKey:
    """A participant's public encryption key and its id."""

    key_id: str
    public_key: ec.EllipticCurvePublicKey


def private_path(cfg: StackConfig, participant: Participant) -> Path:
    return participant_dir(cfg, participant) / PRIVATE_FILE


def public_path(cfg: StackConfig, participant: Participant) -> Path:
    return participant_dir(cfg, participant) / PUBLIC_FILE


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically, with `mode` from the start (a private key is never readable by
    others, not even for a moment)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _public_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def ensure_encryption_keys(cfg: StackConfig,
                           participants: Iterable[Participant]) -> list[Participant]:
    """Give each participant an encryption key pair unless it has one (a present key is left
    as it is; a lost public file is written again from the private key). Returns the
    participants given a new key. Cheap enough for millions: one P-256 key and two small
    files each."""
    created = []
    made: set[Path] = set()
    for participant in sorted(set(participants)):
        folder = participant_dir(cfg, participant)
        private, public = folder / PRIVATE_FILE, folder / PUBLIC_FILE
        if private.exists():
            if not public.exists():
                _write(public, _public_pem(load_private_key(cfg, participant).public_key()),
                       0o644)
            continue
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        key = ec.generate_private_key(ec.SECP256R1())
        _write(private, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), 0o600)
        _write(public, _public_pem(key.public_key()), 0o644)
        created.append(participant)
    return created


def load_private_key(cfg: StackConfig, participant: Participant) -> ec.EllipticCurvePrivateKey:
    """The participant's private encryption key (what the participant opens its outcomes
    with); NoEncryptionKey when it has none here."""
    try:
        key = serialization.load_pem_private_key(private_path(cfg, participant).read_bytes(),
                                                 password=None)
    except FileNotFoundError:
        raise NoEncryptionKey(f"{participant.role} {participant.code} holds no encryption "
                              "key here") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise NoEncryptionKey(f"{participant.role} {participant.code}'s encryption key is "
                              "not a P-256 key")
    return key


def load_public_key(cfg: StackConfig, participant: Participant) -> EncryptionKey:
    """The participant's public encryption key and its id; NoEncryptionKey when it has none."""
    try:
        key = serialization.load_pem_public_key(public_path(cfg, participant).read_bytes())
    except FileNotFoundError:
        raise NoEncryptionKey(f"{participant.role} {participant.code} has no encryption "
                              "key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve,
                                                                          ec.SECP256R1):
        raise NoEncryptionKey(f"{participant.role} {participant.code}'s encryption key is "
                              "not a P-256 key")
    return EncryptionKey(key_id(key), key)


@dataclass
class PublicKeys:
    """The addressees' public encryption keys, held in memory (what unit tests use)."""

    keys: dict[Participant, EncryptionKey] = field(default_factory=dict)

    def lookup(self, participant: Participant) -> EncryptionKey:
        """The participant's key; NoEncryptionKey when it has none."""
        found = self.keys.get(participant)
        if found is None:
            raise NoEncryptionKey(f"{participant.role} {participant.code} has no encryption "
                                  "key")
        return found


class PublicKeyDirectory(PublicKeys):
    """The relay's view of the participants' public encryption keys, read from their folders
    when first needed and read again when the registry changes (a participant added on a
    running relay is found by its first outcome). Never reads a private key."""

    def __init__(self, cfg: StackConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self._seen: int | None = None

    def _stamp(self) -> int:
        try:
            return registry_path(self.cfg).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def lookup(self, participant: Participant) -> EncryptionKey:
        stamp = self._stamp()
        if stamp != self._seen:
            self.keys.clear()
            self._seen = stamp
        found = self.keys.get(participant)
        if found is None:
            found = self.keys[participant] = load_public_key(self.cfg, participant)
        return found
