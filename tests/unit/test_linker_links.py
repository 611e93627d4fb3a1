"""Acquisitions and losses as hand-written link histories: employer, dependants, NHI, 任意継続.

Joining employee insurance on D ends NHI on D + 1: that one-day overlap is not an anomaly."""

from datetime import date

from relay_linker.domain.effects import LinkChangeEmitted, PersonVersionBumped
from tests.unit.test_linker_support import (
    EMPLOYER_INSURER,
    NHI_INSURER,
    Filer,
    Relay,
    at,
    closing,
    employee_insurance,
    nhi,
    of_type,
    opening,
    outcomes,
    person,
    register,
)

TOWN = Filer("131016")
EMPLOYER = Filer("E0001")
HANA = person("hana", "10000000001", "1980-05-10")
KOJI = person("koji", "10000000002", "1982-11-03", "male")
MIKU = person("miku", "10000000003", "2015-07-07")


def test_registration_acquisition_and_loss() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        EMPLOYER.file(
            "loss-1", closing(HANA, employee_insurance(HANA), date(2025, 9, 1)), when=at(4, 8)
        ),
    )
    assert relay.links(HANA) == [
        (
            "hana",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            date(2025, 9, 1),
            False,
        ),
    ]
    assert outcomes(relay.log) == [
        ("reg-hana", "accepted", ()),
        ("acq-1", "accepted", ()),
        ("loss-1", "accepted", ()),
    ]
    emitted = of_type(relay.log, LinkChangeEmitted)
    changes = [(e.change, e.person_version, e.valid_to) for e in emitted]
    assert changes == [("opened", 2, date(2055, 5, 10)), ("closed", 3, date(2025, 9, 1))]


def test_a_loss_can_be_named_by_the_insured_number_the_acquisition_indexed() -> None:
    relay = Relay()
    spec = employee_insurance(HANA)
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file("acq-1", opening(HANA, spec, date(2025, 4, 1)), when=at(4, 2)),
        EMPLOYER.file(
            "loss-1", closing(HANA, spec, date(2025, 5, 1), ref=spec.number), when=at(4, 3)
        ),
    )
    assert relay.links(HANA)[0][4:6] == (date(2025, 4, 1), date(2025, 5, 1))


def test_acquisition_with_dependants_is_one_unit() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-koji", register(KOJI), when=at(4, 1)),
        TOWN.file("reg-miku", register(MIKU), when=at(4, 1)),
        EMPLOYER.file(
            "acq-koji",
            opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)),
            opening(MIKU, employee_insurance(MIKU, "dependant"), date(2025, 4, 1), insured_by=KOJI),
            when=at(4, 2),
        ),
    )
    assert relay.links(KOJI, MIKU) == [
        (
            "koji",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            date(2057, 11, 3),
            False,
        ),
        (
            "miku",
            EMPLOYER_INSURER,
            "dependant",
            "employee_insurance",
            date(2025, 4, 1),
            date(2057, 11, 3),
            False,
        ),
    ]
    bumps = sorted((e.relay_id, e.version) for e in of_type(relay.log, PersonVersionBumped))
    assert sorted(v for _, v in bumps) == [1, 1, 2, 2]


def test_a_dependant_that_does_not_match_parks_the_whole_filing() -> None:
    relay = Relay()
    wrong = MIKU.at_address("東京都新宿区1-1")
    acquisition = EMPLOYER.file(
        "acq-koji",
        opening(KOJI, employee_insurance(KOJI), date(2025, 4, 1)),
        opening(
            MIKU,
            employee_insurance(MIKU, "dependant"),
            date(2025, 4, 1),
            insured_by=KOJI,
            identity=wrong,
        ),
        when=at(4, 2),
    )
    relay.feed(
        TOWN.file("reg-koji", register(KOJI), when=at(4, 1)),
        TOWN.file("reg-miku", register(MIKU), when=at(4, 1)),
        acquisition,
    )
    assert relay.status(acquisition) == "parked"
    assert relay.reasons(acquisition) == [("identity_mismatch", "identity.address")]
    assert relay.links(KOJI, MIKU) == []


