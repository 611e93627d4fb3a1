"""One period's 合算 close at one medical insurer (DOMAIN §6): the households whose base-date
insurer it is, their members' self-pay gathered from the other insurers through the relay, the
calculation, the members' statements and the settlement ledger, ready to send.

Each close is a new round with its own request ids; a household whose inputs are incomplete (a
provider unavailable, an answer unreadable, no reply in time) is held back with its reason and
tried again at the next close, never settled on part of its inputs. The ledger only grows:
`reconciliation.settling` gives the difference to what was settled before, if any."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from groundfloor import faults
from insurer_workers import member_store, receipt_store
from insurer_workers.member_reading import MEDICAL
from insurer_workers.worker import InsurerIdentity, send_requests
from reconciliation.calculation import (
    CareSelfPay,
    Household,
    IncomeCategory,
    InputError,
    Member,
    Period,
    Receipt,
    base_date_for,
    calculate,
    statement,
)
from reconciliation.calculation.apportion import Side
from reconciliation.settling import (
    Answer,
    LedgerBroken,
    Made,
    Settlement,
    TargetKey,
    member_targets,
    next_settlement,
    read_answer,
)
from schemas.common import InsuredNumber
from schemas.exchange import MAX_ENTRIES, ExchangeRequest, MemberNumber, RequestEntry
from schemas.exchange_terms import DataCategory, ExchangeOutcome, ExchangeScheme, Purpose
from schemas.topics import Namespace

CLOSE_NAMESPACE = UUID("6d2c8f0a-41b7-5e93-8c1d-2f7a9b3e5c60")
CHUNK = 100
"""Households written per transaction."""
BATCH = 500
"""Store households a close takes at a time: it reads them, asks about their members, gathers
the replies and settles them before it takes the next ones (`AHEAD` batches are asked while one
is gathered), so that what the close holds (households, entries' states, the providers'
answers) stays bounded whatever the insurer's size. A batch's questions stay batched (up to
MAX_ENTRIES members a request, per scheme and base date). The results do not depend on it:
households are settled in the same order, each from its own replies."""
AHEAD = 2
"""Batches a close asks about ahead of the one it gathers, so that their replies are on the way
meanwhile (only the gathered batch's replies are read and held)."""
POLL = 0.5
"""Seconds between two readings of the replies the insurer's worker recorded."""
SCHEMES = (ExchangeScheme.MEDICAL, ExchangeScheme.LONG_TERM_CARE)
INCOME = {"ア": IncomeCategory.ACTIVE_III, "イ": IncomeCategory.ACTIVE_II,
          "ウ": IncomeCategory.ACTIVE_I, "エ": IncomeCategory.GENERAL,
          "オ": IncomeCategory.LOW_II, **{c.value: c for c in IncomeCategory}}
"""The store's 所得区分 labels: under 70 ア–オ (オ, 住民税非課税, has the 低所得 row's threshold),
70 and over DOMAIN §6's own."""
Progress = Callable[[int, int], None]


REPLY_WANTED = ("no_reply", "unavailable")
"""Why a household is held back for want of a reply or an answer: a close with any such is
made again soon (`reconciler`), not at the next month's, as the answer may come meanwhile (a
provider's worker that was down); one held back for another reason waits for the next close."""


class CloseRunning(RuntimeError):
    """Another close of the same insurer and period holds the lock."""


@dataclass(frozen=True)
class Insured:
    """A member of a household on the base date, as this insurer's store holds them."""

    number: str
    key: str
    capacity: str
    birth_date: date | None
    income_category: str


@dataclass(frozen=True)
class Unit:
    """A household within this insurer on one base date: the unit of one calculation."""

    household: str
    base_date: date
    members: tuple[Insured, ...]

    @property
    def name(self) -> str:
        return f"{self.household}@{self.base_date.isoformat()}"


@dataclass(frozen=True)
class Asked:
    """One request of a close: its scheme and span's end, and which member each token is."""

    request_id: UUID
    scheme: ExchangeScheme
    base_date: date
    entries: dict[str, str]


@dataclass
class EntryState:
    """What the replies recorded say of one entry so far."""

    refused: str | None = None
    providers: list[str] | None = None
    answers: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)

    @property
    def terminal(self) -> bool:
        if self.refused is not None:
            return True
        return self.providers is not None and all(
            p in self.answers or p in self.unavailable for p in self.providers)


