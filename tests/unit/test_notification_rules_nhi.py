"""The NHI enrolment reminder (DOMAIN §6), case by case: who is reminded, when, with whom, and
what becomes of a reminder when cover, a retraction or a death arrives. Dates by hand."""

from dataclasses import replace
from datetime import date
from typing import Any

from notification_streams.rules.facts import Cover, PersonFacts
from notification_streams.rules.nhi_reminder import (
    Loss,
    loss_stands,
    losses,
    may_elect_continuation,
    reminder_due,
)
from notification_streams.rules.reminders import (
    Delivery,
    Recipient,
    Reminder,
    living_recipients,
    settle,
)
from tests.unit.test_notification_rules_support import (
    NHI_TOKYO,
    OTHER_EMPLOYER,
    cover,
    d,
    lives,
    member,
    person,
    twentieth_day,
)

CHIYODA, SETAGAYA = "131016", "131121"
RETIRED = cover("employee_insurance", "2025-04-01", "2026-04-01")
HOME = (lives(CHIYODA, "2020-01-01"),)
HEADS = (member("h-1", "2020-01-01", heads=True),)
IN_H1 = (member("h-1", "2020-01-01"),)


def retiree(*covers: Cover, **kw: Any) -> PersonFacts:
    kw.setdefault("residences", HOME)
    kw.setdefault("households", HEADS)
    return person("taro", *(covers or (RETIRED,)), **kw)


def only(facts: PersonFacts) -> Loss:
    (loss,) = losses(facts)
    return loss


def due(facts: PersonFacts, today: str,
        householder: PersonFacts | None = None) -> Reminder | None:
    return reminder_due(facts, only(facts), d(today), householder, twentieth_day)


# --- the positive case -----------------------------------------------------------------


def test_a_retiree_without_other_cover_is_reminded_on_the_15th_day() -> None:
    taro = retiree()
    loss = only(taro)
    # DOMAIN §6: 14 days, loss date = day 1 (loss 4/1 → due 4/14); known unfiled on 4/15
    assert (loss.loss_date, loss.deadline, loss.fires_on) == (
        d("2026-04-01"), d("2026-04-14"), d("2026-04-15"))
    assert loss.why == "retirement"
    assert due(taro, "2026-04-14") is None  # not yet: the 14th day is still the person's
    reminder = due(taro, "2026-04-15")
    assert reminder is not None
    assert reminder.rule == "nhi_enrolment_reminder"
    assert (reminder.loss_date, reminder.deadline) == (d("2026-04-01"), d("2026-04-14"))
    # the person heads the household: addressed once; the municipality of 4/1 gets a notice
    assert reminder.recipients == (
        Recipient("person", relay_id="taro"),
        Recipient("municipality_nhi", municipality_code=CHIYODA),
    )
    assert reminder.municipality == CHIYODA
    # a year as an insured person: 任意継続 named; 20 days from 4/1 → 4/20 (健保法37条)
    assert reminder.continuation_named
    assert reminder.continuation_last_day == d("2026-04-20")
    assert settle(None, reminder, True) is Delivery.SEND


def test_the_same_facts_give_the_same_notice_id_and_each_recipient_its_own_copy_id() -> None:
    first, again = due(retiree(), "2026-04-15"), due(retiree(), "2026-05-30")
    assert first is not None and again is not None
    assert first.notice_id == again.notice_id
    ids = {first.copy_id(r) for r in first.recipients}
    assert len(ids) == len(first.recipients) and first.notice_id not in ids


def test_the_municipality_is_the_one_of_the_address_on_the_loss_date() -> None:
    moved = (lives(CHIYODA, "2020-01-01", "2026-04-01"), lives(SETAGAYA, "2026-04-01"))
    reminder = due(retiree(residences=moved), "2026-04-15")
    assert reminder is not None and reminder.municipality == SETAGAYA
    moved_later = (lives(CHIYODA, "2020-01-01", "2026-04-02"), lives(SETAGAYA, "2026-04-02"))
    reminder = due(retiree(residences=moved_later), "2026-04-15")
    assert reminder is not None and reminder.municipality == CHIYODA


def test_no_residence_known_on_the_loss_date_leaves_the_municipality_for_operations() -> None:
    reminder = due(retiree(residences=()), "2026-04-15")
    assert reminder is not None
    assert reminder.municipality is None
    assert reminder.recipients == (Recipient("person", relay_id="taro"),)


