"""The access logs' witnessing contracts: a tree head the relay sends a witness (a providing
insurer) with its consistency proof, and the witness's cosignature or refusal of it.

A head is a signed note (C2SP signed-note text, `access_log.verifier`) over one month's tree of
one log; the witness checks it with the relay's public key and cosigns with its own key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Instant, error
from schemas.identifiers import FilerCode
from schemas.relay import RelayMessage, WireBytes

MAX_NOTE_CHARS = 4096
"""A head's note with its signatures: a few lines; bounded so a witness reads little."""
MAX_PROOF_HASHES = 64
"""A consistency proof holds at most about 2 log2(size) hashes: 64 covers any tree."""
Month = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Hash = Annotated[WireBytes, Field(min_length=32, max_length=32)]
NoteText = Annotated[str, StringConstraints(strict=True, min_length=1,
                                            max_length=MAX_NOTE_CHARS)]


class AccessLogName(StrEnum):
    """Which access log: the exchange's (queries and answers) or the pushed notices'."""

    EXCHANGE = "exchange"
    NOTICES = "notices"


class TreeHeadForWitness(RelayMessage):
    """On `participant.<W>.heads.v1`, signed by the relay: a new head of one month's tree for
    witness W, with the consistency proof from the last head of that month W cosigned."""

    log: AccessLogName
    month: Month = Field(description="the month the tree holds (relay time, YYYY-MM)")
    witness_code: FilerCode = Field(description="the witness the head is sent to")
    note: NoteText = Field(description="the head as a note signed by the relay's access-log "
                           "key: origin line, size, base64 root hash, relay time, signature")
    since: int | None = Field(default=None, ge=0, description="the size of the last head of "
                              "this month the witness cosigned (null: none)")
    consistency: list[Hash] = Field(default_factory=list, max_length=MAX_PROOF_HASHES,
                                    description="RFC 9162 consistency proof from `since` to "
                                    "the head's size")
    relay_time: Instant = Field(description="relay time when the relay signed the head")

    def kafka_key(self) -> bytes:
        return f"{self.log.value}:{self.month}".encode()


REFUSAL_LENGTH = 500


def refusal_text(reason: str) -> str:
    """`reason` as a refusal may carry it: control characters as spaces, at most
    REFUSAL_LENGTH characters (the end cut to '…'), never empty; a reason may quote the note
    it refuses, so its length and characters are the note's, not the witness's."""
    text = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in reason).strip()
    text = text or "refused"
    return text if len(text) <= REFUSAL_LENGTH else text[:REFUSAL_LENGTH - 1] + "…"


class HeadCosignature(RelayMessage):
    """On `access-log.cosignature.v1`, signed by the witness: the head it was sent, with its
    cosignature line added, or (with `refusal`) unchanged and why it refuses it."""

    witness_code: FilerCode
    log: AccessLogName
    month: Month
    note: NoteText = Field(description="cosigned: the relay's note with the witness's "
                           "cosignature line; refused: the relay's note as sent")
    refusal: Annotated[str, StringConstraints(max_length=REFUSAL_LENGTH,
                                              pattern=r"^[^\x00-\x1f\x7f]+$")] | None = Field(
        default=None, description="why the witness refuses the head (a fork, a rollback, a "
        "bad signature ...), one line without control characters; null when it cosigns")

    @model_validator(mode="after")
    def _reason_given(self) -> HeadCosignature:
        if self.refusal is not None and not self.refusal.strip():
            raise error("refusal", "a refusal says why")
        return self

    def kafka_key(self) -> bytes:
        return f"{self.witness_code}:{self.log.value}:{self.month}".encode()


ACCESS_LOG_MESSAGES: tuple[type[RelayMessage], ...] = (TreeHeadForWitness, HeadCosignature)