@dataclass
class CloseReport:
    """What one close did (codes and counts; amounts are the insurer's own)."""

    code: str
    period: int
    round: int
    households: int = 0
    settled: int = 0
    held_back: Counter[str] = field(default_factory=Counter)
    new: int = 0
    deltas: int = 0
    amounts: dict[str, int] = field(default_factory=dict)
    resent: Counter[str] = field(default_factory=Counter)
    """Settlements the relay refused (by its reason) that this close sends again, as they
    still are what the member is owed; their amounts were counted when they were made."""
    taken_back: int = 0
    """Members whose settlements this close brought back to 0 (`take_back`)."""

    def copy(self) -> CloseReport:
        """A copy to go back to when a household's or member's writing gives way."""
        return replace(self, held_back=Counter(self.held_back), amounts=dict(self.amounts),
                       resent=Counter(self.resent))

    @property
    def complete(self) -> bool:
        """Whether every reply came in time: no household held back for want of one, or of an
        answer a provider did not give before the deadline (`REPLY_WANTED`)."""
        return not any(self.held_back.get(reason) for reason in REPLY_WANTED)

    def counts(self) -> dict[str, Any]:
        return {"households": self.households, "settled": self.settled,
                "held_back": dict(sorted(self.held_back.items())), "new": self.new,
                "deltas": self.deltas, "amounts": dict(sorted(self.amounts.items())),
                "resent": dict(sorted(self.resent.items())), "taken_back": self.taken_back}


def late_stage_from(birth: date) -> date:
    """The 75th birthday: the first day in the 75+ scheme (DOMAIN §5b)."""
    try:
        return birth.replace(year=birth.year + 75)
    except ValueError:  # 29 February
        return date(birth.year + 75, 3, 1)


def member_number(number: str) -> MemberNumber:
    """The store's canonical insured number (`symbol|number|branch`) as a request names it."""
    symbol, no, branch = number.split("|")
    return MemberNumber(insured_number=InsuredNumber(symbol=symbol or None, number=no,
                                                     branch=branch or None))


def request_id(code: str, period: int, round_: int, batch: int) -> UUID:
    """A close's request id: the same insurer, period, round and batch give the same id."""
    return uuid5(CLOSE_NAMESPACE, f"{code}|{period}|{round_}|{batch}")


async def households_of(conn: asyncpg.Connection, code: str, period: Period,
                        households: list[str] | None = None) -> list[Unit]:
    """The households whose medical insurer on the base date this insurer is (of `households`
    when given): each member's base date (31 July; the date of death; the day before the 75th
    birthday), the member's period here covering it, grouped by the store's household on that
    date; in the order of household (by its bytes) and base date."""
    name = member_store.store_name(code)
    rows = await conn.fetch(
        f"""SELECT member_number, capacity, valid_from, valid_to, household, income_category,
            birth_date, died_on FROM {name}.members WHERE scheme = $1 AND valid_from <= $3
            AND (valid_to IS NULL OR valid_to > $2)
            AND ($4::text[] IS NULL OR household = ANY($4::text[]))
            ORDER BY member_number, valid_from""",
        MEDICAL, period.first_day, period.last_day, households)
    units: dict[tuple[str, date], list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        birth = r["birth_date"]
        late = late_stage_from(birth) if birth is not None else None
        base = base_date_for(period, died_on=r["died_on"], late_stage_from=late)
        if r["valid_from"] <= base and (r["valid_to"] is None or base < r["valid_to"]):
            units[(r["household"], base)].append(r)
    keys = await member_keys(conn, code, sorted({r["member_number"] for r in rows}))
    found = []
    for (household, base), members in sorted(units.items()):
        insured = sorted({r["member_number"]: Insured(
            r["member_number"], keys[r["member_number"]], r["capacity"], r["birth_date"],
            r["income_category"]) for r in members}.values(),
            key=lambda m: (m.capacity != "insured", m.number))
        found.append(Unit(household, base, tuple(insured)))
    return found


async def household_batches(conn: asyncpg.Connection, code: str, period: Period,
                            size: int = BATCH) -> AsyncIterator[list[Unit]]:
    """`households_of`, `size` store households at a time (each a page read when the
    previous one is done with, after the last household of the previous page by its bytes):
    the same households in the same order, whatever `size`."""
    if size < 1:
        raise ValueError("a batch holds at least one household")
    name = member_store.store_name(code)
    after: str | None = None
    while True:
        page = [r["household"] for r in await conn.fetch(
            f"""SELECT household FROM {name}.members WHERE scheme = $1 AND valid_from <= $3
                AND (valid_to IS NULL OR valid_to > $2)
                AND ($4::text IS NULL OR household COLLATE "C" > $4::text COLLATE "C")
                GROUP BY household ORDER BY household COLLATE "C" LIMIT $5""",
            MEDICAL, period.first_day, period.last_day, after, size)]
        if not page:
            return
        after = page[-1]
        units = await households_of(conn, code, period, page)
        if units:
            yield units


async def member_keys(conn: asyncpg.Connection, code: str,
                      numbers: list[str]) -> dict[str, str]:
    """Each member's opaque key in this store (made on first use; never derived from the
    number, so it tells nothing of it)."""
    name = member_store.store_name(code)
    await conn.execute(f"""INSERT INTO {name}.member_keys (member_number)
                           SELECT unnest($1::text[]) ON CONFLICT DO NOTHING""", numbers)
    rows = await conn.fetch(f"""SELECT member_number, member_key FROM {name}.member_keys
                                WHERE member_number = ANY($1::text[])""", numbers)
    return {r["member_number"]: str(r["member_key"]) for r in rows}


async def begin(conn: asyncpg.Connection, code: str, period: Period,
                relay_time: datetime | None) -> int:
    """A new round of the period's close (1 for the first); the store is made current and the
    close's lock taken for this connection's session (released by `finish`)."""
    await member_store.create_store(conn, code)
    if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))",
                               f"close:{code}:{period.year}"):
        raise CloseRunning("a close of this insurer and period is running")
    name = member_store.store_name(code)
    return await conn.fetchval(
        f"""INSERT INTO {name}.closes (period, round, started_at, relay_time)
            SELECT $1, COALESCE(max(round), 0) + 1, now(), $2 FROM {name}.closes
            WHERE period = $1 RETURNING round""", period.year, relay_time)


