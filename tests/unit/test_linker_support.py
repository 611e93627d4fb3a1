"""Builders, an honest fake hasher and a small in-memory relay for the linker's unit tests.

Holds no tests itself; the test_linker_* modules import from it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import count
from uuid import NAMESPACE_URL, UUID, uuid5

from relay_linker.domain import advance, apply_all, decide, new_state
from relay_linker.domain.commands import (
    ChangeIdentity,
    CloseLink,
    Command,
    Election,
    Identity,
    InsuredPerson,
    LinkerRecord,
    LinkSpec,
    NumberRef,
    OpenLink,
    RecordDeath,
    RegisterPerson,
    Retract,
    Source,
)
from relay_linker.domain.effects import Effect, OutcomeIssued
from relay_linker.domain.state import RelayState

JST = timezone(timedelta(hours=9))
FILING_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shaho-relay:test-filings")
EMPLOYER_INSURER = "06139018"
NHI_INSURER = "131011"
ELDERLY_INSURER = "39131015"
CARE_INSURER = "131016"
PENSION_INSURER = "JPS"


class FakeHasher:
    """Keyed hashing without a key: plain SHA-256 over labelled parts."""

    def identity_hash(self, relay_id: str, item: str, value: str) -> bytes:
        return _sha(f"identity|{relay_id}|{item}|{value}")

    def candidate_hash(self, kana: str, birth_date: str, sex: str) -> bytes:
        return _sha(f"candidate|{kana}|{birth_date}|{sex}")

    def relay_id_for(self, seed: str) -> str:
        return "r-" + _sha(f"relay|{seed}").hex()[:16]


HASHER = FakeHasher()


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def blind(kind: str, value: str) -> NumberRef:
    return NumberRef(kind, _sha(f"{kind}|{value}")[:16], sealed=f"sealed:{value}".encode())


def at(month: int, day: int, hour: int = 9) -> datetime:
    """Event time in 2025, Japan time."""
    return datetime(2025, month, day, hour, tzinfo=JST)


@dataclass(frozen=True)
class Someone:
    """A test person: resident code, identity as registered, and their insurance numbers."""

    name: str
    code: str
    identity: Identity

    @property
    def resident(self) -> NumberRef:
        return blind("resident_code", self.code)

    @property
    def pension_number(self) -> NumberRef:
        return blind("basic_pension_number", f"pn-{self.code}")

    def insured(self, insurer: str = EMPLOYER_INSURER) -> NumberRef:
        return blind(f"insured:{insurer}", f"{insurer}-{self.code}")

    def care(self) -> NumberRef:
        return blind(f"care_insured:{CARE_INSURER}", f"c-{self.code}")

    def at_address(self, address: str) -> Identity:
        return with_items(self.identity, address=address)


def with_items(identity: Identity, **items: str) -> Identity:
    """The identity with some items replaced."""
    values = {k: identity.item(k) for k in ("kanji_name", "kana_name", "birth_date", "sex")}
    return Identity(**{**values, "address": identity.address, **items})


def person(
    name: str, code: str, birth: str, sex: str = "female", address: str = "港区芝1-1-1"
) -> Someone:
    identity = Identity(f"{name}漢字", f"{name.upper()}カナ", birth, sex, f"東京都{address}")
    return Someone(name, code, identity)


def employee_insurance(who: Someone, capacity: str = "insured") -> LinkSpec:
    number = who.insured(EMPLOYER_INSURER)
    return LinkSpec("medical", EMPLOYER_INSURER, capacity, "employee_insurance", number)


def nhi(who: Someone) -> LinkSpec:
    return LinkSpec("medical", NHI_INSURER, "insured", "nhi", who.insured(NHI_INSURER))


def late_stage(who: Someone) -> LinkSpec:
    number = who.insured(ELDERLY_INSURER)
    return LinkSpec("medical", ELDERLY_INSURER, "insured", "late_stage_elderly", number)


def care(who: Someone) -> LinkSpec:
    return LinkSpec("long_term_care", CARE_INSURER, "insured", None, who.care())


def pension(who: Someone, category: str | None) -> LinkSpec:
    return LinkSpec("pension", PENSION_INSURER, "insured", category, who.pension_number)


def register(who: Someone, on: date = date(2024, 1, 1), reason: str = "go_live") -> RegisterPerson:
    return RegisterPerson(who.resident, who.identity, on, reason)


def opening(
    who: Someone,
    spec: LinkSpec,
    start: date,
    end: date | None = None,
    *,
    insured_by: Someone | None = None,
    ref: NumberRef | None = None,
    identity: Identity | None = None,
    election: Election | None = None,
) -> OpenLink:
    insured = InsuredPerson(insured_by.resident, insured_by.identity) if insured_by else None
    return OpenLink(
        ref or who.resident, identity or who.identity, spec, start, end, insured, election
    )


def closing(
    who: Someone,
    spec: LinkSpec,
    lost_on: date,
    *,
    ref: NumberRef | None = None,
    identity: Identity | None = None,
    kind: str = "loss",
) -> CloseLink:
    return CloseLink(ref or who.resident, identity or who.identity, spec, lost_on, kind=kind)


def moving(who: Someone, before: Identity, address: str, on: date) -> ChangeIdentity:
    return ChangeIdentity(who.resident, before, {"address": address}, on, "moved")


def death(who: Someone, died_on: date, identity: Identity | None = None) -> RecordDeath:
    return RecordDeath(who.resident, identity or who.identity, died_on)


def retraction(reference: str) -> Retract:
    return Retract(reference)


@dataclass
class Filer:
    """Files records from one filer onto one partition, with increasing offsets."""

    code: str
    topic: str = "relay.filings.v1"
    partition: int = 0
    offsets: count = field(default_factory=count)

    def file(
        self,
        reference: str,
        *commands: Command,
        when: datetime,
        effective: date | None = None,
        content: str = "v1",
        relay_time: datetime | None = None,
    ) -> LinkerRecord:
        """A record filed at `when`; it reaches the relay at `relay_time` (`when` unless
        given), the relay clock's time it is judged by."""
        return LinkerRecord(
            uuid5(FILING_NAMESPACE, f"{self.code}:{reference}"),
            type(commands[0]).__name__ if commands else "Empty",
            self.code,
            reference,
            f"{reference}:{content}",
            when,
            effective,
            Source(self.topic, self.partition, next(self.offsets)),
            tuple(commands),
            when if relay_time is None else relay_time,
        )


