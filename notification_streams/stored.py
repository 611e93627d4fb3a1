"""The notification rules' values as the processor stores them (JSON in PostgreSQL) and back:
a person's facts, a sent reminder with the cover whose loss it is about, a list entry.

Exact round trips (tests: test_notification_stored); dates as ISO strings, ids as strings."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date
from typing import Any
from uuid import UUID

from notification_streams.rules.double_enrolment import ListEntry
from notification_streams.rules.facts import Cover, Folded, Household, PersonFacts, Residence
from notification_streams.rules.reminders import Recipient, Reminder

Json = dict[str, Any]


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _dated(cls: type, raw: Json) -> Any:
    """`cls` from `raw`, every field named valid_from/valid_to/…_on/…_date read as a date."""
    kwargs = {}
    for f in fields(cls):
        value = raw.get(f.name)
        if value is not None and ("date" in f.name or f.name.startswith("valid_")
                                  or f.name.endswith("_on") or f.name.endswith("_day")
                                  or f.name.endswith("_from") or f.name == "deadline"):
            value = date.fromisoformat(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def facts_json(facts: PersonFacts) -> Json:
    out: Json = _plain({f.name: getattr(facts, f.name) for f in fields(facts)
                        if f.name not in ("covers", "residences", "households", "folded")})
    out["covers"] = [_plain(asdict(c)) for c in facts.covers]
    out["residences"] = [_plain(asdict(r)) for r in facts.residences]
    out["households"] = [_plain(asdict(h)) for h in facts.households]
    seen = facts.folded
    out["folded"] = {"person_version": seen.person_version, "link_version": seen.link_version,
                     "link_ids": sorted(str(i) for i in seen.link_ids),
                     "removed_at": seen.removed_at}
    return out


def facts_from(raw: Json) -> PersonFacts:
    seen = raw["folded"]
    return PersonFacts(
        relay_id=raw["relay_id"], birth_date=_day(raw.get("birth_date")),
        died_on=_day(raw.get("died_on")),
        covers=tuple(_dated(Cover, c) for c in raw["covers"]),
        residences=tuple(_dated(Residence, r) for r in raw["residences"]),
        households=tuple(_dated(Household, h) for h in raw["households"]),
        folded=Folded(person_version=seen["person_version"], link_version=seen["link_version"],
                      link_ids=frozenset(UUID(i) for i in seen["link_ids"]),
                      removed_at=seen["removed_at"]))


def reminder_json(reminder: Reminder, cover: Cover | None) -> Json:
    out: Json = _plain({f.name: getattr(reminder, f.name) for f in fields(reminder)
                        if f.name != "recipients"})
    out["recipients"] = [asdict(r) for r in reminder.recipients]
    out["cover"] = None if cover is None else _plain(asdict(cover))
    return out


def reminder_from(raw: Json) -> tuple[Reminder, Cover | None]:
    kept = {k: v for k, v in raw.items() if k not in ("recipients", "cover")}
    reminder = _dated(Reminder, {**kept, "recipients": None})
    reminder = Reminder(**{**{f.name: getattr(reminder, f.name) for f in fields(Reminder)},
                           "notice_id": UUID(raw["notice_id"]),
                           "recipients": tuple(Recipient(**r) for r in raw["recipients"])})
    cover = None if raw.get("cover") is None else _dated(Cover, raw["cover"])
    return reminder, cover


def entry_json(entry: ListEntry) -> Json:
    return _plain(asdict(entry))


def entry_from(raw: Json) -> ListEntry:
    return _dated(ListEntry, raw)