def requests_for(code: str, period: Period, round_: int, units: Iterable[Unit],
                 relay_time: datetime, ttl: timedelta, first: int = 0
                 ) -> tuple[list[ExchangeRequest], list[Asked]]:
    """The close's questions: for each scheme and base date, the members' numbers in batches
    of at most MAX_ENTRIES, over the period up to the base date (the relay asks every other
    insurer that covered them then, before this insurer's cover included). The requests are
    numbered from `first` (a close asking in several batches goes on from the previous one's
    last number)."""
    by_date: dict[date, list[str]] = defaultdict(list)
    for unit in units:
        by_date[unit.base_date] += [m.number for m in unit.members]
    requests, asked, batch = [], [], first
    for scheme in SCHEMES:
        for base, numbers in sorted(by_date.items()):
            numbers = sorted(set(numbers))
            for start in range(0, len(numbers), MAX_ENTRIES):
                chunk = numbers[start:start + MAX_ENTRIES]
                entries = {f"e{i}": n for i, n in enumerate(chunk)}
                rid = request_id(code, period.year, round_, batch)
                batch += 1
                requests.append(ExchangeRequest(
                    request_id=rid, asker_code=code, scheme=scheme,
                    category=DataCategory.SELF_PAY_AMOUNTS, purpose=Purpose.COMBINED_HIGH_COST,
                    period_from=period.first_day, period_to=base,
                    expires_at=relay_time + ttl,
                    entries=[RequestEntry(entry=t, member=member_number(n))
                             for t, n in entries.items()]))
                asked.append(Asked(rid, scheme, base, entries))
    return requests, asked


class Replies:
    """What the insurer's worker recorded of the replies to some of the close's requests, per
    entry, read incrementally: each reading takes only the rows it has not taken before and
    brings the entries' states up to date in place.

    A row is new when its writing transaction is at or after the horizon of the previous
    reading (the oldest transaction still running then, `pg_snapshot_xmin`): every row of an
    older transaction was committed before that reading began, so it was read then; the rows
    at or after the horizon that were read already are known by id and skipped."""

    def __init__(self, code: str, asked: list[Asked], answers: bool = True) -> None:
        self.code, self.asked, self.answers = code, asked, answers
        self.found = {(a.request_id, token): EntryState() for a in asked for token in a.entries}
        self.tokens = {a.request_id: list(a.entries) for a in asked}
        self.waiting = len(self.found)
        """Entries not terminal yet."""
        self.horizon: str | None = None
        self.seen: dict[UUID, int] = {}

    @property
    def done(self) -> int:
        return len(self.found) - self.waiting

    async def read(self, conn: asyncpg.Connection) -> int:
        """The rows recorded since the last reading applied; how many."""
        name = member_store.store_name(self.code)
        horizon = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        detail = "detail" if self.answers else "detail - 'answer'"
        rows = await conn.fetch(
            f"""SELECT id, xid::text AS xid, request_id, outcome, {detail} AS detail
                FROM {name}.asked WHERE request_id = ANY($1::uuid[])
                AND ($2::text IS NULL OR xid >= $2::text::xid8)""",
            list(self.tokens), self.horizon)
        new = 0
        for r in rows:
            if r["id"] in self.seen:
                continue
            self.seen[r["id"]] = int(r["xid"])
            new += 1
            self._apply(r["request_id"], r["outcome"], r["detail"])
        self.horizon = horizon
        floor = int(horizon)
        self.seen = {i: x for i, x in self.seen.items() if x >= floor}
        return new

    def _apply(self, request: UUID, outcome: str, raw: Any) -> None:
        detail = json.loads(raw) if isinstance(raw, str) else raw
        entry = detail.get("entry")
        for token in [entry] if entry is not None else self.tokens[request]:
            state = self.found.get((request, token))
            if state is None:
                continue
            was = state.terminal
            if outcome == ExchangeOutcome.REFUSED.value:
                state.refused = detail.get("reason") or "refused"
            elif outcome == ExchangeOutcome.FORWARDED.value:
                state.providers = list(detail.get("providers") or [])
            elif outcome == ExchangeOutcome.ANSWERED.value:
                state.answers[detail.get("provider")] = (
                    None if detail.get("answer_unreadable")
                    else detail.get("answer") if self.answers else {})
            elif outcome == ExchangeOutcome.UNAVAILABLE.value:
                state.unavailable.add(detail.get("provider"))
            self.waiting += int(was) - int(state.terminal)