@dataclass
class Relay:
    """The linker in memory: decide, apply, expire, keeping every effect for inspection."""

    state: RelayState = field(default_factory=new_state)
    log: list[Effect] = field(default_factory=list)

    def feed(self, *records: LinkerRecord) -> list[Effect]:
        """Decide and apply each record, the relay clock advancing to its relay time before
        it (as the relay clock's ticks would), as `fold` does."""
        seen: list[Effect] = []
        for record in records:
            seen += self.advance(record.relay_time)
            effects = decide(self.state, record, HASHER)
            apply_all(self.state, effects)
            seen += effects
        self.log += seen
        return seen

    def advance(self, now: datetime) -> list[Effect]:
        """The relay clock reaches `now`: expire what is due, announce milestones reached."""
        return advance(self.state, now)

    def expire(self, now: datetime) -> list[Effect]:
        effects = self.advance(now)
        self.log += effects
        return effects

    def relay_id(self, who: Someone) -> str:
        return self.state.index[who.resident.key].relay_id

    def names(self, *people: Someone) -> dict[str, str]:
        known = [p for p in people if p.resident.key in self.state.index]
        return {self.relay_id(p): p.name for p in known}

    def links(self, *people: Someone) -> list[tuple[object, ...]]:
        """Link rows with relay ids replaced by names: (who, insurer, capacity, category,
        valid_from, valid_to, retracted)."""
        names = self.names(*people)
        rows = [
            (
                names[x.relay_id],
                x.insurer_number,
                x.capacity,
                x.category,
                x.valid_from,
                x.valid_to,
                x.retracted,
            )
            for links in self.state.links.values()
            for x in links
        ]
        return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))

    def anomalies(self) -> list[tuple[str, bool]]:
        return sorted((a.code, a.resolved) for a in self.state.anomalies.values())

    def status(self, record: LinkerRecord) -> str:
        return self.state.ledger[record.event_id].status

    def reasons(self, record: LinkerRecord) -> list[tuple[str, str | None]]:
        return [(r.code, r.field) for r in self.state.ledger[record.event_id].reasons]


def outcomes(effects: list[Effect]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (e.filing_reference, e.status, tuple(r.code for r in e.reasons))
        for e in effects
        if isinstance(e, OutcomeIssued)
    ]


