"""The AsyncAPI 3.0 document of the relay's topics, and writing/checking the generated files.

Channels come from the topic catalogue; message payloads reference the JSON Schema files.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from schemas.access_log import ACCESS_LOG_MESSAGES
from schemas.exchange import EXCHANGE_MESSAGES
from schemas.filings import PAYLOADS, allowed_on, filer_of
from schemas.internal import INTERNAL_MESSAGES
from schemas.jsonschema_export import SCHEMA_DIR, message_models, message_name, schema_files
from schemas.notices import NOTICE_MESSAGES
from schemas.receipts import RECEIPT_MESSAGES
from schemas.relay import RELAY_MESSAGES, SIGNATURE_HEADER, SIGNER_HEADER, TICK_HEADER, RelayTick
from schemas.settlements import SETTLEMENT_MESSAGES
from schemas.topics import (
    CATALOGUE,
    CLOCKED_TOPICS,
    EXCHANGE_TOPICS,
    FORWARDED_TICK_TOPICS,
    NOTICES_TEMPLATE,
    PARTICIPANT_TEMPLATES,
    RECEIPTS_TEMPLATES,
    Topic,
)

CHANNELS: tuple[Topic, ...] = (*CATALOGUE, *PARTICIPANT_TEMPLATES)
"""Every channel: the catalogue's topics and those addressed to each participant, the latter
with the participant's code as a parameter."""
SIGNED_MESSAGES = {"ExchangeRequest", "ExchangeAnswer", "RoutedRequest", "TreeHeadForWitness",
                   "HeadCosignature", "SettlementInstruction", "RoutedSettlement"}
"""Relay messages that carry their sender's signature headers (besides filings and ticks)."""

ASYNCAPI_PATH = Path("docs") / "asyncapi.yaml"
KAFKA_BINDING = "0.5.0"
HEADER = "# Generated from schemas/ by `shaho schemas --write`; do not edit by hand.\n"
INFO = {
    "title": "shaho-relay",
    "version": "1.9.0",
    "description": (
        "Relay of Japan's social-insurance qualification links on Apache Kafka: filings in, "
        "link changes and filing outcomes out, dead letters aside. Fields marked x-secret are "
        "person-level numbers or identity items: carried in clear on the wire, never logged."
    ),
}


SIGNED_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Every record sent to the relay is signed by its sender (a filer, or the "
                   "relay clock for ticks); the relay verifies the signature before it decodes "
                   "the value and refuses the record otherwise.",
    "required": [SIGNER_HEADER, SIGNATURE_HEADER],
    "properties": {
        SIGNER_HEADER: {
            "type": "string",
            "pattern": "^[a-z]+/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[1-9a-f][0-9a-f]*$",
            "description": "role/code/serial of the signer's certificate from the relay's "
                           "participants root (serial in lowercase hex)",
        },
        SIGNATURE_HEADER: {
            "type": "string",
            "contentEncoding": "binary",
            "maxLength": 80,
            "description": "DER ECDSA P-256 SHA-256 signature over "
                           "'shaho-relay/signed-record/v1' NUL, then the catalogue topic name, "
                           "the key and the value, each as a 4-byte big-endian length and its "
                           "bytes (length 0xFFFFFFFF for a missing key or value)",
        },
        TICK_HEADER[0]: {
            "type": "string",
            "const": TICK_HEADER[1].decode(),
            "description": "marks a relay clock tick (RelayTick messages only)",
        },
    },
}


def _tick_headers() -> dict[str, Any]:
    """A tick's headers: signed by the relay clock where it writes the tick itself; the
    copies the linker forwards onto relay-internal topics carry the tick mark alone (the MAC
    authenticates them, and only the relay's publisher writes those topics)."""
    headers = copy.deepcopy(SIGNED_HEADERS)
    headers["required"] = [TICK_HEADER[0]]
    headers["description"] = (
        "A tick the relay clock writes (the clock topic, the topics participants send to) "
        "carries the relay clock's signature headers too; one the linker forwards onto a "
        "relay-internal topic carries the tick mark alone and is authenticated by its MAC.")
    return headers


def _messages_on(topic: Topic) -> list[str]:
    known = {(m.message(), m.SCHEMA_VERSION)
             for m in (*RELAY_MESSAGES, *INTERNAL_MESSAGES, *EXCHANGE_MESSAGES,
                       *NOTICE_MESSAGES, *ACCESS_LOG_MESSAGES, *RECEIPT_MESSAGES,
                       *SETTLEMENT_MESSAGES)}
    if topic.message == "Filing":  # the relay clock's ticks travel among the filings
        filings = [message_name(t, v) for t, v in sorted(PAYLOADS) if allowed_on(t, topic.name)]
        return [*filings, message_name("RelayTick", RelayTick.SCHEMA_VERSION)]
    if topic.message == "empty":
        return []
    if topic in EXCHANGE_TOPICS or topic in FORWARDED_TICK_TOPICS:
        return [message_name(topic.message, topic.message_version),
                message_name("RelayTick", RelayTick.SCHEMA_VERSION)]
    if (topic.message, topic.message_version) not in known:
        raise LookupError(f"{topic.name} carries {topic.message} v{topic.message_version}, "
                          "which schemas.relay lacks")
    return [message_name(topic.message, topic.message_version)]


def _dead_letter_source(topic: Topic) -> str | None:
    return next((t.name for t in CHANNELS if t.dlq == topic.name), None)


