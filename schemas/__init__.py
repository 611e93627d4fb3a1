"""The message contracts of shaho-relay: pydantic models, codec, registry and generated docs.

Import from here; the submodules hold the details (see docs/contracts.md).
"""

from schemas.asyncapi import stale, write_all
from schemas.codec import FilingRejected, MessageRejected, decode_filing, decode_relay, encode
from schemas.envelope import (
    FILING_NAMESPACE,
    PAYLOADS,
    Filing,
    event_id_for,
    new_filing,
    topic_for,
    topics_for,
)
from schemas.relay import (
    DeadLetter,
    EncryptedBlob,
    FilingOutcome,
    LinkChanged,
    OutboxPosition,
    Reason,
    ReasonCode,
    RelayTick,
)
from schemas.secret import Secret, SecretDate, SecretNumber

__all__ = [
    "FILING_NAMESPACE",
    "PAYLOADS",
    "DeadLetter",
    "EncryptedBlob",
    "Filing",
    "FilingOutcome",
    "FilingRejected",
    "LinkChanged",
    "MessageRejected",
    "OutboxPosition",
    "Reason",
    "ReasonCode",
    "RelayTick",
    "Secret",
    "SecretDate",
    "SecretNumber",
    "decode_filing",
    "decode_relay",
    "encode",
    "event_id_for",
    "new_filing",
    "stale",
    "topic_for",
    "topics_for",
    "write_all",
]
