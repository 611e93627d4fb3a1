"""Keys and keyed primitives: AES-GCM sealing, blind indexes, identity hashes, relay ids.

The keyring file is the only I/O; DLQ payloads are sealed with the active encryption key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
RELAY_ID_CHARS = 20
SEPARATOR = b"\x1f"
FILE_MODE = 0o600
SINGLE_KEYS: tuple[str, ...] = ("number_index_key", "identity_key", "candidate_key")
FILE_FIELDS = frozenset({"active_encryption_key_id", "encryption_keys", *SINGLE_KEYS})


class KeyringError(ValueError):
    """The keyring file is malformed; the message never carries key material."""


class UnsealError(ValueError):
    """A sealed value cannot be opened: unknown key id, tampered data or wrong context."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise KeyringError("value is not base64") from None


def _key(text: str) -> bytes:
    raw = _unb64(text)
    if len(raw) != KEY_BYTES:
        raise KeyringError("key is not 32 bytes")
    return raw


def _hmac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, SEPARATOR.join(parts), hashlib.sha256).digest()


def _field(value: str, name: str) -> bytes:
    """A hashed field that must not contain the separator (the last field may)."""
    raw = value.encode("utf-8")
    if SEPARATOR in raw:
        raise ValueError(f"{name} must not contain 0x1f")
    return raw


def _new_key_id() -> str:
    return "k" + secrets.token_hex(4)


@dataclass(frozen=True)
class Keyring:
    """Named 32-byte keys: encryption keys by id (one active) and three HMAC keys."""

    active_key_id: str
    encryption_keys: Mapping[str, bytes] = field(repr=False)
    number_index_key: bytes = field(repr=False)
    identity_key: bytes = field(repr=False)
    candidate_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encryption_keys", MappingProxyType(dict(self.encryption_keys)))
        if self.active_key_id not in self.encryption_keys:
            raise KeyringError("active encryption key id is not in the keyring")
        keys = [*self.encryption_keys.values(), *(getattr(self, n) for n in SINGLE_KEYS)]
        if any(len(key) != KEY_BYTES for key in keys):
            raise KeyringError("every key must be 32 bytes")

    @classmethod
    def generate(cls) -> Keyring:
        """A fresh keyring with random keys (not written anywhere)."""
        key_id = _new_key_id()
        singles = {name: secrets.token_bytes(KEY_BYTES) for name in SINGLE_KEYS}
        return cls(key_id, {key_id: secrets.token_bytes(KEY_BYTES)}, **singles)

    @classmethod
    def ephemeral(cls, seed: bytes) -> Keyring:
        """Keys derived deterministically from `seed`, never written: for tests and pure folds."""
        key_id = "e" + _hmac(seed, b"key-id").hex()[:8]
        singles = {name: _hmac(seed, name.encode()) for name in SINGLE_KEYS}
        return cls(key_id, {key_id: _hmac(seed, b"encryption_key")}, **singles)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Keyring:
        """Parse the keyring file's JSON object."""
        if not isinstance(data, Mapping) or set(data) != FILE_FIELDS:
            raise KeyringError("keyring file has unexpected fields")
        keys = data["encryption_keys"]
        if not isinstance(keys, Mapping) or not keys:
            raise KeyringError("keyring file has no encryption keys")
        singles = {name: _key(data[name]) for name in SINGLE_KEYS}
        by_id = {str(key_id): _key(text) for key_id, text in keys.items()}
        return cls(str(data["active_encryption_key_id"]), by_id, **singles)

    def to_json_dict(self) -> dict[str, Any]:
        """The keyring file's JSON object: key ids and base64 keys, nothing else."""
        keys = {key_id: _b64(key) for key_id, key in self.encryption_keys.items()}
        singles = {name: _b64(getattr(self, name)) for name in SINGLE_KEYS}
        return {"active_encryption_key_id": self.active_key_id, "encryption_keys": keys} | singles

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Read a keyring file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise KeyringError("keyring file is not JSON") from None
        return cls.from_json_dict(data)

    @classmethod
    def create_if_missing(cls, path: str | os.PathLike[str]) -> Keyring:
        """Load the keyring at `path`, or create it (mode 0600, atomically, never clobbering)."""
        target = Path(path)
        if not target.exists():
            with contextlib.suppress(FileExistsError):
                _write_private(target, cls.generate().to_json_dict(), replace=False)
        return cls.load(target)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the keyring to `path` atomically with mode 0600, replacing any previous file."""
        _write_private(Path(path), self.to_json_dict(), replace=True)

    def rotate(self) -> Keyring:
        """A keyring with a new active encryption key and every old one kept (call `save`)."""
        key_id = _new_key_id()
        while key_id in self.encryption_keys:
            key_id = _new_key_id()
        keys = dict(self.encryption_keys) | {key_id: secrets.token_bytes(KEY_BYTES)}
        singles = {name: getattr(self, name) for name in SINGLE_KEYS}
        return Keyring(key_id, keys, **singles)

    def encryption_key(self, key_id: str) -> bytes:
        """The encryption key named `key_id`."""
        try:
            return self.encryption_keys[key_id]
        except KeyError:
            raise UnsealError("unknown encryption key id") from None


def _write_private(target: Path, data: Mapping[str, Any], *, replace: bool) -> None:
    """Write JSON to a 0600 temporary file beside `target`, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    temp = Path(temp_name)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(temp, target, replace=replace)
    finally:
        temp.unlink(missing_ok=True)


