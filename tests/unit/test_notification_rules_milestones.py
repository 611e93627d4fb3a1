"""Notices on the age milestone days (DOMAIN §5b) and the link changes the 75th birthday calls
for, reported when missing after the grace period. Birthdays and their days by hand."""

from notification_streams.rules.age_milestones import (
    AGE_65,
    AGE_75,
    expected_changes_missing,
    milestone_on,
    notices_on,
)
from notification_streams.rules.facts import Anomaly, PersonFacts
from tests.unit.test_notification_rules_support import KYOKAI, NHI_TOKYO, cover, d, person

LATE_STAGE_TOKYO = "39131015"


def moved(birth: str, day: str) -> PersonFacts:
    """Employee insured until the 75th birthday `day`, the 75+ scheme from it (§5b)."""
    return person("taro", cover("employee_insurance", "2000-04-01", day,
                                because="late_stage_transfer"),
                  cover("late_stage_elderly", day, insurer=LATE_STAGE_TOKYO), birth=birth)


def dependant(relay_id: str, birth: str | None, until: str | None, **kw: object) -> PersonFacts:
    because = "insured_late_stage_transfer" if until else None
    return person(relay_id, cover("employee_insurance", "2000-04-01", until, capacity="dependant",
                                  insured="taro", because=because), birth=birth, **kw)


def test_the_milestone_days_for_someone_born_on_the_1st() -> None:
    # §5b: 65 from the day before the 65th birthday; 75 from the 75th birthday itself
    assert milestone_on(d("1961-04-01"), AGE_65) == d("2026-03-31")
    assert milestone_on(d("1951-06-01"), AGE_75) == d("2026-06-01")
    assert milestone_on(d("1951-06-01"), "age_70") is None


def test_the_milestone_days_for_someone_born_on_29_february() -> None:
    # born 1952-02-29: 65th birthday 2017-03-01 in a common year → 65 from 2017-02-28;
    # 75th birthday 2027-03-01 (common year) → the 75+ scheme from 2027-03-01
    assert milestone_on(d("1952-02-29"), AGE_65) == d("2017-02-28")
    assert milestone_on(d("1952-02-29"), AGE_75) == d("2027-03-01")
    # born 1956-02-29: 2031 is common → 2031-03-01; born 1953-02-28 → 2028-02-28 (leap year)
    assert milestone_on(d("1956-02-29"), AGE_75) == d("2031-03-01")
    assert milestone_on(d("1953-02-28"), AGE_75) == d("2028-02-28")


def test_the_65_notice_goes_on_its_exact_day_only() -> None:
    hiro = person("hiro", birth="1961-04-01")
    assert notices_on(hiro, d("2026-03-30")) == ()
    assert notices_on(hiro, d("2026-04-01")) == ()
    (notice,) = notices_on(hiro, d("2026-03-31"))
    assert (notice.relay_id, notice.milestone, notice.effective_on) == (
        "hiro", AGE_65, d("2026-03-31"))


def test_the_75_notice_names_the_former_cover_ending_and_reaches_the_dependants() -> None:
    taro = moved("1951-06-01", "2026-06-01")
    hanako = dependant("hanako", "1955-08-08", "2026-06-01")
    notices = notices_on(taro, d("2026-06-01"), (hanako,))
    assert [(n.relay_id, n.rule, n.reached_by, n.ending) for n in notices] == [
        ("taro", AGE_75, "taro", (KYOKAI,)),
        ("hanako", "age_75_dependant", "taro", (KYOKAI,)),
    ]
    assert notices_on(taro, d("2026-05-31"), (hanako,)) == ()
    assert notices_on(taro, d("2026-06-02"), (hanako,)) == ()


def test_the_75_notice_for_someone_born_on_29_february() -> None:
    taro = moved("1952-02-29", "2027-03-01")
    assert [n.effective_on for n in notices_on(taro, d("2027-03-01"))] == [d("2027-03-01")]
    assert notices_on(taro, d("2027-02-28")) == ()


def test_dependants_not_losing_cover_that_day_are_not_addressed() -> None:
    taro = moved("1951-06-01", "2026-06-01")
    over_75 = dependant("old", "1950-01-01", "2026-06-01")
    dead = dependant("gone", "1955-08-08", "2026-06-01", died="2026-05-30")
    of_another = person("other", cover("employee_insurance", "2000-04-01", "2026-06-01",
                                       capacity="dependant", insured="jiro"))
    ended_before = dependant("left", "1990-01-01", "2025-01-01")
    unknown_birth = dependant("nobirth", None, "2026-06-01")
    notices = notices_on(taro, d("2026-06-01"),
                         (over_75, dead, of_another, ended_before, unknown_birth))
    assert [n.relay_id for n in notices] == ["taro", "nobirth"]


def test_no_milestone_notice_to_the_dead_or_without_a_birth_date() -> None:
    assert notices_on(person("hiro", birth="1961-04-01", died="2026-03-01"),
                      d("2026-03-31")) == ()
    assert notices_on(person("hiro", birth=None), d("2026-03-31")) == ()


def test_no_anomaly_within_the_grace_period_or_when_everything_arrived() -> None:
    taro = moved("1951-06-01", "2026-06-01")
    hanako = dependant("hanako", "1955-08-08", "2026-06-01")
    assert expected_changes_missing(taro, (hanako,), AGE_75, d("2026-09-01")) == ()
    bare = person("taro", cover("employee_insurance", "2000-04-01"), birth="1951-06-01")
    # 14 days of relay time after 6/1: through 6/15 the changes may still come
    assert expected_changes_missing(bare, (), AGE_75, d("2026-06-15")) == ()


def test_missing_changes_after_the_grace_period_are_anomalies() -> None:
    bare = person("taro", cover("employee_insurance", "2000-04-01"),
                  cover("nhi", "1990-01-01", "2000-04-01", insurer=NHI_TOKYO), birth="1951-06-01")
    kept = dependant("hanako", "1955-08-08", None)
    assert expected_changes_missing(bare, (kept,), AGE_75, d("2026-06-16")) == (
        Anomaly("late_stage_link_missing", "taro", "2026-06-01"),
        Anomaly("former_cover_not_closed", "taro", KYOKAI),
        Anomaly("dependant_cover_not_closed", "hanako", KYOKAI),
    )
    assert expected_changes_missing(bare, (kept,), AGE_75, d("2026-06-10"), grace_days=5) != ()


def test_no_expectations_for_65_for_the_dead_before_it_or_for_contradicting_facts() -> None:
    bare = person("taro", cover("employee_insurance", "2000-04-01"), birth="1951-06-01")
    assert expected_changes_missing(bare, (), AGE_65, d("2027-01-01")) == ()
    dead = person("taro", cover("employee_insurance", "2000-04-01", "2026-05-02",
                                because="death"), birth="1951-06-01", died="2026-05-01")
    assert expected_changes_missing(dead, (), AGE_75, d("2027-01-01")) == ()
    broken = person("taro", cover("employee_insurance", "2000-04-01", "1999-01-01"),
                    birth="1951-06-01")
    assert expected_changes_missing(broken, (), AGE_75, d("2027-01-01")) == ()
    assert notices_on(broken, d("2026-06-01")) == ()
