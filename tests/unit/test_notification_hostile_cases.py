"""Hand-made cases a hostile review found wrong, now right: a retiree dead before the reminder
still leaves the householder and the municipality told, the householder is the one heading the
household when the reminder fires, and a double-enrolment notice carries its list date."""

from __future__ import annotations

from datetime import date

from notification_streams.casework import Others, judge_double_enrolment
from notification_streams.rules import nhi_reminder
from notification_streams.rules.double_enrolment import ListEntry, StoredList, listed
from notification_streams.rules.reminders import HOUSEHOLDER, MUNICIPALITY_NHI, PERSON
from tests.unit.test_notification_rules_support import (
    KYOKAI,
    NHI_TOKYO,
    cover,
    d,
    lives,
    member,
    person,
    twentieth_day,
)

CHIYODA = "131016"


def _roles(reminder: nhi_reminder.Reminder | None) -> list[tuple[str, str | None]]:
    assert reminder is not None, "a reminder is due"
    return [(r.role, r.relay_id or r.municipality_code) for r in reminder.recipients]


def test_a_retiree_who_dies_before_the_reminder_still_leaves_the_householder_reminded() -> None:
    # employee cover lost 2026-04-01 (retirement), dies 2026-04-10; NHI covered 4/1-4/10,
    # due by 4/14; the reminder fires 4/15 to the (living) householder and Chiyoda's NHI desk,
    # never to the dead person.
    retiree = person("R", cover("employee_insurance", "2025-04-01", "2026-04-01"),
                     residences=(lives(CHIYODA, "2020-01-01"),),
                     households=(member("HH", "2020-01-01"),), died="2026-04-10")
    head = person("A", households=(member("HH", "2020-01-01", heads=True),))
    loss = nhi_reminder.losses(retiree)[0]
    due = nhi_reminder.reminder_due(retiree, loss, d("2026-04-15"), head, twentieth_day)
    assert _roles(due) == [(HOUSEHOLDER, "A"), (MUNICIPALITY_NHI, CHIYODA)]


def test_the_householder_who_heads_the_household_when_the_reminder_fires_is_told() -> None:
    # A heads HH until dying on 4/5 (membership ends 4/6); B heads HH from 4/6. The loss is on
    # 4/1, the reminder fires 4/15: the living householder then is B.
    worker = person("R", cover("employee_insurance", "2025-04-01", "2026-04-01"),
                    residences=(lives(CHIYODA, "2020-01-01"),),
                    households=(member("HH", "2020-01-01"),))
    new_head = person("B", households=(member("HH", "2020-01-01", valid_to="2026-04-06"),
                                       member("HH", "2026-04-06", heads=True)))
    loss = nhi_reminder.losses(worker)[0]
    due = nhi_reminder.reminder_due(worker, loss, d("2026-04-15"), new_head, twentieth_day)
    assert (HOUSEHOLDER, "B") in _roles(due)


def test_a_first_double_enrolment_notice_is_keyed_by_its_list_date() -> None:
    kuro = person("K", cover("nhi", "2025-01-01", insurer=NHI_TOKYO),
                  cover("employee_insurance", "2025-04-10"))
    lists = [StoredList(day, listed(kuro, day)) for day in (d("2025-05-01"), d("2025-06-01"))]
    assert all(isinstance(x.entry, ListEntry) for x in lists)
    others = Others(facts=lambda rid: None, householder=lambda p, day: None)
    out = judge_double_enrolment(kuro, lists, [], d("2025-06-03"), others)
    assert [n.step for n in out.notices] == ["first_notice"]
    assert out.notices[0].key_date == date(2025, 6, 1)
    assert out.notices[0].recipients[0].role == PERSON
    assert KYOKAI in {r.insurer_number for r in out.notices[0].recipients}
