"""The facts the rules read and the contradictions that keep every rule from acting on them
(periods reversed, one insurer twice at once, dates out of range, two homes at once)."""

from notification_streams.rules.facts import (
    Anomaly,
    contradictions,
    covered_on,
    covers_on,
    household_on,
    residence_on,
)
from tests.unit.test_notification_rules_support import (
    KYOKAI,
    NHI_TOKYO,
    cover,
    d,
    lives,
    member,
    person,
)


def test_a_period_holds_its_first_day_and_not_its_end() -> None:
    taro = person("taro", cover("employee_insurance", "2025-04-01", "2026-04-01"))
    assert covered_on(taro, "medical", d("2025-04-01"))
    assert covered_on(taro, "medical", d("2026-03-31"))
    assert not covered_on(taro, "medical", d("2026-04-01"))
    assert not covered_on(taro, "pension", d("2025-06-01"))
    assert covers_on(taro, "medical", d("2024-01-01")) == ()


def test_residence_and_household_on_a_day() -> None:
    taro = person("taro", residences=(lives("131016", "2020-01-01", "2026-04-01"),
                                      lives("131121", "2026-04-01")),
                  households=(member("h-1", "2020-01-01", heads=True),))
    assert residence_on(taro, d("2026-03-31")).municipality_code == "131016"
    assert residence_on(taro, d("2026-04-01")).municipality_code == "131121"
    assert residence_on(taro, d("2019-12-31")) is None
    assert household_on(taro, d("2026-01-01")).householder


def test_sound_facts_have_no_contradictions() -> None:
    same_day_again = person("taro", cover("employee_insurance", "2025-04-01", "2026-04-01"),
                            cover("employee_insurance", "2026-04-01"),
                            cover("nhi", "2020-01-01", "2025-04-02", insurer=NHI_TOKYO))
    assert contradictions(same_day_again) == ()


def test_contradictions_are_named_never_raised() -> None:
    facts = person(
        "taro",
        cover("employee_insurance", "2026-04-01", "2026-03-01"),
        cover("employee_insurance", "2020-01-01", "2021-01-01"),
        cover("employee_insurance", "2020-06-01", "2022-01-01"),
        cover("nhi", "0001-01-01", insurer=NHI_TOKYO),
        residences=(lives("131016", "2020-01-01"), lives("131121", "2021-01-01")),
        households=(member("h-1", "2020-01-01"), member("h-2", "2020-01-01")),
    )
    assert contradictions(facts) == (
        Anomaly("period_reversed", "taro", f"medical:{KYOKAI}"),
        Anomaly("date_out_of_range", "taro"),
        Anomaly("overlapping_covers", "taro", f"medical:{KYOKAI}"),
        Anomaly("overlapping_residences", "taro"),
        Anomaly("overlapping_households", "taro"),
    )