def of_type(effects: list[Effect], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def event_id_of(filer: str, reference: str) -> UUID:
    return uuid5(FILING_NAMESPACE, f"{filer}:{reference}")


AOI = person("aoi", "30000000001", "1985-03-03")
BEN = person("ben", "30000000002", "1979-08-20", "male")
CHIE = person("chie", "30000000003", "2016-01-05")
DAI = person("dai", "30000000004", "1990-10-10", "male", address="港区芝4-4-4")
EMI = person("emi", "30000000005", "1950-09-09", address="港区芝5-5-5")
FUMI = person("fumi", "30000000006", "2025-04-03", address="港区芝6-6-6")
PEOPLE = (AOI, BEN, CHIE, DAI, EMI, FUMI)


def sample_records() -> list[LinkerRecord]:
    """About thirty filings from five filers over twelve days of event time, in event order.

    Moves, a name change, dependants, the NHI one-day overlap, a death, the 75 transition,
    numbers indexed by earlier filings, and retractions of an acquisition and of a loss."""
    town, jps = Filer("131016"), Filer("JPS", partition=2)
    first, second = Filer("E0001", partition=1), Filer("E0002", partition=1)
    elderly = Filer(ELDERLY_INSURER, partition=3)
    aoi_moved = AOI.at_address("東京都港区三田2-2-2")
    ben_renamed = with_items(BEN.identity, kanji_name="田中勉", kana_name="タナカツトム")
    rename = ChangeIdentity(
        BEN.resident,
        BEN.identity,
        {"kanji_name": ben_renamed.kanji_name, "kana_name": ben_renamed.kana_name},
        date(2025, 4, 7),
        "name_changed",
    )
    pension_ref = AOI.pension_number
    return sorted(
        [
            town.file("reg-aoi", register(AOI), when=at(4, 1, 8)),
            town.file("reg-ben", register(BEN), when=at(4, 1, 9)),
            town.file("reg-chie", register(CHIE), when=at(4, 1, 10)),
            town.file("reg-emi", register(EMI), when=at(4, 1, 11)),
            town.file("nhi-aoi", opening(AOI, nhi(AOI), date(2024, 1, 1)), when=at(4, 1, 12)),
            town.file(
                "reg-dai", register(DAI, date(2025, 4, 2), "arrival_from_abroad"), when=at(4, 2, 8)
            ),
            jps.file(
                "bpn-aoi", opening(AOI, pension(AOI, None), date(2005, 3, 2)), when=at(4, 2, 9)
            ),
            first.file(
                "acq-aoi",
                opening(AOI, employee_insurance(AOI), date(2025, 4, 1)),
                when=at(4, 2, 10),
            ),
            town.file("ltc-emi", opening(EMI, care(EMI), date(2015, 9, 8)), when=at(4, 2, 11)),
            town.file("nhi-emi", opening(EMI, nhi(EMI), date(2010, 4, 1)), when=at(4, 2, 12)),
            jps.file(
                "ep-aoi",
                opening(AOI, pension(AOI, "employee_pension"), date(2025, 4, 1), ref=pension_ref),
                when=at(4, 3, 8),
            ),
            second.file(
                "acq-ben",
                opening(BEN, employee_insurance(BEN), date(2025, 4, 1)),
                opening(
                    CHIE, employee_insurance(CHIE, "dependant"), date(2025, 4, 1), insured_by=BEN
                ),
                when=at(4, 3, 9),
            ),
            town.file("nhi-dai", opening(DAI, nhi(DAI), date(2025, 4, 2)), when=at(4, 3, 10)),
            town.file("reg-fumi", register(FUMI, date(2025, 4, 3), "birth"), when=at(4, 4, 8)),
            first.file(
                "acq-dai", opening(DAI, employee_insurance(DAI), date(2025, 4, 3)), when=at(4, 4, 9)
            ),
            first.file(
                "loss-aoi-wrong",
                closing(AOI, employee_insurance(AOI), date(2025, 4, 5)),
                when=at(4, 4, 10),
            ),
            town.file("nhi-fumi", opening(FUMI, nhi(FUMI), date(2025, 4, 3)), when=at(4, 5, 8)),
            first.file("cancel-loss", retraction("loss-aoi-wrong"), when=at(4, 5, 9)),
            town.file(
                "move-aoi",
                moving(AOI, AOI.identity, aoi_moved.address, date(2025, 4, 5)),
                when=at(4, 6, 8),
            ),
            town.file(
                "ltc-aoi-wrong",
                opening(AOI, care(AOI), date(2025, 4, 6), identity=aoi_moved),
                when=at(4, 6, 9),
            ),
            town.file("cancel-ltc", retraction("ltc-aoi-wrong"), when=at(4, 7, 8)),
            town.file("rename-ben", rename, when=at(4, 8, 8)),
            town.file("death-dai", death(DAI, date(2025, 4, 8)), when=at(4, 9, 8)),
            town.file("nhi-loss-aoi", closing(AOI, nhi(AOI), date(2025, 4, 2)), when=at(4, 9, 9)),
            first.file(
                "loss-dai",
                closing(DAI, employee_insurance(DAI), date(2025, 4, 9)),
                when=at(4, 10, 8),
            ),
            elderly.file(
                "elderly-emi", opening(EMI, late_stage(EMI), date(2025, 9, 9)), when=at(4, 10, 9)
            ),
            second.file(
                "loss-ben",
                closing(BEN, employee_insurance(BEN), date(2025, 4, 10), identity=ben_renamed),
                closing(CHIE, employee_insurance(CHIE, "dependant"), date(2025, 4, 10)),
                when=at(4, 11, 8),
            ),
            town.file(
                "nhi-ben",
                opening(BEN, nhi(BEN), date(2025, 4, 10), identity=ben_renamed),
                when=at(4, 12, 8),
            ),
            jps.file(
                "bpn-ben", opening(BEN, pension(BEN, None), date(1999, 8, 19)), when=at(4, 12, 9)
            ),
            jps.file(
                "t1-ben",
                opening(
                    BEN, pension(BEN, "national_type1"), date(2025, 4, 10), identity=ben_renamed
                ),
                when=at(4, 12, 10),
            ),
        ],
        key=lambda r: r.occurred_at,
    )
