"""Touches: which stored rows each effect changes, read once for the ledger and the store.

Every member of the Effect union has a sample here, so a new effect fails until it is covered."""

from dataclasses import fields
from datetime import date
from typing import get_args
from uuid import uuid5

import pytest

from relay_linker.domain import effects as fx
from relay_linker.domain import model
from relay_linker.domain.settle import PERSON_EFFECTS, touched_persons
from relay_linker.domain.touches import Touches, touches
from relay_linker.store import Touched
from tests.unit.test_linker_support import FILING_NAMESPACE, Filer, Relay, at, sample_records

RECORD = Filer("131016").file("sample", when=at(4, 1))
EVENT = RECORD.event_id
KEY = ("resident", b"\x01\x02")
CANDIDATE_HASH = b"\x03\x04"
ANOMALY = uuid5(FILING_NAMESPACE, "anomaly")
LINK_ID = uuid5(FILING_NAMESPACE, "link")


def _link(relay_id: str) -> model.Link:
    return model.Link(
        LINK_ID, relay_id, "employee_insurance", "06139018", "insured", None, KEY,
        date(2025, 4, 1), None, None, EVENT,
    )


def _card(relay_id: str) -> model.Card:
    return model.Card("ab" * 16, relay_id, b"key", date(2025, 4, 1), EVENT)


def _identity(relay_id: str) -> model.IdentityChange:
    change_id = uuid5(FILING_NAMESPACE, relay_id)
    return model.IdentityChange(relay_id, change_id, EVENT, date(2024, 1, 1), at(4, 1), "moved", ())


LEDGER = model.LedgerEntry(
    EVENT, RECORD.filer_code, RECORD.filing_reference, RECORD.event_type, RECORD.content_hash,
    RECORD.source, RECORD.occurred_at, EVENT, model.PARKED,
)
CLOSURE = model.Closure(date(2025, 5, 1), EVENT, model.LOSS)
CANDIDATE = model.Candidate(CANDIDATE_HASH, "r-candidate", EVENT)

SAMPLES: dict[type, tuple[fx.Effect, Touches]] = {
    fx.FilingLedgered: (fx.FilingLedgered(LEDGER), Touches(ledger=(EVENT,))),
    fx.FilingParked: (
        fx.FilingParked(model.ParkedFiling(RECORD, ("person:r-a",), (), at(4, 1))),
        Touches(parked=(EVENT,)),
    ),
    fx.FilingUnparked: (fx.FilingUnparked(EVENT, ("person:r-a",)), Touches(parked=(EVENT,))),
    fx.PersonRegistered: (
        fx.PersonRegistered(model.Person("r-new", KEY, date(2024, 1, 1), "birth", EVENT)),
        Touches(persons=("r-new",)),
    ),
    fx.PersonVersionBumped: (fx.PersonVersionBumped("r-ver", 2), Touches(persons=("r-ver",))),
    fx.PersonDied: (
        fx.PersonDied("r-died", date(2025, 4, 1), EVENT),
        Touches(persons=("r-died",)),
    ),
    fx.DeathRetracted: (fx.DeathRetracted("r-alive", EVENT), Touches(persons=("r-alive",))),
    fx.PersonRemoved: (
        fx.PersonRemoved("r-gone"),
        Touches(persons=("r-gone",), identity=("r-gone",), links=("r-gone",), cards=("r-gone",)),
    ),
    fx.IdentityChangeRecorded: (
        fx.IdentityChangeRecorded(_identity("r-moved")),
        Touches(identity=("r-moved",)),
    ),
    fx.IdentityChangeRemoved: (
        fx.IdentityChangeRemoved("r-unmoved", EVENT),
        Touches(identity=("r-unmoved",)),
    ),
    fx.ReferenceIndexed: (
        fx.ReferenceIndexed(model.IndexEntry(KEY, "r-a", EVENT)),
        Touches(index=(KEY,)),
    ),
    fx.ReferenceRemoved: (fx.ReferenceRemoved(KEY, "r-a"), Touches(index=(KEY,))),
    fx.CandidateIndexed: (fx.CandidateIndexed(CANDIDATE), Touches(candidates=(CANDIDATE_HASH,))),
    fx.CandidateRemoved: (fx.CandidateRemoved(CANDIDATE), Touches(candidates=(CANDIDATE_HASH,))),
    fx.LinkOpened: (fx.LinkOpened(_link("r-opened")), Touches(links=("r-opened",))),
    fx.LinkClosed: (fx.LinkClosed(_link("r-closed"), CLOSURE), Touches(links=("r-closed",))),
    fx.LinkReopened: (
        fx.LinkReopened(_link("r-reopened"), CLOSURE),
        Touches(links=("r-reopened",)),
    ),
    fx.LinkRetracted: (fx.LinkRetracted(_link("r-retracted")), Touches(links=("r-retracted",))),
    fx.CardIssued: (fx.CardIssued(_card("r-issued")), Touches(cards=("r-issued",))),
    fx.CardRevoked: (
        fx.CardRevoked("ab" * 16, "r-revoked", date(2025, 5, 1), EVENT),
        Touches(cards=("r-revoked",)),
    ),
    fx.CardRemoved: (fx.CardRemoved("ab" * 16, "r-uncarded"), Touches(cards=("r-uncarded",))),
    fx.CardRevocationRetracted: (
        fx.CardRevocationRetracted("ab" * 16, "r-valid"),
        Touches(cards=("r-valid",)),
    ),
    fx.AnomalyRecorded: (
        fx.AnomalyRecorded(model.Anomaly(ANOMALY, "lookalike", ("r-a",), EVENT)),
        Touches(anomalies=(ANOMALY,)),
    ),
    fx.AnomalyResolved: (fx.AnomalyResolved(ANOMALY, ("r-a",)), Touches(anomalies=(ANOMALY,))),
    fx.MilestoneScheduled: (
        fx.MilestoneScheduled(model.Milestone("r-aged", "age_65", 65, date(2030, 1, 31))),
        Touches(milestones=(("r-aged", "age_65"),)),
    ),
    fx.MilestoneDropped: (
        fx.MilestoneDropped("r-announced", "age_20"),
        Touches(milestones=(("r-announced", "age_20"),)),
    ),
    fx.AgeMilestoneEmitted: (
        fx.AgeMilestoneEmitted("r-announced", "age_20", 20, date(2030, 1, 31)),
        Touches(),
    ),
    fx.PersonChangeEmitted: (
        fx.PersonChangeEmitted("r-changed", 2, date(1980, 5, 10), None, False, EVENT),
        Touches(),
    ),
    fx.ChangeNoticeDue: (
        fx.ChangeNoticeDue("r-told", "06139018", "death", date(2025, 6, 30),
                           ("insured:06139018", b"i"), EVENT),
        Touches(),
    ),
    fx.LinkChangeEmitted: (
        fx.LinkChangeEmitted("r-a", 1, "opened", LINK_ID, "employee_insurance", "06139018",
                             "insured", None, date(2025, 4, 1), None, None, EVENT),
        Touches(),
    ),
    fx.OutcomeIssued: (
        fx.OutcomeIssued(
            EVENT, RECORD.filer_code, RECORD.filing_reference, EVENT, model.PARKED, ()
        ),
        Touches(),
    ),
}