def _move_into_place(temp: Path, target: Path, *, replace: bool) -> None:
    """`replace` overwrites; otherwise a hard link fails if another writer got there first."""
    if replace:
        os.replace(temp, target)
    else:
        os.link(temp, target)


@dataclass(frozen=True)
class Sealed:
    """An AES-GCM ciphertext with the id of the key that sealed it and its nonce."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_json_dict(self) -> dict[str, str]:
        """`{key_id, nonce, ciphertext}` with nonce and ciphertext in base64."""
        return {
            "key_id": self.key_id,
            "nonce": _b64(self.nonce),
            "ciphertext": _b64(self.ciphertext),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, str]) -> Sealed:
        """Parse `to_json_dict`'s form."""
        try:
            nonce, ciphertext = _unb64(data["nonce"]), _unb64(data["ciphertext"])
            return cls(str(data["key_id"]), nonce, ciphertext)
        except (KeyError, TypeError, KeyringError):
            raise UnsealError("sealed value is malformed") from None


def seal(keyring: Keyring, plaintext: bytes, associated_data: bytes = b"") -> Sealed:
    """Encrypt with the active key (AES-256-GCM, random 12-byte nonce), bound to the context."""
    key_id = keyring.active_key_id
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(keyring.encryption_key(key_id)).encrypt(nonce, plaintext, associated_data)
    return Sealed(key_id, nonce, ciphertext)


def open_sealed(keyring: Keyring, sealed: Sealed, associated_data: bytes = b"") -> bytes:
    """Decrypt with the key the value names, so values sealed before a rotation still open."""
    aead = AESGCM(keyring.encryption_key(sealed.key_id))
    try:
        return aead.decrypt(sealed.nonce, sealed.ciphertext, associated_data)
    except (InvalidTag, ValueError):
        raise UnsealError("sealed value failed authentication") from None


def _compact(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in text if not ch.isspace())


def blind_index(keyring: Keyring, kind: str, value: str) -> bytes:
    """HMAC-SHA256(number-index key, kind ‖ 0x1f ‖ value) to find an encrypted number by equality.

    The value is NFKC-normalised with spaces removed first, so １２３ and 123 index alike.
    """
    return _hmac(keyring.number_index_key, _field(kind, "kind"), _compact(value).encode())


def identity_hash(keyring: Keyring, relay_id: str, item: str, normalised_value: str) -> bytes:
    """HMAC(identity key, relay_id ‖ 0x1f ‖ item ‖ 0x1f ‖ value), distinct per person."""
    parts = (_field(relay_id, "relay_id"), _field(item, "item"), normalised_value.encode())
    return _hmac(keyring.identity_key, *parts)


def candidate_hash(keyring: Keyring, kana: str, birth_date: str, sex: str) -> bytes:
    """HMAC(candidate key, kana ‖ 0x1f ‖ birth date ‖ 0x1f ‖ sex) for look-alike detection."""
    parts = (_field(kana, "kana"), _field(birth_date, "birth_date"), sex.encode())
    return _hmac(keyring.candidate_key, *parts)


def derive_relay_id(keyring: Keyring, seed: str) -> str:
    """An opaque deterministic relay id: "R" + 20 base32 characters of HMAC(identity key, seed)."""
    digest = _hmac(keyring.identity_key, b"relay-id", seed.encode())
    return "R" + base64.b32encode(digest).decode("ascii")[:RELAY_ID_CHARS]


def tick_mac(keyring: Keyring, seq: int, relay_time: str) -> bytes:
    """HMAC(clock key, seq ‖ 0x1f ‖ relay time): authenticates a relay clock tick to the relay.

    The clock key is derived from the identity key under its own label, so keyrings keep
    their shape."""
    clock_key = _hmac(keyring.identity_key, b"relay-clock")
    return _hmac(clock_key, str(seq).encode(), relay_time.encode())


def notice_copy_id(keyring: Keyring, notice_id: UUID, recipient: str) -> UUID:
    """The id recipient `recipient` (such as "person", "householder", "municipality:131016")
    sees for notice `notice_id`: HMAC-SHA256 under a relay key of the notice id and the
    recipient, its first 16 bytes as a UUID (version 8). Two recipients' copies of one notice
    share nothing, and nobody without the relay's key can tell they are copies of one."""
    key = _hmac(keyring.identity_key, b"notice-copy")
    digest = bytearray(_hmac(key, notice_id.bytes, recipient.encode("utf-8"))[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8 (RFC 9562: custom)
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC variant
    return UUID(bytes=bytes(digest))


def participant_pseudonym(keyring: Keyring, participant_code: str, relay_id: str) -> str:
    """Lowercase hex HMAC-SHA256(pseudonym key, participant code ‖ 0x1f ‖ relay id): names one
    person to one participant alone (a record key), so no two participants share a name for
    the same person and none can get back to the relay id.

    The pseudonym key is derived from the identity key under its own label, so keyrings keep
    their shape."""
    key = _hmac(keyring.identity_key, b"participant-pseudonym")
    return _hmac(key, _field(participant_code, "participant code"), relay_id.encode()).hex()
