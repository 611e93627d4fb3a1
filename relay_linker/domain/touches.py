"""Which stored rows an effect changes, by table: the one reading of effects for bookkeeping.

Output effects change no row; the person tables (persons to cards) are keyed by relay id,
pending milestones by relay id and name."""

from dataclasses import dataclass
from uuid import UUID

from relay_linker.domain import effects as fx
from relay_linker.domain.commands import IndexKey, LinkerRecord
from relay_linker.domain.model import (
    Anomaly,
    Card,
    IdentityChange,
    IndexEntry,
    LedgerEntry,
    Milestone,
    ParkedFiling,
    Person,
)


@dataclass(frozen=True)
class Touches:
    """The rows one effect changes, per table."""

    persons: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()
    milestones: tuple[tuple[str, str], ...] = ()
    index: tuple[IndexKey, ...] = ()
    candidates: tuple[bytes, ...] = ()
    anomalies: tuple[UUID, ...] = ()
    parked: tuple[UUID, ...] = ()
    ledger: tuple[UUID, ...] = ()

    @property
    def relay_ids(self) -> frozenset[str]:
        """The persons any of the person tables' changed rows belong to."""
        return frozenset((*self.persons, *self.identity, *self.links, *self.cards))


NOTHING = Touches()


def touches(effect: fx.Effect) -> Touches:
    """The rows `effect` changes; raises `TypeError` for anything that is not an effect."""
    match effect:
        case fx.PersonRemoved(relay_id=r):
            return Touches(persons=(r,), identity=(r,), links=(r,), cards=(r,))
        case fx.PersonRegistered(person=Person(relay_id=r)) | (
            fx.PersonVersionBumped(relay_id=r) | fx.PersonDied(relay_id=r)
        ):
            return Touches(persons=(r,))
        case fx.DeathRetracted(relay_id=r):
            return Touches(persons=(r,))
        case fx.IdentityChangeRecorded(change=IdentityChange(relay_id=r)) | (
            fx.IdentityChangeRemoved(relay_id=r)
        ):
            return Touches(identity=(r,))
        case fx.LinkOpened() | fx.LinkClosed() | fx.LinkReopened() | fx.LinkRetracted():
            return Touches(links=(effect.link.relay_id,))
        case fx.CardIssued(card=Card(relay_id=r)) | fx.CardRevoked(relay_id=r) | (
            fx.CardRemoved(relay_id=r) | fx.CardRevocationRetracted(relay_id=r)
        ):
            return Touches(cards=(r,))
        case fx.MilestoneScheduled(milestone=Milestone(relay_id=r, name=n)) | (
            fx.MilestoneDropped(relay_id=r, name=n)
        ):
            return Touches(milestones=((r, n),))
        case fx.FilingLedgered(entry=LedgerEntry(event_id=e)):
            return Touches(ledger=(e,))
        case fx.FilingParked(parked=ParkedFiling(record=LinkerRecord(event_id=e))) | (
            fx.FilingUnparked(event_id=e)
        ):
            return Touches(parked=(e,))
        case fx.ReferenceIndexed(entry=IndexEntry(key=k)) | fx.ReferenceRemoved(key=k):
            return Touches(index=(k,))
        case fx.CandidateIndexed(candidate=c) | fx.CandidateRemoved(candidate=c):
            return Touches(candidates=(c.candidate_hash,))
        case fx.AnomalyRecorded(anomaly=Anomaly(anomaly_id=a)) | fx.AnomalyResolved(anomaly_id=a):
            return Touches(anomalies=(a,))
        case (fx.LinkChangeEmitted() | fx.OutcomeIssued() | fx.AgeMilestoneEmitted()
              | fx.ChangeNoticeDue() | fx.PersonChangeEmitted()):
            return NOTHING
    raise TypeError(f"not an effect: {type(effect).__name__}")