def test_a_loss_at_the_year_end_falls_due_in_january() -> None:
    taro = retiree(cover("employee_insurance", "2025-04-01", "2026-12-31"))
    # DOMAIN §6: 12/31 is day 1 → day 14 is 2027-01-13, known unfiled on 1/14
    assert (only(taro).deadline, only(taro).fires_on) == (d("2027-01-13"), d("2027-01-14"))
    assert due(taro, "2027-01-13") is None
    assert due(taro, "2027-01-14") is not None


def test_a_loss_around_the_leap_day() -> None:
    taro = retiree(cover("employee_insurance", "2025-04-01", "2028-02-20"))
    # 2028 is a leap year: 2/20 day 1 → 2/29 day 10 → 3/4 day 14
    assert only(taro).deadline == d("2028-03-04")
    reminder = due(taro, "2028-03-05")
    assert reminder is not None and reminder.continuation_last_day == d("2028-03-10")


def test_a_loss_filed_after_its_deadline_still_reminds() -> None:
    # the loss reaches the relay in June: the obligation is the same, only later
    reminder = due(retiree(), "2026-06-20")
    assert reminder is not None and reminder.deadline == d("2026-04-14")


# --- cover cancels, resolves, or leaves a gap ----------------------------------------------


def test_nhi_filed_before_the_deadline_cancels_the_pending_reminder() -> None:
    taro = retiree(RETIRED, cover("nhi", "2026-04-01", insurer=NHI_TOKYO))
    assert due(taro, "2026-04-15") is None
    assert settle(None, None, True) is Delivery.CANCEL


def test_a_new_job_from_the_loss_date_cancels_it() -> None:
    taro = retiree(RETIRED, cover("employee_insurance", "2026-04-01", insurer=OTHER_EMPLOYER))
    assert due(taro, "2026-04-15") is None


def test_a_late_nhi_filing_effective_from_the_loss_date_resolves_the_sent_reminder() -> None:
    sent = due(retiree(), "2026-04-15")
    later = retiree(RETIRED, cover("nhi", "2026-04-01", insurer=NHI_TOKYO))
    now = due(later, "2026-05-02")
    assert now is None
    assert settle(sent, now, loss_stands(later, only(later))) is Delivery.RESOLVED


def test_a_late_voluntary_continuation_from_the_loss_date_resolves_it() -> None:
    sent = due(retiree(), "2026-04-15")
    elected = cover("employee_insurance", "2026-04-01", capacity="voluntary_continuation")
    later = retiree(RETIRED, elected)
    assert settle(sent, due(later, "2026-04-21"), True) is Delivery.RESOLVED


def test_a_late_filed_acquisition_effective_before_the_loss_date_resolves_it() -> None:
    # late filing: a new job from 3/20 filed in May; the person was never without cover
    sent = due(retiree(), "2026-04-15")
    later = retiree(RETIRED, cover("employee_insurance", "2026-03-20", insurer=OTHER_EMPLOYER))
    assert settle(sent, due(later, "2026-05-10"), True) is Delivery.RESOLVED


def test_cover_starting_after_the_loss_date_leaves_the_gap_and_the_reminder_stands() -> None:
    # NHI is compulsory from the loss date: 4/1–4/9 still has to be filed
    sent = due(retiree(), "2026-04-15")
    later = retiree(RETIRED, cover("employee_insurance", "2026-04-10", insurer=OTHER_EMPLOYER))
    now = due(later, "2026-04-20")
    assert now is not None and now.notice_id == sent.notice_id
    assert settle(sent, now, True) is Delivery.NOTHING


def test_a_retracted_loss_withdraws_the_sent_reminder() -> None:
    sent = due(retiree(), "2026-04-15")
    reopened = retiree(cover("employee_insurance", "2025-04-01"))
    assert losses(reopened) == ()
    assert reminder_due(reopened, only(retiree()), d("2026-04-20"), None, twentieth_day) is None
    assert not loss_stands(reopened, only(retiree()))
    assert settle(sent, None, False) is Delivery.WITHDRAWN


def test_a_moved_loss_withdraws_the_old_reminder_and_makes_a_new_one() -> None:
    sent = due(retiree(), "2026-04-15")
    moved = retiree(cover("employee_insurance", "2025-04-01", "2026-05-01"))
    assert not loss_stands(moved, only(retiree()))
    assert settle(sent, None, False) is Delivery.WITHDRAWN
    new = due(moved, "2026-05-15")
    assert new is not None and new.deadline == d("2026-05-14")
    assert new.notice_id != sent.notice_id


def test_a_loss_retracted_before_it_fired_is_cancelled() -> None:
    assert settle(None, None, False) is Delivery.CANCEL