async def states(conn: asyncpg.Connection, code: str, asked: list[Asked],
                 answers: bool = True) -> dict[tuple[UUID, str], EntryState]:
    """What the insurer's worker recorded of the replies to the close's requests, per entry;
    without `answers`, each answer read as an empty one (enough to tell whether an entry is
    terminal, without reading and parsing every answer's receipts)."""
    replies = Replies(code, asked, answers)
    await replies.read(conn)
    return replies.found


async def gather(conn: asyncpg.Connection, code: str, asked: list[Asked], wait: float,
                 progress: Progress | None = None,
                 poll: float = POLL) -> dict[tuple[UUID, str], EntryState]:
    """The entries' states once every one is terminal, or as they stand after `wait` seconds:
    each poll reads only the replies recorded since the previous one (`Replies`)."""
    deadline = time.monotonic() + wait
    replies = Replies(code, asked)
    while True:
        await replies.read(conn)
        if progress is not None:
            progress(replies.done, len(replies.found))
        if replies.waiting == 0 or time.monotonic() >= deadline:
            return replies.found
        await asyncio.sleep(poll)


def entries_of(asked: list[Asked]) -> dict[tuple[ExchangeScheme, date, str], tuple[UUID, str]]:
    """Where each member was asked about: (scheme, base date, number) → (request, token)."""
    return {(a.scheme, a.base_date, number): (a.request_id, token)
            for a in asked for token, number in a.entries.items()}


def _remote(unit: Unit, asked: list[Asked], found: dict[tuple[UUID, str], EntryState],
            where: dict[tuple[ExchangeScheme, date, str], tuple[UUID, str]] | None = None
            ) -> tuple[list[Receipt], list[CareSelfPay]] | str:
    """The members' receipts and care months from the other insurers, or why the household
    is held back (`where`: `entries_of(asked)`, made once for all the close's households)."""
    where = entries_of(asked) if where is None else where
    receipts: list[Receipt] = []
    care: list[CareSelfPay] = []
    for member in unit.members:
        for scheme in SCHEMES:
            at = where.get((scheme, unit.base_date, member.number))
            state = found.get(at) if at is not None else None
            if state is None or not state.terminal:
                return "no_reply"
            if state.refused is not None:
                if state.refused == "nobody_covered":
                    continue
                return f"refused:{state.refused}"
            for provider in sorted(state.providers or []):
                if provider in state.unavailable and provider not in state.answers:
                    return "unavailable"
                body = state.answers.get(provider)
                if body is None:
                    return "answer_unreadable"
                got = read_answer(body, provider=provider, member_key=member.key,
                                  scheme=scheme.value)
                if not isinstance(got, Answer):
                    return f"unreadable:{got.reason}"
                receipts += got.receipts
                care += got.care
    return receipts, care


async def inputs_of(conn: asyncpg.Connection, code: str, period: Period, unit: Unit,
                    remote: tuple[list[Receipt], list[CareSelfPay]]) -> Household | str:
    """The household's calculation inputs: this insurer's own receipts and the others', or
    why it is held back."""
    head = unit.members[0]
    category = INCOME.get(head.income_category)
    if category is None:
        return "unknown_income_category"
    if any(m.birth_date is None for m in unit.members):
        return "no_birth_date"
    receipts, care = list(remote[0]), list(remote[1])
    for m in unit.members:
        own, own_care = await receipt_store.household_inputs(conn, code, m.number, m.key, period)
        receipts += [replace(r, receipt_id=f"{code}:{r.receipt_id}") for r in own]
        care += own_care
    members = tuple(Member(key=m.key, birth_date=m.birth_date or date.min, in_household=True,
                           base_date=unit.base_date, base_insurer=code,
                           income_category=category) for m in unit.members)
    return Household(period=period, members=members, receipts=tuple(receipts), care=tuple(care))


async def _made(conn: asyncpg.Connection, name: str, period: Period, keys: list[str]
                ) -> tuple[dict[TargetKey, list[Made]], dict[UUID, str]]:
    """The members' settlements in their chains (every row the relay has not refused), and
    the refused ones with the relay's reason."""
    rows = await conn.fetch(
        f"""SELECT settlement_id, corrects, amount_yen, member_key, payer_side, payer_code,
            benefit, refused FROM {name}.settlements
            WHERE period = $1 AND member_key = ANY($2::uuid[])""", period.year, keys)
    made: dict[TargetKey, list[Made]] = defaultdict(list)
    refused: dict[UUID, str] = {}
    for r in rows:
        if r["refused"] is not None:
            refused[r["settlement_id"]] = r["refused"]
            continue
        key = TargetKey(str(r["member_key"]), Side(r["payer_side"]), r["payer_code"],
                        r["benefit"])
        made[key].append(Made(r["settlement_id"], r["corrects"], r["amount_yen"]))
    return made, refused