def test_nhi_after_employee_insurance_loss_with_the_legal_one_day_overlap() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        TOWN.file("nhi-1", opening(HANA, nhi(HANA), date(2024, 1, 1)), when=at(4, 1, 10)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("nhi-loss", closing(HANA, nhi(HANA), date(2025, 4, 2)), when=at(4, 9)),
    )
    assert relay.links(HANA) == [
        (
            "hana",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2025, 4, 1),
            date(2055, 5, 10),
            False,
        ),
        ("hana", NHI_INSURER, "insured", "nhi", date(2024, 1, 1), date(2025, 4, 2), False),
    ]
    assert relay.anomalies() == [("overlapping_medical_coverage", True)]


def test_nhi_loss_first_leaves_no_anomaly_at_all() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        TOWN.file("nhi-1", opening(HANA, nhi(HANA), date(2024, 1, 1)), when=at(4, 1, 10)),
        TOWN.file("nhi-loss", closing(HANA, nhi(HANA), date(2025, 4, 2)), when=at(4, 2)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 3)
        ),
    )
    assert relay.anomalies() == []


def test_a_real_overlap_is_an_anomaly() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        TOWN.file("nhi-1", opening(HANA, nhi(HANA), date(2024, 1, 1)), when=at(4, 1, 10)),
        TOWN.file("nhi-loss", closing(HANA, nhi(HANA), date(2025, 4, 3)), when=at(4, 2)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 3)
        ),
    )
    assert relay.anomalies() == [("overlapping_medical_coverage", False)]


def test_nhi_starts_on_the_employee_insurance_loss_date_without_overlap() -> None:
    relay = Relay()
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2024, 4, 1)), when=at(4, 1, 10)
        ),
        EMPLOYER.file(
            "loss-1", closing(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        TOWN.file("nhi-1", opening(HANA, nhi(HANA), date(2025, 4, 1)), when=at(4, 8)),
    )
    assert [row[4:6] for row in relay.links(HANA)] == [
        (date(2024, 4, 1), date(2025, 4, 1)),
        (date(2025, 4, 1), date(2055, 5, 10)),
    ]
    assert relay.anomalies() == []


def test_voluntary_continuation_follows_the_loss_and_counts_as_coverage() -> None:
    relay = Relay()
    continued = employee_insurance(HANA, "voluntary_continuation")
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2024, 4, 1)), when=at(4, 1, 10)
        ),
        Filer(EMPLOYER_INSURER).file(
            "vc-1", opening(HANA, continued, date(2025, 4, 16)), when=at(4, 3)
        ),
        EMPLOYER.file(
            "loss-1", closing(HANA, employee_insurance(HANA), date(2025, 4, 16)), when=at(4, 4)
        ),
        TOWN.file("nhi-1", opening(HANA, nhi(HANA), date(2025, 4, 16)), when=at(4, 9)),
    )
    assert relay.links(HANA) == [
        (
            "hana",
            EMPLOYER_INSURER,
            "insured",
            "employee_insurance",
            date(2024, 4, 1),
            date(2025, 4, 16),
            False,
        ),
        (
            "hana",
            EMPLOYER_INSURER,
            "voluntary_continuation",
            "employee_insurance",
            date(2025, 4, 16),
            date(2027, 4, 16),  # two years at most (健保法38条1号)
            False,
        ),
        ("hana", NHI_INSURER, "insured", "nhi", date(2025, 4, 16), date(2055, 5, 10), False),
    ]
    assert relay.anomalies() == [
        ("overlapping_medical_coverage", False),
        ("overlapping_medical_coverage", True),
    ]