# --- dependants -------------------------------------------------------------------------


def dependant(because: str, valid_to: str, **kw: Any) -> PersonFacts:
    kept = cover("employee_insurance", "2025-04-01", valid_to, capacity="dependant",
                 insured="taro", because=because)
    kw.setdefault("residences", HOME)
    kw.setdefault("households", IN_H1)
    return person("hanako", kept, birth="1982-01-01", **kw)


def test_a_dependant_of_a_retiree_is_reminded_without_continuation() -> None:
    hanako = dependant("insured_person_lost", "2026-04-01")
    taro = retiree()
    assert only(hanako).why == "insured_person_lost"
    reminder = due(hanako, "2026-04-15", householder=taro)
    assert reminder is not None
    # DOMAIN §6: dependants need the same reminder; the householder (taro) is addressed too
    assert reminder.recipients == (
        Recipient("person", relay_id="hanako"),
        Recipient("householder", relay_id="taro"),
        Recipient("municipality_nhi", municipality_code=CHIYODA),
    )
    # 健保法3条4項: 任意継続 is the insured person's; a dependant is never offered it
    assert not reminder.continuation_named and reminder.continuation_last_day is None


def test_a_dependant_of_an_insured_person_who_died_is_reminded_and_the_dead_is_not() -> None:
    # the insured person died 3/31: their cover ends 4/1 (death + 1), their dependant's too
    taro = retiree(cover("employee_insurance", "2025-04-01", "2026-04-01", because="death"),
                   died="2026-03-31")
    assert losses(taro) == ()
    hanako = dependant("insured_person_died", "2026-04-01",
                       households=(member("h-1", "2020-01-01", heads=True),))
    reminder = due(hanako, "2026-04-15", householder=taro)
    assert reminder is not None and reminder.why == "insured_person_died"
    assert [r.relay_id for r in reminder.recipients] == ["hanako", None]
    assert not reminder.continuation_named


def test_a_dependant_of_an_insured_person_moving_to_the_75_plus_scheme_is_reminded() -> None:
    # born 1951-06-01: the 75+ scheme from 2026-06-01, employee cover ends that day (§5b)
    taro = person("taro", cover("employee_insurance", "2010-04-01", "2026-06-01",
                                because="late_stage_transfer"),
                  cover("late_stage_elderly", "2026-06-01", insurer="39131015"),
                  birth="1951-06-01", residences=HOME, households=HEADS)
    assert losses(taro) == ()
    hanako = dependant("insured_late_stage_transfer", "2026-06-01")
    reminder = due(hanako, "2026-06-15", householder=taro)
    assert reminder is not None
    assert (reminder.deadline, reminder.why) == (d("2026-06-14"), "insured_late_stage_transfer")
    assert not reminder.continuation_named


def test_the_insured_persons_election_keeps_the_dependants_cover_so_it_resolves() -> None:
    hanako = dependant("insured_person_lost", "2026-04-01")
    sent = due(hanako, "2026-04-15", householder=retiree())
    loss = only(hanako)
    # the election reopens the dependant's link (DOMAIN §6): no loss in her facts any more
    kept = person("hanako", cover("employee_insurance", "2025-04-01", capacity="dependant",
                                  insured="taro"), birth="1982-01-01")
    elected = retiree(RETIRED, cover("employee_insurance", "2026-04-01",
                                     capacity="voluntary_continuation"))
    now = reminder_due(kept, loss, d("2026-04-21"), None, twentieth_day)
    assert now is None
    assert loss_stands(kept, loss, insured=elected)
    assert settle(sent, now, loss_stands(kept, loss, insured=elected)) is Delivery.RESOLVED
    # without the insured person's facts the vanished loss reads as a retraction
    assert settle(sent, None, loss_stands(kept, loss)) is Delivery.WITHDRAWN


def test_a_dependant_removed_on_their_own_is_reminded() -> None:
    hanako = dependant("loss", "2026-04-01")
    assert only(hanako).why == "dependant_removed"
    assert due(hanako, "2026-04-15") is not None


# --- households ------------------------------------------------------------------------


def test_a_dead_householder_is_not_addressed() -> None:
    taro = retiree(died="2026-04-10")
    hanako = dependant("insured_person_lost", "2026-04-01")
    reminder = due(hanako, "2026-04-15", householder=taro)
    assert reminder is not None
    assert Recipient("householder", relay_id="taro") not in reminder.recipients