def new_settlements(code: str, period: Period, targets: dict[TargetKey, int],
                     made: dict[TargetKey, list[Made]]) -> list[Settlement]:
    """The ledger rows bringing every line of the household to its target (0 for a line
    settled before that has none now); an InputError when a target cannot be settled."""
    new: list[Settlement] = []
    for key in sorted(set(targets) | set(made)):
        found = next_settlement(code, period.year, key, made.get(key, []), targets.get(key, 0))
        if found is not None:
            new.append(found)
    return new


async def _settle_unit(conn: asyncpg.Connection, code: str, period: Period, round_: int,
                       unit: Unit, household: Household, report: CloseReport) -> None:
    name = member_store.store_name(code)
    made, refused = await _made(conn, name, period, [m.key for m in unit.members])
    try:
        calculation = calculate(household)
        targets = member_targets(calculation)
        new = new_settlements(code, period, targets, made)
    except InputError as refused:  # also a total the settlement contract cannot carry
        await _hold(conn, name, period, round_, unit, f"input:{refused.reason}", report)
        return
    except LedgerBroken:  # a ledger edited by hand: for the insurer to mend, not to stop on
        await _hold(conn, name, period, round_, unit, "ledger_broken", report)
        return
    shares = json.dumps([{"side": s.payer.side.value, "payer": s.payer.insurer_number,
                          "benefit": s.benefit, "amount_yen": s.amount}
                         for s in calculation.shares])
    for m in unit.members:
        await conn.execute(
            f"""INSERT INTO {name}.statements (period, member_key, household, base_date, round,
                outcome, payment_yen, medical_total_yen, care_total_yen, shares, statement)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
                ON CONFLICT (period, member_key) DO UPDATE SET household = EXCLUDED.household,
                base_date = EXCLUDED.base_date, round = EXCLUDED.round,
                outcome = EXCLUDED.outcome, payment_yen = EXCLUDED.payment_yen,
                medical_total_yen = EXCLUDED.medical_total_yen,
                care_total_yen = EXCLUDED.care_total_yen, shares = EXCLUDED.shares,
                statement = EXCLUDED.statement""",
            period.year, UUID(m.key), unit.name, unit.base_date, round_,
            calculation.run.outcome, calculation.payment, calculation.medical_total,
            calculation.care_total, shares, statement(calculation, m.key))
    await _write(conn, name, period, round_, unit.name, new, refused, report)
    await conn.execute(f"DELETE FROM {name}.held_back WHERE period = $1 AND household = $2",
                       period.year, unit.name)
    report.settled += 1


async def _write(conn: asyncpg.Connection, name: str, period: Period, round_: int,
                 household: str, new: list[Settlement], refused: dict[UUID, str],
                 report: CloseReport) -> None:
    """The new ledger rows written, counted into `report`."""
    for s in new:
        if s.settlement_id in refused:  # the same settlement again: sent again, same bytes,
            # still out of the chain until the relay forwards it (the same refusal again is
            # the same reply, which the relay does not send twice)
            await conn.execute(f"""UPDATE {name}.settlements SET sent_at = NULL
                                   WHERE settlement_id = $1""", s.settlement_id)
            report.resent[refused[s.settlement_id]] += 1
            continue
        await conn.execute(
            f"""INSERT INTO {name}.settlements (settlement_id, period, member_key, household,
                payer_side, payer_code, benefit, amount_yen, total_yen, corrects, round,
                created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
                ON CONFLICT (settlement_id) DO NOTHING""",
            s.settlement_id, period.year, UUID(s.key.member_key), household,
            s.key.side.value, s.key.payer, s.key.benefit, s.amount, s.total, s.corrects,
            round_)
        report.new += s.corrects is None
        report.deltas += s.corrects is not None
        payer = f"{s.key.side.value}:{s.key.payer}"
        report.amounts[payer] = report.amounts.get(payer, 0) + s.amount


