"""What one access-log leaf says, and its bytes: who asked, who provided, about whom (a salted
commitment, never the relay id or a number), what, why, under which policy row, when, outcome.

An entry of a lawful covert query goes into the tree at once, its content padded and sealed
with a key of its own (AES-GCM) that the relay gives out on its disclosure date on the relay
clock; the leaf commits to the sealed form, the date and the key, so the proofs cover it all
along, reveal nothing before then, and the relay cannot later change the date or the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from datetime import date
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PERSON_LABEL = b"shaho-relay/access-log/person/v1\n"
COVERT_LABEL = b"shaho-relay/access-log/covert/v1\n"
KEY_LABEL = b"shaho-relay/access-log/covert-key/v1\n"
NONCE_LABEL = b"shaho-relay/access-log/covert-nonce/v1\n"
SALT_BYTES = 32
SEALED_SIZE = 1024
"""Every covert entry is padded to this many bytes before sealing: its leaf's length says
nothing of what it holds."""
TEXT = re.compile(r"[ -~]{1,64}")


class AccessKind(StrEnum):
    """Which access through the relay an entry records."""

    RELAYED_QUERY = "relayed_query"  # the relay routed a person of a request to a provider
    RELAYED_ANSWER = "relayed_answer"  # a provider answered about a person
    PUSHED_CHANGE = "pushed_change"  # a change notice went to an insurer that knows the person
    RECONCILIATION_LOOKUP = "reconciliation_lookup"
    RELAYED_SETTLEMENT = "relayed_settlement"  # a settlement of the 合算 routed to its payer


def new_salt() -> bytes:
    """A person's salt: kept by the relay, given to the person with their entries."""
    return os.urandom(SALT_BYTES)


def person_commitment(salt: bytes, relay_id: str, entry_id: str) -> bytes:
    """The person as one entry names them: SHA-256 of a label, their salt, the relay id and
    the entry's id. Without the salt it says nothing of whom, and two entries of one person
    share nothing; with it, the person (and the relay) can check each."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a person's salt is {SALT_BYTES} bytes")
    framed = b"".join(len(p).to_bytes(2, "big") + p for p in (
        salt, relay_id.encode(), entry_id.encode()))
    return hashlib.sha256(PERSON_LABEL + framed).digest()


@dataclass(frozen=True)
class AccessEntry:
    """One access to one person's data. Codes are the participants' public codes; no number,
    no identity item, no relay id."""

    entry_id: str  # the access's own id (deterministic, from what caused it)
    kind: AccessKind
    asker: str | None
    provider: str
    person: bytes  # person_commitment
    scheme: str
    category: str
    purpose: str
    policy_row: str
    relay_time: str  # ISO 8601 on the relay clock
    outcome: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, AccessKind):
            raise ValueError("an entry's kind is an AccessKind")
        if not isinstance(self.person, bytes) or len(self.person) != 32:
            raise ValueError("an entry names the person by a 32-byte commitment")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("kind", "person") or (f.name == "asker" and value is None):
                continue
            if not isinstance(value, str) or not TEXT.fullmatch(value):
                raise ValueError(f"an entry's {f.name} is printable ASCII text of 1-64")

    def leaf(self) -> bytes:
        """The leaf's bytes: canonical JSON (sorted keys, no spaces, UTF-8)."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["person"] = self.person.hex()
        return _canonical({"entry": data})


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def entry_of(leaf: bytes) -> AccessEntry:
    """The entry a clear leaf holds; ValueError when it is not one, or not in canonical form."""
    try:
        data = json.loads(leaf)["entry"]
        data["kind"] = AccessKind(data["kind"])
        data["person"] = bytes.fromhex(data["person"])
        entry = AccessEntry(**data)
        same = entry.leaf() == leaf
    except Exception as failure:  # whatever the bytes: one answer
        raise ValueError("not an access-log entry") from failure
    if not same:
        raise ValueError("the leaf is not in canonical form")
    return entry


@dataclass(frozen=True)
class CovertLeaf:
    """A covert entry's leaf and the key that opens it, which the relay keeps until
    `disclose_from` (a relay-clock date)."""

    leaf: bytes
    key: bytes
    disclose_from: date


def _key_hash(key: bytes) -> str:
    return hashlib.sha256(KEY_LABEL + key).hexdigest()


def _aad(disclose_from: date) -> bytes:
    return COVERT_LABEL + disclose_from.isoformat().encode()


def sealed_leaf(entry: AccessEntry, disclose_from: date, key: bytes | None = None) -> CovertLeaf:
    """`entry` padded and sealed until `disclose_from`: the leaf shows only that it is sealed,
    until when, and which key opens it (as a hash). With a `key` (32 bytes, used for this one
    entry only) the leaf is the same each time: the nonce is derived from the key."""
    plain = entry.leaf()
    if len(plain) > SEALED_SIZE - 2:
        raise ValueError("the entry is too long to seal")
    padded = len(plain).to_bytes(2, "big") + plain + bytes(SEALED_SIZE - 2 - len(plain))
    if key is None:
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
    elif not isinstance(key, bytes) or len(key) != 32:
        raise ValueError("a covert entry's key is 32 bytes")
    else:
        nonce = hashlib.sha256(NONCE_LABEL + key).digest()[:12]
    sealed = nonce + AESGCM(key).encrypt(nonce, padded, _aad(disclose_from))
    leaf = _canonical({"disclose_from": disclose_from.isoformat(), "key": _key_hash(key),
                       "sealed": base64.b64encode(sealed).decode()})
    return CovertLeaf(leaf, key, disclose_from)


def open_covert(leaf: bytes, key: bytes) -> AccessEntry:
    """The entry in a covert leaf, with the key the relay gave out on its disclosure date;
    ValueError when the key or the leaf is wrong (or the leaf is not in canonical form)."""
    try:
        data = json.loads(leaf)
        on = date.fromisoformat(data["disclose_from"])
        sealed = base64.b64decode(data["sealed"], validate=True)
        canonical = _canonical({"disclose_from": on.isoformat(), "key": data["key"],
                                "sealed": base64.b64encode(sealed).decode()}) == leaf
        if not canonical or data["key"] != _key_hash(key):
            raise ValueError("another key, or a leaf not in canonical form")
        padded = AESGCM(key).decrypt(sealed[:12], sealed[12:], _aad(on))
        size = int.from_bytes(padded[:2], "big")
        if any(padded[2 + size:]):
            raise ValueError("padding")
        return entry_of(padded[2:2 + size])
    except Exception as failure:  # several types for bad input, all the same answer
        raise ValueError("the covert leaf does not open with this key") from failure


def disclosed(covert: CovertLeaf, relay_day: date) -> bytes | None:
    """The key, once the relay clock's date has reached the disclosure date; None before."""
    if not isinstance(relay_day, date):
        raise TypeError("the relay day is a date")
    return covert.key if relay_day >= covert.disclose_from else None
