"""Age rules on links (DOMAIN §5b): ends clamped at 75, 70 and 60; early starts are anomalies.

Each test writes the expected link history by hand."""

from datetime import date

from relay_linker.domain.effects import LinkChangeEmitted
from tests.unit.test_linker_support import (
    CARE_INSURER,
    ELDERLY_INSURER,
    EMPLOYER_INSURER,
    NHI_INSURER,
    PENSION_INSURER,
    Filer,
    Relay,
    at,
    care,
    employee_insurance,
    late_stage,
    nhi,
    of_type,
    opening,
    pension,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
JPS = Filer("JPS")
GRANDPA = person("grandpa", "20000000001", "1951-06-20", "male")
GRANDMA = person("grandma", "20000000002", "1958-02-01")
LEAPY = person("leapy", "20000000003", "1952-02-29", "male")
YOUNG = person("young", "20000000004", "2006-01-15")


def test_employee_insurance_ends_at_the_75th_birthday_and_says_so() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDPA), when=at(4, 1)),
        EMPLOYER.file(
            "acq", opening(GRANDPA, employee_insurance(GRANDPA), date(2025, 4, 1)), when=at(4, 2)
        ),
    )
    assert relay.links(GRANDPA) == [
        (
            "grandpa",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            date(2026, 6, 20),
            False,
        ),
    ]
    (emitted,) = of_type(relay.log, LinkChangeEmitted)
    assert (emitted.change, emitted.valid_to, emitted.clamp) == (
        "opened",
        date(2026, 6, 20),
        "age_75",
    )


def test_a_given_end_before_the_75th_birthday_is_kept() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDPA), when=at(4, 1)),
        TOWN.file(
            "nhi",
            opening(GRANDPA, nhi(GRANDPA), date(2025, 4, 1), date(2025, 10, 1)),
            when=at(4, 2),
        ),
    )
    assert relay.links(GRANDPA)[0][4:6] == (date(2025, 4, 1), date(2025, 10, 1))
    (emitted,) = of_type(relay.log, LinkChangeEmitted)
    assert emitted.clamp is None


def test_dependants_lose_cover_on_the_insured_persons_75th_birthday() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-1", register(GRANDPA), when=at(4, 1)),
        TOWN.file("reg-2", register(GRANDMA), when=at(4, 1)),
        EMPLOYER.file(
            "acq",
            opening(GRANDPA, employee_insurance(GRANDPA), date(2025, 4, 1)),
            opening(
                GRANDMA,
                employee_insurance(GRANDMA, "dependant"),
                date(2025, 4, 1),
                insured_by=GRANDPA,
            ),
            when=at(4, 2),
        ),
    )
    assert relay.links(GRANDPA, GRANDMA) == [
        (
            "grandma",
            EMPLOYER_INSURER,
            "dependant",
            "employee_insurance",
            date(2025, 4, 1),
            date(2026, 6, 20),
            False,
        ),
        (
            "grandpa",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            date(2026, 6, 20),
            False,
        ),
    ]
    clamps = sorted(e.clamp for e in of_type(relay.log, LinkChangeEmitted))
    assert clamps == ["age_75", "insured_age_75"]


def test_no_dependant_cover_under_an_insured_person_already_75() -> None:
    relay = Relay()
    late = EMPLOYER.file(
        "dep",
        opening(
            GRANDMA, employee_insurance(GRANDMA, "dependant"), date(2026, 7, 1), insured_by=GRANDPA
        ),
        when=at(4, 2),
    )
    relay.feed(
        TOWN.file("reg-1", register(GRANDPA), when=at(4, 1)),
        TOWN.file("reg-2", register(GRANDMA), when=at(4, 1)),
        late,
    )
    assert relay.status(late) == "refused"
    assert relay.reasons(late) == [("age_limit_passed", "valid_from")]
    assert relay.anomalies() == [("age_rule", False)]


def test_employee_pension_ends_the_day_before_the_70th_birthday() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDMA), when=at(4, 1)),
        JPS.file(
            "ep",
            opening(GRANDMA, pension(GRANDMA, "employee_pension"), date(2020, 4, 1)),
            when=at(4, 2),
        ),
    )
    assert relay.links(GRANDMA) == [
        (
            "grandma",
            PENSION_INSURER,
            "insured",
            "employee_pension",
            date(2020, 4, 1),
            date(2028, 1, 31),
            False,
        ),
    ]