def _channel(topic: Topic) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "cleanup.policy": [topic.cleanup_policy],
        "retention.ms": topic.retention_ms,
        "max.message.bytes": topic.max_message_bytes,
    }
    channel: dict[str, Any] = {
        "address": topic.name,
        "title": topic.name,
        "summary": topic.summary,
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in _messages_on(topic)},
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING,
                "topic": topic.name,
                "partitions": topic.partitions,
                "topicConfiguration": configuration,
            }
        },
        "x-key": topic.key,
        "x-key-meaning": topic.key_meaning,
        "x-topic-config": topic.config(),
    }
    if topic.dlq is not None:
        channel["x-dlq"] = topic.dlq
    if (source := _dead_letter_source(topic)) is not None:
        channel["x-dead-letters-of"] = source
    if topic in PARTICIPANT_TEMPLATES:
        whom = ("of the insurer (保険者番号), of the Japan Pension Service (JPS) or of the "
                "municipality (市町村)" if topic == NOTICES_TEMPLATE else
                "of the insurer (保険者番号) or of the Japan Pension Service (JPS)")
        description = (f"the public code {whom} the topic is addressed to; created when the "
                       "participant is provisioned, read only by its own principal")
        if topic in RECEIPTS_TEMPLATES:
            description = ("the number of the insurer (保険者番号) whose private topic it is; "
                           "created when the insurer is provisioned, written and read by its "
                           "own principal only (the relay has no grant on it)")
        channel["parameters"] = {"code": {"description": description}}
    return channel


def _channel_id(topic: Topic) -> str:
    """The channel's id: the topic name, `{code}` written `code` for a participant's topic
    (a JSON pointer to the channel holds no braces)."""
    return topic.name.replace("{code}", "code")


def _operation(topic: Topic) -> tuple[str, dict[str, Any]]:
    action = "receive" if topic in CLOCKED_TOPICS else "send"
    channel = _channel_id(topic)
    refs = [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in _messages_on(topic)]
    summary = f"The relay {'consumes' if action == 'receive' else 'publishes'} {topic.name}."
    if topic in RECEIPTS_TEMPLATES:
        summary = (f"The insurer publishes {topic.name} for itself (its worker loads the "
                   "receipts, or sets a refused one aside); the relay neither reads nor "
                   "writes it.")
    return f"{action}.{channel}", {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": refs,
    }


def _key_of(name: str) -> Topic:
    """The topic whose key the message `name` is keyed like: its own topic, where it has one."""
    title, _, version = name.rpartition(".v")
    own = [t for t in CHANNELS if (t.message, t.message_version) == (title, int(version))]
    return own[0] if own else next(t for t in CHANNELS if name in _messages_on(t))


def _message(name: str, description: str | None) -> dict[str, Any]:
    topic = _key_of(name)
    message: dict[str, Any] = {
        "name": name,
        "title": name.rsplit(".v", 1)[0],
        "summary": (description or name).strip().splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": f"../{SCHEMA_DIR.as_posix()}/{name}.json"},
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING,
                "key": {"type": "string", "description": f"{topic.key}: {topic.key_meaning}"},
            }
        },
    }
    event_type, _, version = name.rpartition(".v")
    if (event_type, int(version)) in PAYLOADS:
        message["x-filer"] = filer_of(event_type).value
    if event_type == RelayTick.message():
        message["headers"] = _tick_headers()
    elif (event_type, int(version)) in PAYLOADS or event_type in SIGNED_MESSAGES:
        message["headers"] = copy.deepcopy(SIGNED_HEADERS)  # no YAML aliases
    return message


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a mapping."""
    models = message_models()
    payload_docs = {message_name(t, v): m.__doc__ for (t, v), m in PAYLOADS.items()}
    messages = {
        name: _message(name, payload_docs.get(name, model.__doc__))
        for name, model in models.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": INFO,
        "defaultContentType": "application/json",
        "channels": {_channel_id(t): _channel(t) for t in CHANNELS},
        "operations": dict(_operation(t) for t in CHANNELS),
        "components": {"messages": messages},
    }


def render_yaml(doc: dict[str, Any]) -> str:
    """Deterministic YAML text with the generated-file header."""
    body = yaml.safe_dump(doc, sort_keys=True, allow_unicode=True, width=100)
    return HEADER + body


def generated_files() -> dict[Path, str]:
    """Every generated file's path relative to the repository root, and its content."""
    return {**schema_files(), ASYNCAPI_PATH: render_yaml(document())}


def _orphans(repo_root: Path, expected: dict[Path, str]) -> list[Path]:
    folder = repo_root / SCHEMA_DIR
    known = {repo_root / path for path in expected}
    return sorted(p for p in folder.glob("*.json") if p not in known) if folder.is_dir() else []


def write_all(repo_root: Path) -> list[Path]:
    """Write every generated file under `repo_root`, remove orphan schemas; the paths written."""
    expected = generated_files()
    for orphan in _orphans(repo_root, expected):
        orphan.unlink()
    written = []
    for relative, content in sorted(expected.items()):
        path = repo_root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale(repo_root: Path) -> list[Path]:
    """Generated files under `repo_root` that are missing, differ, or are no longer generated."""
    expected = generated_files()
    differing = [
        repo_root / relative
        for relative, content in sorted(expected.items())
        if _read(repo_root / relative) != content
    ]
    return [*differing, *_orphans(repo_root, expected)]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None
