"""Bytes on Kafka ⇄ models: UTF-8 JSON with clear values out, reasons without values in.

A refused record raises `FilingRejected`/`MessageRejected` whose reasons never echo the input;
decoding raises nothing else, whatever the bytes (limits on numbers, nesting and characters).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from schemas.envelope import Filing, event_id_for
from schemas.identifiers import FILER_CODE_PATTERN, FILING_REFERENCE_PATTERN
from schemas.relay import DeadLetter, Reason, ReasonCode
from schemas.topics import DLQ_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES

M = TypeVar("M", bound=BaseModel)

MAX_REASONS = 50
MAX_FIELD_CHARS = 200
MAX_MESSAGE_CHARS = 500
MAX_INT_DIGITS = 20  # more than any integer of a contract (offsets fit in 19)
MAX_DEPTH = 32  # arrays and objects inside one another; the contracts need fewer than 10
OWN_CODES = frozenset(
    {
        ReasonCode.UNKNOWN_EVENT_TYPE.value,
        ReasonCode.UNKNOWN_SCHEMA_VERSION.value,
        ReasonCode.WRONG_TOPIC.value,
    }
)
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FILER_CODE = re.compile(FILER_CODE_PATTERN)
_FILING_REFERENCE = re.compile(FILING_REFERENCE_PATTERN)


class MessageRejected(ValueError):
    """A record that cannot be decoded; `reasons` say why without any input value."""

    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__(_summary(reasons))
        self.reasons = reasons

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reasons,))


class FilingRejected(MessageRejected):
    """A filing that cannot be decoded; filer code and reference are set when readable."""

    def __init__(
        self,
        reasons: list[Reason],
        filer_code: str | None = None,
        filing_reference: str | None = None,
    ) -> None:
        super().__init__(reasons)
        self.filer_code = filer_code
        self.filing_reference = filing_reference

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reasons, self.filer_code, self.filing_reference))

    @property
    def event_id(self) -> UUID | None:
        """The filing's event id when filer code and reference could be read."""
        if self.filer_code is None or self.filing_reference is None:
            return None
        return event_id_for(self.filer_code, self.filing_reference)


def _summary(reasons: list[Reason]) -> str:
    parts = [f"{r.code} at {r.field or '(record)'}: {r.message}" for r in reasons]
    return "; ".join(parts) or "rejected"


def encode(model: BaseModel) -> bytes:
    """The model as UTF-8 JSON, secrets in clear: the bytes to publish."""
    return model.model_dump_json().encode("utf-8")


def content_hash(filing: Filing) -> str:
    """Lowercase hex SHA-256 of `filing` as encoded: what tells two uploads' contents apart."""
    return hashlib.sha256(encode(filing)).hexdigest()


def decode_filing(raw: bytes, topic: str | None = None) -> Filing:
    """The Filing in `raw`, checked against `topic` when given; else FilingRejected."""
    data, reasons = load_json(raw, MAX_MESSAGE_BYTES)
    if reasons:
        raise FilingRejected(reasons)
    filer_code, filing_reference = _address(data)
    context = None if topic is None else {"topic": topic}
    filing, reasons = validate(Filing, data, context)
    if filing is None:
        raise FilingRejected(reasons, filer_code, filing_reference)
    return filing


def decode_relay(raw: bytes, model: type[M]) -> M:
    """A relay message (LinkChanged, FilingOutcome, DeadLetter) from `raw`; else MessageRejected."""
    limit = DLQ_MAX_MESSAGE_BYTES if model is DeadLetter else MAX_MESSAGE_BYTES
    data, reasons = load_json(raw, limit)
    if reasons:
        raise MessageRejected(reasons)
    message, reasons = validate(model, data)
    if message is None:
        raise MessageRejected(reasons)
    return message


def load_json(raw: bytes, limit: int) -> tuple[Any, list[Reason]]:
    """Parse `raw` as one UTF-8 JSON object of at most `limit` bytes; reasons when it is not."""
    if len(raw) > limit:
        return None, [_reason(ReasonCode.TOO_LARGE, f"{len(raw)} bytes; the limit is {limit}")]
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8 at byte {exc.start}"
    else:
        return _parse(text)
    return None, [_reason(ReasonCode.NOT_UTF8, problem)]


def _parse(text: str) -> tuple[Any, list[Reason]]:
    try:
        data = json.loads(text, object_pairs_hook=_object, parse_constant=_constant,
                          parse_int=_int, parse_float=_float)
        _check_shape(data)
    except json.JSONDecodeError as exc:
        problem = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except _JsonShape as exc:
        problem = f"not JSON: {exc}"
    except RecursionError:
        problem = "not JSON: nested too deeply"
    else:
        if isinstance(data, dict):
            return data, []
        return None, [_reason(ReasonCode.INVALID, "the record must be a JSON object")]
    return None, [_reason(ReasonCode.NOT_JSON, problem)]


class _JsonShape(ValueError):
    """JSON that Python would accept but the contract does not (no value in the message)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _JsonShape("an object has a duplicate key")
    return result


def _constant(name: str) -> Any:
    raise _JsonShape("NaN and Infinity are not JSON numbers")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _JsonShape(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonShape("a number is too large for a 64-bit float")
    return value


def _check_shape(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, and strings (keys too) holding a NUL character or
    a lone surrogate (`\\ud800`–`\\udfff` unpaired), which no text of a filing can hold."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise _JsonShape(f"arrays and objects are nested more than {MAX_DEPTH} deep")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((value, depth + 1))


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise _JsonShape("a string holds a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _JsonShape("a string holds a lone surrogate") from None


def _address(data: dict[str, Any]) -> tuple[str | None, str | None]:
    code, reference = data.get("filer_code"), data.get("filing_reference")
    code_ok = isinstance(code, str) and _FILER_CODE.fullmatch(code) is not None
    ref_ok = isinstance(reference, str) and _FILING_REFERENCE.fullmatch(reference) is not None
    return (code if code_ok else None, reference if ref_ok else None)


def validate(
    model: type[M], data: Any, context: dict[str, Any] | None = None
) -> tuple[M | None, list[Reason]]:
    """`model` validated from `data`, or None and the reasons (without input values)."""
    try:
        return model.model_validate(data, context=context), []
    except ValidationError as exc:
        reasons = reasons_from(exc)
    return None, reasons


def reasons_from(exc: ValidationError) -> list[Reason]:
    """The reasons of a pydantic ValidationError: paths and messages, never input values."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return [reason_for(e["type"], e["loc"], e["msg"]) for e in errors[:MAX_REASONS]]


def reason_for(error_type: str, loc: tuple[str | int, ...], message: str) -> Reason:
    """One reason from a pydantic error's type, location and message."""
    code = error_type if error_type in OWN_CODES else ReasonCode.INVALID.value
    field = ".".join(_loc_part(part) for part in loc)[:MAX_FIELD_CHARS] or None
    return Reason(code=code, field=field, message=message[:MAX_MESSAGE_CHARS])


def _loc_part(part: str | int) -> str:
    if isinstance(part, int) or _SAFE_NAME.fullmatch(part):
        return str(part)
    return "<key>"


def _reason(code: ReasonCode, message: str) -> Reason:
    return Reason(code=code.value, field=None, message=message)