async def take_back(conn: asyncpg.Connection, code: str, period: Period, round_: int,
                    kept: set[str], report: CloseReport) -> CloseReport:
    """Every line settled for a member this close did not calculate (not in `kept`: a late
    loss, death or number change made another insurer, or another number, the one of their
    base date) brought back to 0, in one transaction: the relay lets only the chain's sender
    take it back, and routes the new base-date insurer's first settlement once it has (the
    one it refused before is sent again by that insurer's next close). Only members the store
    still holds a medical row of are taken back (a loss or a death leaves theirs, with its
    end). Counted as deltas and
    `taken_back` members (a ledger broken or changed meanwhile as `held_back`, and taken back
    at the next close); the same ledger again adds nothing."""
    name = member_store.store_name(code)
    rows = await conn.fetch(  # of members the store still holds: a store emptied by mistake
        # takes nothing back
        f"""SELECT DISTINCT ON (s.member_key) s.member_key, s.household
            FROM {name}.settlements s JOIN {name}.member_keys k ON k.member_key = s.member_key
            WHERE s.period = $1 AND s.refused IS NULL AND NOT (s.member_key = ANY($2::uuid[]))
            AND EXISTS (SELECT 1 FROM {name}.members m
                        WHERE m.member_number = k.member_number AND m.scheme = $3)
            ORDER BY s.member_key, s.round DESC, s.created_at DESC""",
        period.year, [UUID(k) for k in kept], MEDICAL)
    made, refused = await _made(conn, name, period, [str(r["member_key"]) for r in rows])
    lines: dict[str, dict[TargetKey, list[Made]]] = defaultdict(dict)
    for key, chain in made.items():
        lines[key.member_key][key] = chain
    async with conn.transaction():
        for row in rows:
            try:
                new = new_settlements(code, period, {}, lines[str(row["member_key"])])
            except LedgerBroken:  # as in a household's close: for the insurer to mend
                report.held_back["ledger_broken"] += 1
                continue
            if not new:
                continue
            before = report.copy()
            try:
                async with conn.transaction():
                    await _write(conn, name, period, round_, row["household"], new, refused,
                                 report)
            except asyncpg.UniqueViolationError:  # a late forward put a row in its place
                report = before
                report.held_back["ledger_changed"] += 1
                continue
            report.taken_back += 1
    return report


async def settle_household(conn: asyncpg.Connection, code: str, period: Period, round_: int,
                           unit: Unit, household: Household, report: CloseReport
                           ) -> CloseReport:
    """One household calculated and its ledger rows written (in a savepoint of the caller's
    transaction), counted into `report`; the report to go on with. When the insurer's worker
    put a refused row back in its chain meanwhile (a late forward) where this close writes the
    row taking its place, the household is held back (`ledger_changed`) and settled at the
    next close, from the chain as it then stands."""
    before = report.copy()
    try:
        async with conn.transaction():
            await _settle_unit(conn, code, period, round_, unit, household, report)
    except asyncpg.UniqueViolationError:
        await _hold(conn, member_store.store_name(code), period, round_, unit,
                    "ledger_changed", before)
        return before
    return report


async def _hold(conn: asyncpg.Connection, name: str, period: Period, round_: int, unit: Unit,
                reason: str, report: CloseReport) -> None:
    await conn.execute(
        f"""INSERT INTO {name}.held_back (period, household, round, reason)
            VALUES ($1, $2, $3, $4) ON CONFLICT (period, household) DO UPDATE SET
            round = EXCLUDED.round, reason = EXCLUDED.reason""",
        period.year, unit.name, round_, reason)
    report.held_back[reason] += 1


async def _settle_chunk(conn: asyncpg.Connection, code: str, period: Period, round_: int,
                        units: list[Unit], asked: list[Asked],
                        found: dict[tuple[UUID, str], EntryState],
                        where: dict[tuple[ExchangeScheme, date, str], tuple[UUID, str]],
                        report: CloseReport) -> CloseReport:
    """`units` settled or held back in one transaction, counted into `report`."""
    name = member_store.store_name(code)
    written = report.new + report.deltas
    async with conn.transaction():
        for unit in units:
            remote = _remote(unit, asked, found, where)
            household = remote if isinstance(remote, str) else await inputs_of(
                conn, code, period, unit, remote)
            if isinstance(household, str):
                await _hold(conn, name, period, round_, unit, household, report)
            else:
                report = await settle_household(conn, code, period, round_, unit,
                                                household, report)
    if report.new + report.deltas > written:
        faults.reached("close.after-ledger-chunk")
    return report


async def settle(conn: asyncpg.Connection, code: str, period: Period, round_: int,
                 units: list[Unit], asked: list[Asked],
                 found: dict[tuple[UUID, str], EntryState],
                 progress: Progress | None = None, chunk: int = CHUNK) -> CloseReport:
    """Calculate each household whose inputs are complete and write its members' statements
    and ledger rows, one transaction per `chunk` households; hold the others back."""
    report = CloseReport(code, period.year, round_, households=len(units))
    where = entries_of(asked)
    for start in range(0, len(units), chunk):
        report = await _settle_chunk(conn, code, period, round_, units[start:start + chunk],
                                     asked, found, where, report)
        if progress is not None:
            progress(min(start + chunk, len(units)), len(units))
    return report