def test_a_loss_arriving_before_its_acquisition_waits_for_it() -> None:
    relay = Relay()
    loss = EMPLOYER.file(
        "loss-1", closing(HANA, employee_insurance(HANA), date(2025, 9, 1)), when=at(4, 3)
    )
    relay.feed(TOWN.file("reg-hana", register(HANA), when=at(4, 1)), loss)
    assert relay.status(loss) == "parked"
    assert relay.reasons(loss) == [("no_open_link", "link")]
    relay.feed(
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 4)
        )
    )
    assert relay.status(loss) == "accepted"
    assert relay.links(HANA)[0][4:6] == (date(2025, 4, 1), date(2025, 9, 1))


def test_a_loss_dated_before_the_acquisition_is_refused_at_the_bound() -> None:
    relay = Relay()
    loss = EMPLOYER.file(
        "loss-1", closing(HANA, employee_insurance(HANA), date(2025, 3, 1)), when=at(4, 3)
    )
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file(
            "acq-1", opening(HANA, employee_insurance(HANA), date(2025, 4, 1)), when=at(4, 2)
        ),
        loss,
    )
    assert relay.reasons(loss) == [("loss_before_acquisition", "lost_on")]
    assert relay.status(loss) == "parked"
    relay.feed(
        EMPLOYER.file(
            "later", opening(KOJI, employee_insurance(KOJI), date(2025, 5, 1)), when=at(4, 18)
        )
    )
    assert relay.status(loss) == "refused"
    assert relay.reasons(loss) == [("loss_before_acquisition", "lost_on")]
    assert relay.links(HANA)[0][5] == date(2055, 5, 10)


# 同日得喪 (DOMAIN §6, "a loss and a new acquisition at the same insurer on the same day give two
# adjacent periods, whichever filing arrives first. A loss dated on its own acquisition date is
# not a period: the acquisition is retracted instead.")
SAME_DAY_HISTORY = [
    ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 4, 1),
     date(2025, 10, 1), False),
    ("hana", EMPLOYER_INSURER, "insured", "employee_insurance", date(2025, 10, 1),
     date(2055, 5, 10), False),
]


def _same_day(relay: Relay, loss_first: bool) -> None:
    spec = employee_insurance(HANA)
    loss = EMPLOYER.file("loss-1", closing(HANA, spec, date(2025, 10, 1)), when=at(10, 2))
    again = EMPLOYER.file("acq-2", opening(HANA, spec, date(2025, 10, 1)), when=at(10, 2))
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file("acq-1", opening(HANA, spec, date(2025, 4, 1)), when=at(4, 2)),
        *((loss, again) if loss_first else (again, loss)),
    )
    assert [o[1] for o in outcomes(relay.log)] == ["accepted"] * 4


def test_same_day_loss_and_reacquisition_loss_first_gives_two_adjacent_periods() -> None:
    relay = Relay()
    _same_day(relay, loss_first=True)
    assert sorted(relay.links(HANA)) == SAME_DAY_HISTORY


def test_same_day_reacquisition_first_gives_the_same_two_adjacent_periods() -> None:
    """Before: the re-acquisition, processed first, was closed on its own first day and the old
    period stayed open, silently."""
    relay = Relay()
    _same_day(relay, loss_first=False)
    assert sorted(relay.links(HANA)) == SAME_DAY_HISTORY


def test_a_loss_dated_on_its_own_acquisition_date_is_refused_with_what_to_do() -> None:
    relay = Relay()
    spec = employee_insurance(HANA)
    loss = EMPLOYER.file("loss-1", closing(HANA, spec, date(2025, 4, 1)), when=at(4, 3))
    relay.feed(
        TOWN.file("reg-hana", register(HANA), when=at(4, 1)),
        EMPLOYER.file("acq-1", opening(HANA, spec, date(2025, 4, 1)), when=at(4, 2)),
        loss,
    )
    assert relay.status(loss) == "refused"
    assert relay.reasons(loss) == [("loss_on_acquisition_date", "lost_on")]
    assert relay.links(HANA)[0][4:6] == (date(2025, 4, 1), date(2055, 5, 10))
