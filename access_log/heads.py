"""Tree heads signed by the relay and cosigned by witnesses: the relay's signing, and the rule a
witness (a providing insurer, with its own key) applies before it cosigns a new head.

A witness keeps the last head it cosigned per log. It cosigns a new head only when the relay
signed it and a consistency proof shows it extends that last head; a head that rolls back, forks
or rewrites history is refused with the reason, and the witness keeps what it had.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from access_log.verifier import (
    COSIGNATURE_LABEL,
    DASH,
    HEAD_LABEL,
    Head,
    HeadRefused,
    ProofRefused,
    low_s,
    parse_note,
    verify_consistency,
    verify_head,
)

MAX_AHEAD = timedelta(minutes=5)
"""How far ahead of a witness's own relay clock a head's time may be."""


def _signature_line(name: str, key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    if " " in name or not name:
        raise ValueError("a signer's name is one word")
    # RFC 6979: the same head gives the same published bytes
    signature = low_s(key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return f"{DASH}{name} {base64.b64encode(signature).decode()}\n"


def signed_head(head: Head, name: str, key: ec.EllipticCurvePrivateKey) -> str:
    """The head as a note the relay (`name`, `key`) signed."""
    return head.body().decode() + "\n" + _signature_line(name, key, HEAD_LABEL + head.body())


def cosigned(note: str, name: str, key: ec.EllipticCurvePrivateKey) -> str:
    """`note` with witness `name`'s cosignature added."""
    head, _ = parse_note(note)
    return note + _signature_line(name, key, COSIGNATURE_LABEL + head.body())


@dataclass(frozen=True)
class Seen:
    """The last head a witness cosigned for one log."""

    size: int
    root: bytes
    relay_time: str = "0000-01-01T00:00:00Z"  # heads' times compare as text: one fixed format


@dataclass(frozen=True)
class Verdict:
    """A witness's answer to a new head: cosign it (and remember it), or refuse and why."""

    cosign: bool
    reason: str
    seen: Seen | None


def judge(note: str, proof: list[bytes] | None, last: Seen | None, origin: str,
          relay: tuple[str, ec.EllipticCurvePublicKey], now: datetime) -> Verdict:
    """Whether a witness that last cosigned `last` for log `origin` cosigns `note`, given the
    relay's consistency `proof` from `last` to it (none for the first head it sees) and the
    witness's own relay time `now`: a head's time never goes back, nor ahead of `now` by more
    than `MAX_AHEAD`."""
    try:
        checked = verify_head(note, relay, {}, cosignatures=0)
    except HeadRefused as refused:
        return Verdict(False, f"bad_head: {refused}", last)
    head = checked.head
    if head.origin != origin:
        return Verdict(False, "other_log: the head names another log", last)
    at = datetime.strptime(head.relay_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if at > now + MAX_AHEAD:
        return Verdict(False, f"future: the head's time {head.relay_time} is ahead of the "
                       "witness's relay clock", last)
    seen = Seen(head.size, head.root, head.relay_time)
    if last is not None and head.relay_time < last.relay_time:
        return Verdict(False, f"rollback: time {head.relay_time} after {last.relay_time}", last)
    if last is None:
        return Verdict(True, "first_head", seen)
    if head.size < last.size:
        return Verdict(False, f"rollback: size {head.size} after {last.size}", last)
    if head.size == last.size:
        if head.root != last.root:
            return Verdict(False, "fork: another root for the same size", last)
        return Verdict(True, "unchanged", seen)
    if last.size == 0:  # every tree extends the empty one (whose root the verifier fixes)
        return Verdict(True, "extends", seen)
    try:
        verify_consistency(last.size, head.size, proof, last.root, head.root)
    except ProofRefused as refused:
        return Verdict(False, f"fork: {refused}", last)
    return Verdict(True, "extends", seen)