@dataclass
class Silence:
    """Who left entries of a close's batch without their reply when its wait ran out: the
    relay (an entry with no reply at all: the relay, or the insurer's own worker, silent) or
    providers (forwarded to, not answered). A later batch of the same close does not wait for
    what only they would bring: its households waiting on them are held back (`no_reply`) as
    soon as nothing else is awaited, so that a close of many batches with a provider down
    waits out its `wait` once, not once a batch."""

    relay: bool = False
    providers: set[str] = field(default_factory=set)

    def heard(self, replies: Replies) -> None:
        """The parties the entries still waiting for a reply wait on, silent from now on."""
        for state in replies.found.values():
            if state.terminal:
                continue
            if state.providers is None:
                self.relay = True
            else:
                self.providers |= _missing(state)

    def awaited(self, replies: Replies) -> bool:
        """Whether an entry not terminal yet waits on a party not known silent."""
        if not self.relay and not self.providers:
            return replies.waiting > 0
        for state in replies.found.values():
            if state.terminal:
                continue
            if state.providers is None:
                if not self.relay:
                    return True
            elif not _missing(state) <= self.providers:
                return True
        return False


def _forget_answers(replies: Replies, settled: list[list[tuple[UUID, str]]],
                    needed: Counter[tuple[UUID, str]]) -> None:
    """The answers of the entries no household left to settle needs dropped (an entry stays
    terminal: only which providers answered is kept), so that a batch holds the answers of the
    households not settled yet."""
    for of_unit in settled:
        for at in of_unit:
            needed[at] -= 1
            if needed[at] == 0:
                state = replies.found[at]
                state.answers = dict.fromkeys(state.answers)


def _missing(state: EntryState) -> set[str]:
    return {p for p in state.providers or []
            if p not in state.answers and p not in state.unavailable}


@dataclass
class Batch:
    """Households of a close asked about together, and what was recorded of their replies."""

    units: list[Unit]
    asked: list[Asked]
    replies: Replies
    sent: float
    """When its requests were sent (`time.monotonic`)."""


class Closing:
    """One close's batches (`household_batches`): each asked about (`AHEAD` of the one
    gathered), its replies read as they are recorded, its households settled in order as
    soon as every reply of theirs is in (a transaction per `chunk`), the rest when every entry
    has its reply or the batch's `wait` ran out (`Silence`)."""

    def __init__(self, conn: asyncpg.Connection, me: InsurerIdentity, namespace: Namespace,
                 relay_time: datetime, period: Period, round_: int, *, wait: float,
                 ttl: timedelta, chunk: int, progress: Progress | None,
                 poll: float = POLL) -> None:
        self.conn, self.me, self.namespace = conn, me, namespace
        self.relay_time, self.period, self.round = relay_time, period, round_
        self.wait, self.ttl, self.chunk, self.progress, self.poll = wait, ttl, chunk, progress, poll
        self.report = CloseReport(me.code, period.year, round_)
        self.silence = Silence()
        self.requests = 0
        self.done = self.total = 0
        """Entries terminal and asked about in the batches done with."""
        self.members: set[str] = set()
        """The member keys of every household this close calculates (or holds back)."""

    async def ask(self, units: list[Unit] | None) -> Batch | None:
        """The batch's questions sent (none: no batch)."""
        if units is None:
            return None
        self.members.update(m.key for u in units for m in u.members)
        requests, asked = requests_for(self.me.code, self.period, self.round, units,
                                       self.relay_time, self.ttl, first=self.requests)
        self.requests += len(requests)
        await send_requests(self.me, self.namespace, requests)
        return Batch(units, asked, Replies(self.me.code, asked), time.monotonic())

    async def settle(self, batch: Batch) -> None:
        """The batch's households settled or held back, in order."""
        units, replies = batch.units, batch.replies
        where = entries_of(batch.asked)
        entries = [[where[(scheme, u.base_date, m.number)] for m in u.members
                    for scheme in SCHEMES] for u in units]
        needed = Counter(at for of_unit in entries for at in of_unit)
        self.report.households += len(units)
        deadline = batch.sent + self.wait
        settled = ready = 0
        while True:
            await replies.read(self.conn)
            if self.progress is not None:
                self.progress(self.done + replies.done, self.total + len(replies.found))
            while ready < len(units) and all(replies.found[at].terminal
                                             for at in entries[ready]):
                ready += 1
            while ready - settled >= self.chunk:
                await self._chunk(batch, where, units[settled:settled + self.chunk])
                settled += self.chunk
                _forget_answers(replies, entries[settled - self.chunk:settled], needed)
            if (ready == len(units) or time.monotonic() >= deadline
                    or not self.silence.awaited(replies)):
                break
            await asyncio.sleep(self.poll)
        self.silence.heard(replies)
        for start in range(settled, len(units), self.chunk):
            await self._chunk(batch, where, units[start:start + self.chunk])
        self.done += replies.done
        self.total += len(replies.found)

    async def _chunk(self, batch: Batch, where: dict[tuple[ExchangeScheme, date, str],
                                                     tuple[UUID, str]],
                     units: list[Unit]) -> None:
        self.report = await _settle_chunk(self.conn, self.me.code, self.period, self.round,
                                          units, batch.asked, batch.replies.found, where,
                                          self.report)


