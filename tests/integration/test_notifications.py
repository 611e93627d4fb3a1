"""The notifications processor on the real stack: hand-made cases, the notices expected written
out by hand with the rule and its source (DOMAIN §6, docs/notifications.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from schemas.common import PensionCategory, Sex
from schemas.notices import NoticeStep, RecipientRole, RelayNotice
from schemas.topics import NOTICES
from tests.integration.notifications_env import (
    INSURER,
    MUNICIPALITY,
    NHI_INSURER,
    OTHER_INSURER,
    Resident,
    at,
    dependant,
    hire,
    inbox,
    loss,
    nhi_acquired,
    participant_notices,
    pending_deadlines,
    pension,
    pension_number_assigned,
    registration,
    relay_id_of,
    resident,
    retraction,
    run_relay,
    steps,
)
from tests.integration.relay_env import RelayEnv
from trust.pki import Participant

pytestmark = [pytest.mark.integration, pytest.mark.participant_streams(NOTICES)]


def by_person(rows: list[dict[str, Any]], relay_id: str) -> list[tuple[str, str, str]]:
    return sorted(steps([r for r in rows if r["relay_id"] == relay_id]))


async def test_reminders_are_cancelled_resolved_withdrawn_and_reach_dependants_across_restarts(
    relay: RelayEnv,
) -> None:
    """Four households of Chiyoda, each a householder and one who works, all hired 2025-04-01
    at one insurer and losing that cover on 9/1 (filed 9/3): the NHI filing is due by 9/14, the
    reminder fires on 9/15 (nhi_reminder, DOMAIN §6, day 1 = the loss date).

    * Kenji (11) is hired by another insurer from 9/1 itself, filed 9/10, before the deadline:
      medical cover holds the loss date, so no reminder at all (`reminders.settle`: CANCEL).
    * Miki (21) gets the reminder on 9/15, then a hire from 9/1 filed late on 9/20: a
      "resolved" follow-up on the next clock step to the same recipients (Miki, her householder
      (20), Chiyoda), each copy referring to that recipient's copy of the reminder.
    * Nao (31) gets the reminder on 9/15, then the employer retracts the loss on 9/20 (取消):
      the loss never was, so a "withdrawn" follow-up to the same recipients.
    * Goro (41) is his household's householder, his wife Hanako (42) his dependant from 4/1:
      her dependant cover ends with his retirement on 9/1 (DOMAIN §6: a dependant's cover ends
      on the insured person's loss date), so she is reminded too (why: insured_person_lost),
      Goro as householder with her; 任意継続 (5 months insured, 健保法3条4項) is named to Goro
      alone, to be elected by 9/22 (9/20 Saturday, 9/21 Sunday: 健保法37条), never to her.

    The processors also stop and start again: run once on 9/10, after every loss and the
    cancelling hire, when the five deadlines wait in notification_deadlines (due 9/15, Kenji's
    too: it is judged and cancelled on its day), then once at the end: one reminder each.
    Hanako's dependant cover, when it opened, was bounded by Goro's 75th birthday (2050-06-06,
    DOMAIN §5b), a loss of its own whose deadline (due 2050-06-20) stays pending: it is judged
    on its day and, her cover having ended on 9/1, sends nothing."""
    born = date(1965, 2, 2)
    heads = {k: resident(k, born) for k in (10, 20, 30)}
    kenji, miki = resident(11, date(1990, 1, 1)), resident(21, date(1991, 1, 1), Sex.FEMALE)
    nao, goro = resident(31, date(1992, 1, 1)), resident(41, date(1975, 6, 6))
    hanako = resident(42, date(1978, 8, 8), Sex.FEMALE)
    workers = {11: kenji, 21: miki, 31: nao, 41: goro}
    await relay.tick(at(date(2025, 1, 5)))
    await relay.publish([
        *(registration(h, f"HH-{k}", True) for k, h in heads.items()),
        *(registration(w, f"HH-{k - 1}", False) for k, w in workers.items() if k != 41),
        registration(goro, "HH-40", True), registration(hanako, "HH-40", False)])
    await relay.tick(at(date(2025, 4, 5)))
    await relay.publish([hire(k, w, date(2025, 4, 1)) for k, w in workers.items()])
    await relay.tick(at(date(2025, 4, 6)))
    await relay.publish([dependant(41, goro, hanako, date(2025, 4, 1))])
    await relay.tick(at(date(2025, 9, 4)))
    lost = {k: loss(k, w, date(2025, 9, 1)) for k, w in workers.items()}
    await relay.publish(list(lost.values()))
    await relay.tick(at(date(2025, 9, 10)))
    await relay.publish([hire(111, kenji, date(2025, 9, 1), filed=date(2025, 9, 10),
                              insurer=OTHER_INSURER)])
    await relay.tick(at(date(2025, 9, 10)) + timedelta(hours=1))
    await run_relay(relay)

    ids = {k: await relay_id_of(relay, w) for k, w in
           {**heads, **workers, 42: hanako}.items()}
    reminder, key = "nhi_enrolment_reminder", date(2025, 9, 1)
    later = (ids[42], reminder, date(2050, 6, 6), date(2050, 6, 20))
    assert await pending_deadlines(relay) == sorted(
        [*((ids[k], reminder, key, date(2025, 9, 15)) for k in (11, 21, 31, 41, 42)), later])
    assert await inbox(relay) == []

    await relay.tick(at(date(2025, 9, 14)))
    await relay.tick(at(date(2025, 9, 15)))
    await relay.tick(at(date(2025, 9, 20)))
    await relay.publish([hire(121, miki, date(2025, 9, 1), filed=date(2025, 9, 20),
                              insurer=OTHER_INSURER),
                         retraction(lost[31], filed=date(2025, 9, 20))])
    await relay.tick(at(date(2025, 9, 21)))
    await relay.tick(at(date(2025, 9, 21)) + timedelta(hours=1))
    await run_relay(relay)

    rows = await inbox(relay)
    assert await pending_deadlines(relay) == [later]
    assert by_person(rows, ids[10]) == by_person(rows, ids[11]) == []
    for person, head, follow_up in ((21, 20, "resolved"), (31, 30, "withdrawn")):
        assert by_person(rows, ids[person]) == [(reminder, "reminder", "person"),
                                                (reminder, follow_up, "person")]
        assert by_person(rows, ids[head]) == [(reminder, "reminder", "householder"),
                                              (reminder, follow_up, "householder")]
        for rid in (ids[person], ids[head]):
            sent, then = sorted((r for r in rows if r["relay_id"] == rid),
                                key=lambda r: r["relay_time"])
            assert sent["relay_time"] == at(date(2025, 9, 15))
            assert then["relay_time"] == at(date(2025, 9, 21))
            assert sent["refers_to"] is None and then["refers_to"] == sent["copy_id"]
            assert then["copy_id"] != sent["copy_id"]
            assert (then["key_date"], then["deadline"]) == (key, date(2025, 9, 14))
    assert by_person(rows, ids[41]) == [(reminder, "reminder", "householder"),
                                        (reminder, "reminder", "person")]
    assert by_person(rows, ids[42]) == [(reminder, "reminder", "person")]
    goro_own = next(r for r in rows if r["relay_id"] == ids[41] and r["body"]["about_self"])
    hanako_own = next(r for r in rows if r["relay_id"] == ids[42])
    assert goro_own["body"]["why"] == "retirement"
    assert goro_own["body"]["continuation_last_day"] == "2025-09-22"
    assert hanako_own["body"]["why"] == "insured_person_lost"
    assert "continuation_last_day" not in hanako_own["body"]
    told = next(r for r in rows if r["relay_id"] == ids[41] and not r["body"]["about_self"])
    assert "continuation_last_day" not in told["body"]

    notices = await participant_notices(relay, Participant("municipality", MUNICIPALITY))
    by_number: dict[str, list[RelayNotice]] = {}
    for notice, number, _ in notices:
        by_number.setdefault(number, []).append(notice)
    assert sorted(by_number) == sorted(w.code for w in (miki, nao, goro, hanako))
    for who, follow_up in ((miki, NoticeStep.RESOLVED), (nao, NoticeStep.WITHDRAWN)):
        sent, then = sorted(by_number[who.code], key=lambda n: n.relay_time)
        assert (sent.step, then.step) == (NoticeStep.REMINDER, follow_up)
        assert sent.refers_to is None and then.refers_to == sent.notice_id
        assert then.recipient_role is RecipientRole.MUNICIPALITY_NHI
    for who in (goro, hanako):
        assert [n.step for n in by_number[who.code]] == [NoticeStep.REMINDER]
    # named to Chiyoda by its own number (the resident code, sealed) and a pseudonym of its
    # own: never the relay id; its copy's id is none of the persons' copy ids
    copies = {r["copy_id"] for r in rows}
    for notice, _, record_key in notices:
        assert all(rid.encode() not in record_key and rid not in notice.model_dump_json()
                   for rid in ids.values())
        assert notice.notice_id not in copies


async def test_double_enrolment_steps_and_the_age_milestones(relay: RelayEnv) -> None:
    """Kuro (51) is in Chiyoda's NHI from 2025-01-01 (Yoko, 50, his householder) and is hired
    on 4/10 at 01130012; the NHI is never lost. The monthly lists (00:00 on each 1st of relay
    time, double_enrolment, DOMAIN §6) name him from 5/1 (past 4/23, the new hire's 14 days):
    on 6/1, the second consecutive list with the same employee insurer, the first notice goes
    to Kuro, Yoko as householder, the employee insurer and the NHI insurer (131011), deadline
    7/2 (31 days counted from the day after it); still in both on 7/3, the second notice to the
    same four, deadline 7/17 (14 more days); still on 7/18, the escalation to the NHI insurer
    alone (removal is its decision), a record with no deadline.

    Saburo (61), born 1950-07-20, insured at 01130012 from 4/1 with his wife Fumiko (62, born
    1955) as his dependant, reaches 75 on 7/20: the 75+ scheme covers him from the birthday
    itself and his cover, and hers under him, end that day (DOMAIN §5b): the age_75 notice to
    him and the age_75_dependant notice to her, each naming 01130012 as the cover ending.
    Shiro (71), born 1960-07-21, reaches 65 the day before his birthday, 7/20 (年齢計算ニ関スル
    法律): the age_65 notice to him alone. Milestones go to the persons' inboxes only."""
    yoko, kuro = resident(50, date(1970, 3, 3), Sex.FEMALE), resident(51, date(1990, 5, 5))
    saburo = resident(61, date(1950, 7, 20))
    fumiko = resident(62, date(1955, 3, 3), Sex.FEMALE)
    shiro = resident(71, date(1960, 7, 21))
    await relay.tick(at(date(2025, 1, 5)))
    await relay.publish([
        registration(yoko, "HH-50", True), registration(kuro, "HH-50", False),
        nhi_acquired(51, kuro, date(2025, 1, 1)),
        registration(saburo, "HH-60", True), registration(fumiko, "HH-60", False),
        registration(shiro, "HH-70", True)])
    await relay.tick(at(date(2025, 4, 12)))
    await relay.publish([hire(51, kuro, date(2025, 4, 10)), hire(61, saburo, date(2025, 4, 1))])
    await relay.tick(at(date(2025, 4, 13)))
    await relay.publish([dependant(61, saburo, fumiko, date(2025, 4, 1))])
    for day in (date(2025, 5, 1), date(2025, 6, 1), date(2025, 7, 3), date(2025, 7, 18),
                date(2025, 7, 20)):
        await relay.tick(at(day))
    await relay.tick(at(date(2025, 7, 20)) + timedelta(hours=1))
    await run_relay(relay)

    ids = {k: await relay_id_of(relay, w) for k, w in
           {50: yoko, 51: kuro, 61: saburo, 62: fumiko, 71: shiro}.items()}
    rows = await inbox(relay)
    double = "double_enrolment"
    assert by_person(rows, ids[51]) == [(double, "first_notice", "person"),
                                        (double, "second_notice", "person")]
    assert by_person(rows, ids[50]) == [(double, "first_notice", "householder"),
                                        (double, "second_notice", "householder")]
    first, second = sorted((r for r in rows if r["relay_id"] == ids[51]),
                           key=lambda r: r["relay_time"])
    assert (first["relay_time"], first["key_date"], first["deadline"]) == (
        at(date(2025, 6, 1)), date(2025, 6, 1), date(2025, 7, 2))
    assert (second["relay_time"], second["key_date"], second["deadline"]) == (
        at(date(2025, 7, 3)), date(2025, 7, 1), date(2025, 7, 17)), "keyed by the last list"

    assert by_person(rows, ids[61]) == [("age_75", "milestone", "person")]
    assert by_person(rows, ids[62]) == [("age_75_dependant", "milestone", "person")]
    assert by_person(rows, ids[71]) == [("age_65", "milestone", "person")]
    for k, milestone in ((61, "age_75"), (62, "age_75"), (71, "age_65")):
        row = next(r for r in rows if r["relay_id"] == ids[k])
        assert (row["key_date"], row["deadline"]) == (date(2025, 7, 20), None)
        assert row["body"]["milestone"] == milestone
        assert row["body"]["ending"] == ([] if k == 71 else [INSURER])

    employee = await participant_notices(relay, Participant("insurer", INSURER))
    nhi = await participant_notices(relay, Participant("insurer", NHI_INSURER))
    assert {number for _, number, _ in [*employee, *nhi]} == {"notice|51|00"}, (
        "each insurer's own number for Kuro: symbol|number|branch as it issued it")
    assert [(n.step, n.recipient_role, n.deadline) for n, _, _ in employee] == [
        (NoticeStep.FIRST_NOTICE, RecipientRole.EMPLOYEE_INSURER, date(2025, 7, 2)),
        (NoticeStep.SECOND_NOTICE, RecipientRole.EMPLOYEE_INSURER, date(2025, 7, 17))]
    assert [(n.step, n.recipient_role, n.deadline) for n, _, _ in nhi] == [
        (NoticeStep.FIRST_NOTICE, RecipientRole.NHI_INSURER, date(2025, 7, 2)),
        (NoticeStep.SECOND_NOTICE, RecipientRole.NHI_INSURER, date(2025, 7, 17)),
        (NoticeStep.ESCALATION, RecipientRole.NHI_INSURER, None)]
    assert nhi[-1][0].relay_time == at(date(2025, 7, 18))
    assert await participant_notices(relay, Participant("municipality", MUNICIPALITY)) == []


async def test_the_national_pension_switch_for_retirees_and_their_type_3_spouses(
    relay: RelayEnv,
) -> None:
    """Employee pension (厚生年金) from 2025-04-01 for Taro (45), Jiro (35), Saburo (30),
    Shiro (40) and Goro (61); each loses it on 9/1 (filed by the Japan Pension Service on 9/3).
    Type 1 is filed within 14 days, the loss date day 1 (国民年金法12条, DOMAIN §6): due 9/14,
    reminded on 9/15 when no pension cover holds 9/1, to those aged 20–59 on the loss date
    (国民年金法7条1項1号, DOMAIN §5b).

    * Taro: reminded (why: retirement). His wife Hanako (43), his employee-insurance dependant
      and type 3 from 4/1, loses type 3 on 9/1 with him: reminded too (why: the spouse lost
      employee pension; 国民年金法7条1項3号 holds only while the spouse is type 2).
    * Jiro: type 1 from 9/1 filed on 9/10, in time: nothing (cancelled).
    * Saburo: reminded on 9/15, type 1 from 9/1 filed late on 9/20: resolved on 9/21.
    * Shiro: reminded on 9/15, the loss retracted (取消) on 9/20: withdrawn on 9/21.
    * Goro: 61 on the loss date, outside 20–59: nothing."""
    emp, t1, t3 = (PensionCategory.EMPLOYEE_PENSION, PensionCategory.NATIONAL_TYPE1,
                   PensionCategory.NATIONAL_TYPE3)
    taro, hanako = resident(81, date(1980, 2, 2)), resident(82, date(1982, 3, 3), Sex.FEMALE)
    jiro, saburo = resident(83, date(1990, 4, 4)), resident(84, date(1995, 5, 5))
    shiro, goro = resident(85, date(1985, 6, 6)), resident(86, date(1964, 1, 10))
    workers = (taro, jiro, saburo, shiro, goro)
    start, lost_on = date(2025, 4, 1), date(2025, 9, 1)
    await relay.tick(at(date(2025, 1, 5)))
    await relay.publish([registration(w, f"HP-{w.code}", True) for w in workers]
                        + [registration(hanako, f"HP-{taro.code}", False)])
    await relay.tick(at(date(2025, 1, 6)))
    await relay.publish([pension_number_assigned(w) for w in (*workers, hanako)])
    await relay.tick(at(date(2025, 4, 5)))
    await relay.publish([hire(81, taro, start), *(pension(w, emp, start) for w in workers),
                         dependant(81, taro, hanako, start), pension(hanako, t3, start)])
    await relay.tick(at(date(2025, 9, 4)))
    lost = {w.code: pension(w, emp, lost_on, lost=True) for w in workers}
    await relay.publish([*lost.values(), pension(hanako, t3, lost_on, lost=True)])
    await relay.tick(at(date(2025, 9, 10)))
    await relay.publish([pension(jiro, t1, lost_on, filed=date(2025, 9, 10))])
    await relay.tick(at(date(2025, 9, 15)))
    await relay.tick(at(date(2025, 9, 20)))
    await relay.publish([pension(saburo, t1, lost_on, filed=date(2025, 9, 20)),
                         retraction(lost[shiro.code], filed=date(2025, 9, 20))])
    await relay.tick(at(date(2025, 9, 21)))
    await relay.tick(at(date(2025, 9, 21)) + timedelta(hours=1))
    await run_relay(relay)

    rows = [r for r in await inbox(relay) if r["rule"] == "national_pension_switch"]
    ids = {w.code: await relay_id_of(relay, w) for w in (*workers, hanako)}

    def mine(who: Resident) -> list[tuple[str, datetime, str]]:
        return sorted((r["step"], r["relay_time"], r["body"]["why"]) for r in rows
                      if r["relay_id"] == ids[who.code])

    fired, later = at(date(2025, 9, 15)), at(date(2025, 9, 21))
    assert mine(taro) == [("reminder", fired, "retirement")]
    assert mine(hanako) == [("reminder", fired, "spouse_lost_employee_pension")]
    assert mine(jiro) == [] and mine(goro) == []
    assert mine(saburo) == [("reminder", fired, "retirement"), ("resolved", later, "retirement")]
    assert mine(shiro) == [("reminder", fired, "retirement"), ("withdrawn", later, "retirement")]
    assert all((r["key_date"], r["deadline"]) == (lost_on, date(2025, 9, 14)) for r in rows)
    assert {r["body"]["role"] for r in rows} == {"person"}, "the person alone is told"