def test_every_effect_has_a_sample() -> None:
    assert set(SAMPLES) == set(get_args(fx.Effect))
    assert all(type(effect) is kind for kind, (effect, _) in SAMPLES.items())


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda k: k.__name__)
def test_touches_names_the_rows_each_effect_changes(kind: type) -> None:
    effect, rows = SAMPLES[kind]
    assert touches(effect) == rows


def test_something_that_is_not_an_effect_is_refused() -> None:
    with pytest.raises(TypeError):
        touches(RECORD)  # type: ignore[arg-type]


def test_only_output_effects_touch_nothing() -> None:
    untouched = {kind for kind, (effect, _) in SAMPLES.items() if touches(effect) == Touches()}
    assert untouched == set(fx.OUTPUT_EFFECTS)


def test_a_person_effect_touches_exactly_one_person() -> None:
    for kind in PERSON_EFFECTS:
        effect, _ = SAMPLES[kind]
        assert len(touches(effect).relay_ids) == 1, kind.__name__


def test_touched_persons_counts_person_effects_and_leaves_out_the_removed() -> None:
    effects = [effect for effect, _ in SAMPLES.values()]
    expected = {
        "r-new", "r-died", "r-alive", "r-moved", "r-unmoved", "r-opened", "r-closed",
        "r-reopened", "r-retracted", "r-issued", "r-revoked", "r-uncarded", "r-valid",
    }
    assert touched_persons(effects) == tuple(sorted(expected))
    gone = [fx.LinkOpened(_link("r-gone")), fx.PersonRemoved("r-gone")]
    assert touched_persons([*effects, *gone]) == tuple(sorted(expected))


def test_the_store_notes_every_table_touches_names() -> None:
    noted = Touched()
    for effect, _ in SAMPLES.values():
        noted.note(effect)
    assert [f.name for f in fields(Touched)] == [f.name for f in fields(Touches)]
    for table in fields(Touches):
        wanted = {row for _, rows in SAMPLES.values() for row in getattr(rows, table.name)}
        assert getattr(noted, table.name) == wanted, table.name


def test_what_a_fold_touches_belongs_to_persons_it_knows_or_removed() -> None:
    relay = Relay()
    relay.feed(*sample_records())
    kinds = {type(effect) for effect in relay.log}
    assert len(kinds) > 10
    for effect in relay.log:
        rows = touches(effect)
        assert isinstance(rows, Touches)
        assert rows.relay_ids <= set(relay.state.persons) | _removed(relay.log), effect


def _removed(log: list[fx.Effect]) -> set[str]:
    return {e.relay_id for e in log if isinstance(e, fx.PersonRemoved)}

