"""Second-category long-term-care insureds (第2号被保険者, 40-64) are valid only while a medical
insurer covers them (DOMAIN §5b "only while covered by a medical insurer"; 介護保険法9条2号).

The care link is accepted as filed (exceptions exist, as for every age rule) and a care period
of that age without medical cover is an anomaly for operations, recorded or resolved whenever
the person's medical or care links change, so the anomalies left open do not depend on order."""

from datetime import date

from tests.unit.test_linker_support import (
    CARE_INSURER,
    Filer,
    Relay,
    at,
    care,
    closing,
    employee_insurance,
    nhi,
    opening,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
MIKI = person("miki", "60000000001", "1975-06-10")  # 40 reached 2015-06-09, 65 on 2040-06-09
KEN = person("ken", "60000000002", "1972-03-03", "male")
TEEN = person("teen", "60000000003", "1990-01-10")  # 35 in 2025: below the second category
CARE_FROM = date(2025, 4, 1)
ANOMALY = "second_category_without_medical_cover"


def _registered(*people) -> Relay:
    relay = Relay()
    relay.feed(*(TOWN.file(f"reg-{p.name}", register(p), when=at(4, 1)) for p in people))
    return relay


def _care(who=MIKI, when=None):
    return TOWN.file(f"ltc-{who.name}", opening(who, care(who), CARE_FROM), when=when or at(4, 3))


def _nhi(who=MIKI, start=date(2020, 1, 1), when=None):
    return TOWN.file(f"nhi-{who.name}", opening(who, nhi(who), start), when=when or at(4, 2))


def test_care_at_49_with_medical_cover_is_fine() -> None:
    relay = _registered(MIKI)
    relay.feed(_nhi(), _care())
    assert relay.anomalies() == []
    assert ("miki", CARE_INSURER, "insured", None, CARE_FROM, None, False) in relay.links(MIKI)


def test_care_at_49_without_medical_cover_is_accepted_and_flagged() -> None:
    relay = _registered(MIKI)
    filed = _care()
    relay.feed(filed)
    assert relay.status(filed) == "accepted"
    assert relay.anomalies() == [(ANOMALY, False)]


def test_medical_cover_filed_after_the_care_link_resolves_it() -> None:
    """Either arrival order leaves no open anomaly."""
    relay = _registered(MIKI)
    relay.feed(_care(when=at(4, 2)), _nhi(when=at(4, 3)))
    assert relay.anomalies() == [(ANOMALY, True)]


def test_medical_cover_ending_with_care_going_on_is_flagged_until_care_ends_too() -> None:
    """NHI lost on 7/1 with nothing after it: the second-category cover has no footing from 7/1;
    the municipality's care loss of the same date resolves it."""
    relay = _registered(MIKI)
    relay.feed(_nhi(), _care())
    relay.feed(TOWN.file("nhi-loss", closing(MIKI, nhi(MIKI), date(2025, 7, 1)), when=at(7, 2)))
    assert relay.anomalies() == [(ANOMALY, False)]
    relay.feed(TOWN.file("ltc-loss", closing(MIKI, care(MIKI), date(2025, 7, 1)), when=at(7, 3)))
    assert relay.anomalies() == [(ANOMALY, True)]


def test_a_change_of_medical_insurer_without_a_gap_is_fine() -> None:
    """Employee insurance from 5/1, NHI lost 5/2 (the legal one-day overlap): no day uncovered."""
    relay = _registered(MIKI)
    relay.feed(
        _nhi(),
        _care(),
        EMPLOYER.file("acq", opening(MIKI, employee_insurance(MIKI), date(2025, 5, 1)),
                      when=at(5, 2)),
        TOWN.file("nhi-loss", closing(MIKI, nhi(MIKI), date(2025, 5, 2)), when=at(5, 3)),
    )
    assert [a for a in relay.anomalies() if a[0] == ANOMALY] == []


def test_a_dependants_cover_counts_and_ends_with_the_insured_persons() -> None:
    """MIKI is KEN's dependant (健康保険法3条7項): that is medical cover; KEN's loss ends it
    (DOMAIN §6), and MIKI's care link is left without medical cover."""
    relay = _registered(MIKI, KEN)
    relay.feed(
        EMPLOYER.file(
            "acq",
            opening(KEN, employee_insurance(KEN), date(2025, 1, 1)),
            opening(MIKI, employee_insurance(MIKI, "dependant"), date(2025, 1, 1), insured_by=KEN),
            when=at(4, 2),
        ),
        _care(),
    )
    assert relay.anomalies() == []
    relay.feed(EMPLOYER.file("loss", closing(KEN, employee_insurance(KEN), date(2025, 8, 1)),
                             when=at(8, 2)))
    assert relay.anomalies() == [(ANOMALY, False)]


def test_care_below_40_is_an_age_rule_anomaly_not_a_second_category_one() -> None:
    relay = _registered(TEEN)
    relay.feed(_nhi(TEEN), _care(TEEN))
    assert relay.anomalies() == [("age_rule", False)]


def test_from_65_medical_cover_no_longer_matters() -> None:
    """First-category from the day before the 65th birthday (2040-06-09): NHI lost that day
    leaves the care link valid."""
    relay = _registered(MIKI)
    relay.feed(_nhi(), _care())
    relay.feed(TOWN.file("nhi-loss", closing(MIKI, nhi(MIKI), date(2040, 6, 9)), when=at(7, 2)))
    assert relay.anomalies() == []