def test_national_pension_type1_ends_the_day_before_the_60th_birthday() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDMA), when=at(4, 1)),
        JPS.file(
            "t1",
            opening(GRANDMA, pension(GRANDMA, "national_type1"), date(2015, 4, 1)),
            when=at(4, 2),
        ),
    )
    assert relay.links(GRANDMA)[0][4:6] == (date(2015, 4, 1), date(2018, 1, 31))
    assert relay.anomalies() == []


def test_type1_before_age_20_is_an_age_rule_anomaly() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(YOUNG), when=at(4, 1)),
        JPS.file(
            "t1", opening(YOUNG, pension(YOUNG, "national_type1"), date(2025, 4, 1)), when=at(4, 2)
        ),
    )
    assert relay.anomalies() == [("age_rule", False)]
    assert relay.links(YOUNG)[0][4:6] == (date(2025, 4, 1), date(2066, 1, 14))


def test_type1_from_the_day_before_the_20th_birthday_is_fine() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(YOUNG), when=at(4, 1)),
        JPS.file(
            "t1", opening(YOUNG, pension(YOUNG, "national_type1"), date(2026, 1, 14)), when=at(4, 2)
        ),
    )
    assert relay.anomalies() == []


def test_long_term_care_at_64_without_medical_cover_is_a_second_category_anomaly() -> None:
    """Before the day before the 65th birthday a care insured is second-category (40-64), valid
    only while a medical insurer covers them (DOMAIN §5b, 介護保険法9条2号): GRANDMA has none."""
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDMA), when=at(4, 1)),
        TOWN.file("ltc-early", opening(GRANDMA, care(GRANDMA), date(2023, 1, 30)), when=at(4, 2)),
    )
    assert relay.anomalies() == [("second_category_without_medical_cover", False)]
    assert relay.links(GRANDMA) == [
        ("grandma", CARE_INSURER, "insured", None, date(2023, 1, 30), None, False),
    ]


def test_long_term_care_from_the_day_before_the_65th_birthday_is_fine() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDMA), when=at(4, 1)),
        TOWN.file("ltc", opening(GRANDMA, care(GRANDMA), date(2023, 1, 31)), when=at(4, 2)),
    )
    assert relay.anomalies() == []


def test_the_75_plus_scheme_before_the_75th_birthday_is_an_anomaly() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDPA), when=at(4, 1)),
        Filer(ELDERLY_INSURER).file(
            "elderly", opening(GRANDPA, late_stage(GRANDPA), date(2026, 6, 19)), when=at(4, 2)
        ),
    )
    assert relay.anomalies() == [("age_rule", False)]
    assert relay.links(GRANDPA)[0][3:6] == ("late_stage_elderly", date(2026, 6, 19), None)


def test_moving_to_the_75_plus_scheme_on_the_birthday_leaves_no_overlap() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(GRANDPA), when=at(4, 1)),
        TOWN.file("nhi", opening(GRANDPA, nhi(GRANDPA), date(2020, 4, 1)), when=at(4, 2)),
        Filer(ELDERLY_INSURER).file(
            "elderly", opening(GRANDPA, late_stage(GRANDPA), date(2026, 6, 20)), when=at(4, 3)
        ),
    )
    assert relay.anomalies() == []
    assert relay.links(GRANDPA) == [
        ("grandpa", NHI_INSURER, "insured", "nhi", date(2020, 4, 1), date(2026, 6, 20), False),
        (
            "grandpa",
            ELDERLY_INSURER,
            "insured",
            "late_stage_elderly",
            date(2026, 6, 20),
            None,
            False,
        ),
    ]


def test_a_leap_day_birth_turns_75_on_1_march_in_a_common_year() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg", register(LEAPY), when=at(4, 1)),
        TOWN.file("nhi", opening(LEAPY, nhi(LEAPY), date(2020, 4, 1)), when=at(4, 2)),
        JPS.file(
            "ep",
            opening(LEAPY, pension(LEAPY, "employee_pension"), date(2020, 4, 1)),
            when=at(4, 2),
        ),
    )
    assert [row[3:6] for row in relay.links(LEAPY)] == [
        ("nhi", date(2020, 4, 1), date(2027, 3, 1)),
        ("employee_pension", date(2020, 4, 1), date(2022, 2, 28)),
    ]