async def finish(conn: asyncpg.Connection, code: str, report: CloseReport,
                 scheduled_for: date | None = None) -> None:
    """The round finished, with its counts; as the scheduled close of `scheduled_for` only
    when every reply came in (a close short of replies is made again)."""
    name = member_store.store_name(code)
    await conn.execute(f"""UPDATE {name}.closes SET finished_at = now(), counts = $3::jsonb,
                           scheduled_for = $4 WHERE period = $1 AND round = $2""",
                       report.period, report.round, json.dumps(report.counts()),
                       scheduled_for if report.complete else None)
    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))",
                       f"close:{code}:{report.period}")


async def close(conn: asyncpg.Connection, me: InsurerIdentity, namespace: Namespace,
                relay_time: datetime, period: Period, *, wait: float = 600.0,
                ttl: timedelta = timedelta(hours=1),
                progress: Progress | None = None, scheduled_for: date | None = None,
                chunk: int = CHUNK, batch: int = BATCH) -> CloseReport:
    """One close of `period` at `me`: `batch` households at a time, ask, wait (at most `wait`
    seconds from the batch's asking) for the replies the insurer's running worker records,
    settle. `relay_time` is the relay clock's (the requests' deadline is `ttl` after it);
    `scheduled_for` the scheduled close it makes, if any (null on demand)."""
    round_ = await begin(conn, me.code, period, relay_time)
    try:
        closing = Closing(conn, me, namespace, relay_time, period, round_, wait=wait,
                          ttl=ttl, chunk=chunk, progress=progress)
        async with contextlib.aclosing(household_batches(conn, me.code, period,
                                                         batch)) as pages:
            asked: deque[Batch] = deque()
            more = True
            while more or asked:
                while more and len(asked) <= AHEAD:
                    found = await closing.ask(await anext(pages, None))
                    more = found is not None
                    if found is not None:
                        asked.append(found)
                if asked:
                    await closing.settle(asked.popleft())
        report = await take_back(conn, me.code, period, round_, closing.members,
                                 closing.report)
    except BaseException:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))",
                           f"close:{me.code}:{period.year}")
        raise
    await finish(conn, me.code, report, scheduled_for)
    return report


async def last_scheduled(conn: asyncpg.Connection, code: str, period: int) -> date | None:
    """The latest scheduled close of `period` a round finished with every reply in."""
    name = member_store.store_name(code)
    return await conn.fetchval(f"""SELECT max(scheduled_for) FROM {name}.closes
                                   WHERE period = $1 AND finished_at IS NOT NULL""", period)


@dataclass(frozen=True)
class PendingSettlement:
    """A ledger row not sent yet: what the sending side turns into a settlement instruction."""

    settlement_id: UUID
    period: int
    member_key: str
    household: str
    payer_side: str
    payer_code: str
    benefit: str
    amount_yen: int
    total_yen: int
    corrects: UUID | None
    round: int
    created_at: datetime


async def pending_settlements(conn: asyncpg.Connection, code: str,
                              period: int) -> list[PendingSettlement]:
    """The period's settlements not marked sent, in the order they were made (a correction
    always after the settlement it corrects)."""
    name = member_store.store_name(code)
    rows = await conn.fetch(
        f"""SELECT settlement_id, period, member_key, household, payer_side, payer_code,
            benefit, amount_yen, total_yen, corrects, round, created_at FROM {name}.settlements
            WHERE period = $1 AND sent_at IS NULL ORDER BY round, created_at, settlement_id""",
        period)
    return [PendingSettlement(r["settlement_id"], r["period"], str(r["member_key"]),
                              r["household"], r["payer_side"], r["payer_code"], r["benefit"],
                              r["amount_yen"], r["total_yen"], r["corrects"], r["round"],
                              r["created_at"]) for r in rows]


async def mark_sent(conn: asyncpg.Connection, code: str, ids: Iterable[UUID]) -> int:
    """Mark these settlements sent (once: a row marked already keeps its time); how many."""
    name = member_store.store_name(code)
    rows = await conn.fetch(
        f"""UPDATE {name}.settlements SET sent_at = now() WHERE settlement_id = ANY($1::uuid[])
            AND sent_at IS NULL RETURNING 1""", list(ids))
    return len(rows)


async def stored_statement(conn: asyncpg.Connection, code: str, period: int,
                           member_key: UUID) -> str | None:
    """The member's statement of the period's last close that calculated their household."""
    name = member_store.store_name(code)
    return await conn.fetchval(f"""SELECT statement FROM {name}.statements
                                   WHERE period = $1 AND member_key = $2""", period, member_key)

