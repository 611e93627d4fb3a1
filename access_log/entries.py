"""What one access-log leaf says, and its bytes: who asked, who provided, about whom (a salted
commitment, never the relay id or a number), what, why, under which policy row, when, outcome.

An entry of a lawful covert query goes into the tree at once, its content sealed with a key of
its own (AES-GCM) that the relay gives out on its disclosure date on the relay clock; the leaf
commits to the sealed form, so the proofs cover it all along and reveal nothing before then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PERSON_LABEL = b"shaho-relay/access-log/person/v1\n"
COVERT_LABEL = b"shaho-relay/access-log/covert/v1"
SALT_BYTES = 32


class AccessKind(StrEnum):
    """Which access through the relay an entry records."""

    RELAYED_QUERY = "relayed_query"  # the relay routed a person of a request to a provider
    RELAYED_ANSWER = "relayed_answer"  # a provider answered about a person
    PUSHED_CHANGE = "pushed_change"  # a change notice went to an insurer that knows the person
    RECONCILIATION_LOOKUP = "reconciliation_lookup"


def new_salt() -> bytes:
    """A person's salt: kept by the relay, given to the person with their entries."""
    return os.urandom(SALT_BYTES)


def person_commitment(salt: bytes, relay_id: str) -> bytes:
    """The person as a leaf names them: SHA-256 of a label, their salt and the relay id. Without
    the salt it says nothing of whom; with it, only the person (and the relay) can check it."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a person's salt is {SALT_BYTES} bytes")
    return hashlib.sha256(PERSON_LABEL + salt + relay_id.encode()).digest()


@dataclass(frozen=True)
class AccessEntry:
    """One access to one person's data. Codes are the participants' public codes; no number,
    no identity item, no relay id."""

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
    """The entry a clear leaf holds; ValueError when it is not one."""
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
    disclose_from: str


def sealed_leaf(entry: AccessEntry, disclose_from: str) -> CovertLeaf:
    """`entry` sealed until `disclose_from`: the leaf shows only that it is sealed."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(key).encrypt(nonce, entry.leaf(), COVERT_LABEL)
    leaf = _canonical({"sealed": base64.b64encode(sealed).decode()})
    return CovertLeaf(leaf, key, disclose_from)


def open_covert(leaf: bytes, key: bytes) -> AccessEntry:
    """The entry in a covert leaf, with the key the relay gave out on its disclosure date;
    ValueError when the key or the leaf is wrong."""
    try:
        sealed = base64.b64decode(json.loads(leaf)["sealed"], validate=True)
        plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], COVERT_LABEL)
    except Exception as failure:  # several types for bad input, all the same answer
        raise ValueError("the covert leaf does not open with this key") from failure
    return entry_of(plain)


def disclosed(covert: CovertLeaf, relay_day: str) -> bytes | None:
    """The key, once the relay clock has reached the disclosure date (ISO dates compare as
    text); None before."""
    return covert.key if relay_day >= covert.disclose_from else None