def test_a_householder_of_another_household_is_not_addressed() -> None:
    elsewhere = person("jiro", households=(member("h-2", "2020-01-01", heads=True),))
    reminder = due(dependant("insured_person_lost", "2026-04-01"), "2026-04-15",
                   householder=elsewhere)
    assert reminder is not None
    assert [r.role for r in reminder.recipients] == ["person", "municipality_nhi"]


def test_the_householder_when_the_reminder_fires_is_addressed() -> None:
    # taro headed h-1 until 4/2; from then on hanako heads it herself: on 4/15, when the
    # reminder fires and the filing is still to be made, she is her own householder, so no
    # other householder is told (国民健康保険法9条1項: the householder files)
    taro = person("taro", households=(member("h-1", "2020-01-01", heads=True,
                                             valid_to="2026-04-02"),))
    hanako = dependant("insured_person_lost", "2026-04-01", households=(
        member("h-1", "2020-01-01", valid_to="2026-04-02"),
        member("h-1", "2026-04-02", heads=True)))
    reminder = due(hanako, "2026-04-15", householder=taro)
    assert reminder is not None
    assert [r.role for r in reminder.recipients] == ["person", "municipality_nhi"]


def test_the_person_given_as_their_own_householder_is_addressed_once() -> None:
    taro = retiree()
    reminder = due(taro, "2026-04-15", householder=taro)
    assert reminder is not None
    assert [r.relay_id for r in reminder.recipients].count("taro") == 1


# --- 任意継続 named or not ------------------------------------------------------------------


def test_continuation_is_not_named_after_less_than_two_months_as_insured() -> None:
    # 健保法3条4項: two months up to 3/31; from 2/2 it is a day short (two months before 4/1: 2/1)
    short = retiree(cover("employee_insurance", "2026-02-02", "2026-04-01"))
    reminder = due(short, "2026-04-15")
    assert reminder is not None and not reminder.continuation_named
    exactly = retiree(cover("employee_insurance", "2026-02-01", "2026-04-01"))
    reminder = due(exactly, "2026-04-15")
    assert reminder is not None and reminder.continuation_named


def test_unbroken_cover_at_two_insurers_counts_toward_the_two_months() -> None:
    taro = retiree(cover("employee_insurance", "2026-01-05", "2026-03-01", insurer=OTHER_EMPLOYER),
                   cover("employee_insurance", "2026-03-01", "2026-04-01"))
    (loss,) = losses(taro)[1:]
    assert loss.loss_date == d("2026-04-01")
    assert may_elect_continuation(taro, loss)


def test_months_as_a_dependant_do_not_count() -> None:
    taro = retiree(cover("employee_insurance", "2025-01-01", "2026-03-01", capacity="dependant",
                         insured="father", because="insured_person_lost"),
                   cover("employee_insurance", "2026-03-01", "2026-04-01"))
    (_, loss) = losses(taro)
    assert not may_elect_continuation(taro, loss)


def test_the_end_of_continuation_itself_reminds_without_naming_it_again() -> None:
    # 任意継続 ended on request (健保法38条7号) on 2026-06-01: NHI from then, no second election
    taro = retiree(cover("employee_insurance", "2024-04-01", "2025-04-01"),
                   cover("employee_insurance", "2025-04-01", "2026-06-01",
                         capacity="voluntary_continuation", because="request"))
    loss = losses(taro)[-1]
    assert (loss.loss_date, loss.why) == (d("2026-06-01"), "request")
    reminder = reminder_due(taro, loss, d("2026-06-15"), None, twentieth_day)
    assert reminder is not None and not reminder.continuation_named


def test_continuation_ended_because_insured_elsewhere_is_no_loss() -> None:
    taro = retiree(cover("employee_insurance", "2025-04-01", "2026-02-01",
                         capacity="voluntary_continuation", because="insured_elsewhere"),
                   cover("employee_insurance", "2026-02-01", insurer=OTHER_EMPLOYER))
    assert losses(taro) == ()


# --- death ------------------------------------------------------------------------------


def test_no_reminder_is_addressed_to_a_person_whose_death_is_known() -> None:
    # died after the loss, before the reminder: NHI covered 4/1 to the death, so the
    # municipality (and a living householder) are still told; never the dead person, and
    # 任意継続 is named to nobody
    for died in ("2026-04-10", "2026-09-01"):
        reminder = due(retiree(died=died), "2026-04-15")
        assert reminder is not None
        assert [r.role for r in reminder.recipients] == ["municipality_nhi"]
        assert not reminder.continuation_named
    alone = retiree(died="2026-04-10", residences=())
    assert due(alone, "2026-04-15") is None, "nobody left to tell"
    assert settle(None, None, True, person_died=True) is Delivery.CANCEL


