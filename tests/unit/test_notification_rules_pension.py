"""The National Pension switch reminder (DOMAIN §6, §5b): the retiree aged 20–59 and the
dependent spouse aged 20–59 whose type 3 ends with them. Dates and ages by hand."""

from dataclasses import replace
from typing import Any

from notification_streams.rules.facts import Cover, PersonFacts
from notification_streams.rules.pension_switch import PensionLoss, switch_due, switch_losses
from notification_streams.rules.reminders import Delivery, Recipient, Reminder, settle
from tests.unit.test_notification_rules_support import JPS, cover, d, person

WORKED = cover("employee_pension", "2010-04-01", "2026-04-01", insurer=JPS)


def retiree(*covers: Cover, **kw: Any) -> PersonFacts:
    return person("taro", *(covers or (WORKED,)), **kw)


def spouse(**kw: Any) -> PersonFacts:
    kw.setdefault("birth", "1982-01-01")
    type3 = cover("national_type3", "2012-01-01", "2026-04-01", insurer=JPS, pension_type=3,
                  spouse="taro", because="loss")
    return person("hanako", type3, **kw)


def only(facts: PersonFacts) -> PensionLoss:
    (loss,) = switch_losses(facts)
    return loss


def due(facts: PersonFacts, today: str, retired: PersonFacts | None = None) -> Reminder | None:
    return switch_due(facts, only(facts), d(today), retired)


def test_a_retiree_of_working_age_is_reminded_to_switch_to_type_1() -> None:
    taro = retiree()
    # DOMAIN §6: also 14 days, loss date day 1 (4/1 → 4/14), known unfiled on 4/15
    assert (only(taro).deadline, only(taro).fires_on) == (d("2026-04-14"), d("2026-04-15"))
    assert due(taro, "2026-04-14") is None
    reminder = due(taro, "2026-04-15")
    assert reminder is not None
    assert reminder.rule == "national_pension_switch" and reminder.why == "retirement"
    assert reminder.recipients == (Recipient("person", relay_id="taro"),)
    assert settle(None, reminder, True) is Delivery.SEND


def test_type_1_filed_in_time_cancels_and_filed_late_resolves() -> None:
    filed = retiree(WORKED, cover("national_type1", "2026-04-01", insurer=JPS, pension_type=1))
    assert due(filed, "2026-04-15") is None
    assert settle(None, None, True) is Delivery.CANCEL
    sent = due(retiree(), "2026-04-15")
    assert settle(sent, due(filed, "2026-05-01"), True) is Delivery.RESOLVED


def test_a_new_employer_from_the_loss_date_is_pension_cover() -> None:
    taro = retiree(WORKED, cover("employee_pension", "2026-04-01", insurer=JPS))
    assert due(taro, "2026-04-15") is None


def test_a_retracted_loss_withdraws_it() -> None:
    sent = due(retiree(), "2026-04-15")
    reopened = retiree(cover("employee_pension", "2010-04-01", insurer=JPS))
    assert switch_losses(reopened) == ()
    assert switch_due(reopened, only(retiree()), d("2026-04-20")) is None
    assert settle(sent, None, False) is Delivery.WITHDRAWN


def test_the_ages_20_to_59_on_the_loss_date_under_japanese_age_law() -> None:
    # §5b: 60 is reached the day before the 60th birthday. Loss 2026-04-01:
    assert due(retiree(birth="1966-04-01"), "2026-04-15") is None  # 60 reached 3/31
    assert due(retiree(birth="1966-04-02"), "2026-04-15") is None  # 60 reached on 4/1
    assert due(retiree(birth="1966-04-03"), "2026-04-15") is not None  # 59 on 4/1
    assert due(retiree(birth="2006-04-02"), "2026-04-15") is not None  # 20 reached on 4/1
    assert due(retiree(birth="2006-04-03"), "2026-04-15") is None  # still 19


def test_an_unknown_birth_date_invents_no_reminder() -> None:
    assert due(retiree(birth=None), "2026-04-15") is None


