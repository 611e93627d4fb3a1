"""JSON Schemas of every message: one per filing (event type, version), envelope and payload.

Files are `schemas/jsonschema/<name>.v<version>.json`, rendered deterministically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from schemas.access_log import ACCESS_LOG_MESSAGES
from schemas.envelope import Envelope
from schemas.exchange import EXCHANGE_MESSAGES
from schemas.filings import PAYLOADS
from schemas.internal import INTERNAL_MESSAGES
from schemas.notices import NOTICE_MESSAGES
from schemas.receipts import RECEIPT_MESSAGES
from schemas.relay import RELAY_MESSAGES
from schemas.settlements import SETTLEMENT_MESSAGES

SCHEMA_DIR = Path("schemas") / "jsonschema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:shaho-relay:schema:"


def message_name(name: str, version: int) -> str:
    """The name of a message and its file stem: `<name>.v<version>`."""
    return f"{name}.v{version}"


def filing_model(event_type: str, version: int) -> type[BaseModel]:
    """The envelope with `event_type`, `schema_version` and `payload` pinned to one payload."""
    payload = PAYLOADS[(event_type, version)]
    summary = (payload.__doc__ or "").strip().splitlines()[0]
    return create_model(
        f"{event_type}Filing",
        __base__=Envelope,
        __doc__=f"A {event_type} filing (schema version {version}): {summary}",
        event_type=(Literal[event_type], Field(description="the domain event's name")),
        schema_version=(Literal[version], Field(description="the payload's version")),
        payload=(payload, ...),
    )


def message_models() -> dict[str, type[BaseModel]]:
    """Every message model by message name, filings first, each group sorted."""
    filings = {
        message_name(event_type, version): filing_model(event_type, version)
        for event_type, version in sorted(PAYLOADS)
    }
    models = sorted((*RELAY_MESSAGES, *INTERNAL_MESSAGES, *EXCHANGE_MESSAGES, *NOTICE_MESSAGES,
                     *ACCESS_LOG_MESSAGES, *RECEIPT_MESSAGES, *SETTLEMENT_MESSAGES),
                    key=lambda m: (m.message(), m.SCHEMA_VERSION))
    relay = {message_name(model.message(), model.SCHEMA_VERSION): model for model in models}
    return {**filings, **relay}


def json_schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `model`, identified by `name`."""
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"{ID_PREFIX}{name}", **schema}


def render_json(document: dict[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, UTF-8 characters, final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_files() -> dict[Path, str]:
    """Each JSON Schema file's path relative to the repository root, and its content."""
    return {
        SCHEMA_DIR / f"{name}.json": render_json(json_schema(name, model))
        for name, model in message_models().items()
    }
