"""Domain values ⇄ JSON for the relay database: frozen dataclasses, dates, UUIDs and bytes.

Used for the ledger entry, link closures and parked filings (the latter sealed before storing).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from relay_linker.domain import commands, model

_TYPES: dict[str, type] = {
    cls.__name__: cls
    for module in (commands, model)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
}


_SCALARS = (str, int, float, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def to_plain(value: Any) -> Any:
    """A JSON-ready form of `value` with type tags where JSON has no type of its own."""
    if isinstance(value, _SCALARS):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        body = {name: to_plain(getattr(value, name)) for name in _fields(type(value))}
        return {"$t": type(value).__name__, **body}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, UUID):
        return {"$u": str(value)}
    if isinstance(value, Mapping):
        return {"$m": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if isinstance(value, tuple | list | frozenset | set):
        return [to_plain(v) for v in value]
    return value


def from_plain(value: Any) -> Any:
    """The inverse of `to_plain`; lists come back as tuples (the domain's frozen sequences)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list):
        return tuple(from_plain(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "$t" in value:
        cls = _TYPES[value["$t"]]
        return cls(**{k: from_plain(v) for k, v in value.items() if k != "$t"})
    (tag, raw), = value.items()
    match tag:
        case "$b":
            return base64.b64decode(raw)
        case "$dt":
            return datetime.fromisoformat(raw)
        case "$d":
            return date.fromisoformat(raw)
        case "$u":
            return UUID(raw)
        case "$m":
            return {from_plain(k): from_plain(v) for k, v in raw}
    raise ValueError(f"unknown tag {tag!r}")


def dumps(value: Any) -> str:
    return json.dumps(to_plain(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return from_plain(json.loads(text))