def test_no_reminder_after_losing_employee_pension_at_70_or_by_death() -> None:
    at_70 = retiree(cover("employee_pension", "2010-04-01", "2026-04-01", insurer=JPS,
                          because="age_70"))
    by_death = retiree(cover("employee_pension", "2010-04-01", "2026-04-01", insurer=JPS,
                             because="death"), died="2026-03-31")
    assert switch_losses(at_70) == ()
    assert switch_losses(by_death) == ()


def test_never_to_a_dead_person() -> None:
    assert due(retiree(died="2026-04-05"), "2026-04-15") is None
    assert due(spouse(died="2026-05-01"), "2026-04-15", retiree()) is None


def test_the_dependent_spouse_whose_type_3_ends_with_the_retiree_is_reminded() -> None:
    hanako = spouse()
    reminder = due(hanako, "2026-04-15", retiree())
    assert reminder is not None
    assert reminder.why == "spouse_lost_employee_pension"
    assert (reminder.deadline, reminder.recipients) == (
        d("2026-04-14"), (Recipient("person", relay_id="hanako"),))


def test_the_spouse_needs_the_retirees_facts_to_show_the_same_loss() -> None:
    hanako = spouse()
    assert due(hanako, "2026-04-15") is None  # nothing says the type 3 ended *with* them
    still_working = retiree(cover("employee_pension", "2010-04-01", insurer=JPS))
    assert due(hanako, "2026-04-15", still_working) is None
    someone_else = person("jiro", WORKED)
    assert due(hanako, "2026-04-15", someone_else) is None


def test_the_widowed_spouse_whose_type_3_ends_with_the_death_is_reminded() -> None:
    """Taro dies on 3/31: his employee pension ends on 4/1 (death + 1). Hanako's type 3 ends
    that day with it: she is type 1 from 4/1 and files within 14 days (国民年金法7条1項3号,
    12条). Taro, dead, is reminded of nothing."""
    died = retiree(cover("employee_pension", "2010-04-01", "2026-04-01", insurer=JPS,
                         because="death"), died="2026-03-31")
    reminder = due(spouse(), "2026-04-15", died)
    assert reminder is not None and reminder.why == "spouse_lost_employee_pension"
    assert reminder.recipients == (Recipient("person", relay_id="hanako"),)
    assert switch_losses(died) == ()


def test_the_spouse_outside_20_to_59_is_not_reminded() -> None:
    # born 1966-03-01: 60 reached 2026-02-28, before the loss date
    assert due(spouse(birth="1966-03-01"), "2026-04-15", retiree()) is None


def test_the_spouse_with_other_pension_cover_on_the_loss_date_is_not_reminded() -> None:
    type3 = cover("national_type3", "2012-01-01", "2026-04-01", insurer=JPS, pension_type=3,
                  spouse="taro")
    working = cover("employee_pension", "2026-04-01", insurer=JPS)
    hanako = person("hanako", type3, working, birth="1982-01-01")
    assert switch_due(hanako, switch_losses(hanako)[0], d("2026-04-15"), retiree()) is None


def test_a_type_3_link_naming_no_spouse_is_no_trigger() -> None:
    bare = person("hanako", cover("national_type3", "2012-01-01", "2026-04-01", insurer=JPS,
                                  pension_type=3))
    assert switch_losses(bare) == ()


def test_the_basic_pension_number_is_no_cover_and_no_contradiction() -> None:
    # every pension link is JPS's; the bare number (category null) stays open for life
    number = cover("national_type1", "2000-05-09", insurer=JPS)
    bare = replace(number, category=None, closed_because=None)
    taro = retiree(bare, WORKED, cover("national_type1", "2004-01-01", "2010-04-01",
                                       insurer=JPS, pension_type=1))
    assert due(taro, "2026-04-15") is not None


def test_contradicting_facts_invent_no_reminder() -> None:
    overlapping = retiree(WORKED, cover("employee_pension", "2026-03-01", "2026-06-01",
                                        insurer=JPS))
    assert switch_losses(overlapping) == ()
    assert switch_due(overlapping, only(retiree()), d("2026-04-15")) is None