def test_the_persons_own_death_is_no_loss() -> None:
    taro = retiree(cover("employee_insurance", "2025-04-01", "2026-04-01", because="death"),
                   died="2026-03-31")
    assert losses(taro) == ()


def test_a_death_learnt_after_sending_sends_nothing_more_to_the_dead() -> None:
    hanako = dependant("insured_person_lost", "2026-04-01")
    sent = due(hanako, "2026-04-15", householder=retiree())
    assert sent is not None
    dead = replace(hanako, died_on=d("2026-04-20"))
    assert settle(sent, due(dead, "2026-04-21"), True, person_died=True) is Delivery.NOTHING
    # a later withdrawal goes to the living recipients only
    assert [r.relay_id for r in living_recipients(sent, {"hanako"})] == ["taro", None]


def test_the_persons_own_move_to_the_75_plus_scheme_is_no_loss() -> None:
    taro = person("taro", cover("employee_insurance", "2010-04-01", "2026-06-01",
                                because="late_stage_transfer"), birth="1951-06-01")
    assert losses(taro) == ()


# --- bad input ---------------------------------------------------------------------------


def test_two_covers_ending_on_one_day_make_one_loss_preferring_the_insured_one() -> None:
    taro = retiree(cover("employee_insurance", "2025-04-01", "2026-04-01", insurer=OTHER_EMPLOYER,
                         capacity="dependant", insured="x", because="insured_person_lost"),
                   RETIRED)
    assert only(taro).cover == RETIRED


def test_contradicting_facts_invent_no_notice() -> None:
    overlapping = retiree(RETIRED, cover("employee_insurance", "2026-03-01", "2026-05-01"))
    reversed_ = retiree(cover("employee_insurance", "2026-04-01", "2026-03-01"))
    far = retiree(cover("employee_insurance", "2025-04-01", "9999-12-31"))
    ancient = retiree(cover("employee_insurance", "0001-01-01", "2026-04-01"))
    for facts in (overlapping, reversed_, far, ancient):
        assert losses(facts) == ()
        assert reminder_due(facts, only(retiree()), d("2026-04-15"), None, twentieth_day) is None


def test_a_loss_of_a_person_with_no_cover_invents_nothing() -> None:
    nobody = person("ghost")
    assert losses(nobody) == ()
    assert reminder_due(nobody, only(retiree()), d("2026-04-15"), None, twentieth_day) is None


def test_a_cover_ended_on_its_first_day_is_no_loss() -> None:
    assert losses(retiree(cover("employee_insurance", "2026-04-01", "2026-04-01"))) == ()


def test_the_loss_passed_in_is_read_again_from_the_facts() -> None:
    stale = replace(only(retiree()), why="something else")
    reminder = reminder_due(retiree(), stale, date(2026, 4, 15), None, twentieth_day)
    assert reminder is not None and reminder.why == "retirement"


# --- a late filing that changes what a sent reminder says corrects it --------------------------


def test_a_late_move_filing_does_not_leave_the_reminder_at_the_wrong_municipality() -> None:
    """Sent on 4/15 to Chiyoda's NHI; a 転入 filed late shows the person in Setagaya from 3/20,
    so on the loss date. The facts now call for Setagaya: the sent copies are corrected (void)
    and the reminder goes to Setagaya, so Chiyoda keeps no wrong notice (a late filing must not
    leave a wrong reminder standing)."""
    sent = due(retiree(), "2026-04-15")
    moved = (lives(CHIYODA, "2020-01-01", "2026-03-20"), lives(SETAGAYA, "2026-03-20"))
    now = due(retiree(residences=moved), "2026-04-20")
    assert sent is not None and now is not None
    assert (sent.municipality, now.municipality) == (CHIYODA, SETAGAYA)
    assert settle(sent, now, True) is Delivery.CORRECTED


def test_a_late_filing_that_removes_eligibility_does_not_leave_continuation_offered() -> None:
    """Sent naming 任意継続 (a year as insured); a late correction shows cover from 2/2 only,
    a day short of two months: the facts no longer name it, so the sent offer is corrected."""
    sent = due(retiree(), "2026-04-15")
    short = retiree(cover("employee_insurance", "2026-02-02", "2026-04-01"))
    now = due(short, "2026-04-20")
    assert sent is not None and now is not None
    assert sent.continuation_named and not now.continuation_named
    assert settle(sent, now, True) is Delivery.CORRECTED
