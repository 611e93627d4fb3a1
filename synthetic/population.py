"""A deterministic synthetic population, filed as its municipalities, employers and insurers would.

`generate(seed, persons, start)` gives the filings in publishing order and some broken records.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from schemas.codec import encode
from schemas.envelope import Filing, topic_for
from schemas.payload import FilerKind
from synthetic.bad import bad_records
from synthetic.cover import Numbers
from synthetic.engine import Calendar, Outbox, Sim
from synthetic.golive import go_live
from synthetic.households import form_households, plan_households
from synthetic.people import JPS_STYLE, build_people, set_up_filers
from synthetic.plan import plan
from synthetic.world import Filer

SIMULATED_DAYS = 425  # about 14 months: a 1 April and every month end
JPS = "JPS"

Record = tuple[str, bytes | None, bytes]  # topic, key, value


@dataclass(frozen=True)
class Population:
    """Filings in the order the filers publish them, and records a broken filer might push.

    `bad_reasons[i]` is the reason code `schemas.decode_filing` gives for `bad_records[i]`,
    `bad_filers[i]` the code of the broken filer that sends (and signs) it.
    """

    filings: list[Filing]
    bad_records: list[tuple[str, bytes]]
    bad_reasons: list[str]
    filer_kinds: dict[str, FilerKind]
    bad_filers: list[str]

    def topic_of(self, filing: Filing) -> str:
        """The ingestion topic `filing` is published on (a 取消 goes to its filer's topic)."""
        return _topic(self.filer_kinds, filing)

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts of filings by event type and by filer kind, and the totals."""
        by_type = Counter(f.event_type for f in self.filings)
        by_kind = Counter(self.filer_kinds[f.filer_code].value for f in self.filings)
        return {
            "event_type": dict(sorted(by_type.items())),
            "filer_kind": dict(sorted(by_kind.items())),
            "total": {"filings": len(self.filings), "bad_records": len(self.bad_records)},
        }


def generate(seed: int, persons: int, start: date) -> Population:
    """`persons` people from go-live on `start` through about 14 months of their lives."""
    if persons < 0:
        raise ValueError("persons must not be negative")
    rng = random.Random(seed)
    end = start + timedelta(days=SIMULATED_DAYS)
    jps = Filer(JPS, FilerKind.PENSION, JPS_STYLE)
    sim = Sim(rng, start, end, Numbers(rng), Outbox(rng), Calendar(start, end), jps,
              household_rng=random.Random(f"households:{seed}"))
    set_up_filers(sim, persons)
    lookalikes = build_people(sim, persons)
    form_households(sim)
    go_live(sim)
    plan(sim, lookalikes)
    plan_households(sim)
    sim.calendar.run()
    kinds = {code: filer.kind for code, filer in sim.filers.items()}
    filings = sim.out.finalize()
    bad = bad_records(rng, filings, lambda f: _topic(kinds, f), persons)
    return Population(filings, [(t, raw) for t, raw, *_ in bad], [r for _, _, r, _ in bad],
                      kinds, [filer for *_, filer in bad])


def _topic(kinds: dict[str, FilerKind], filing: Filing) -> str:
    return topic_for(filing.event_type, kinds[filing.filer_code]).name


def iter_filings_by_topic(population: Population) -> Iterator[tuple[str, Filing]]:
    """(topic, filing) in publishing order, e.g. for `producers.routing.Outgoing`."""
    for filing in population.filings:
        yield population.topic_of(filing), filing


def iter_records(population: Population, with_bad: bool = True) -> Iterator[Record]:
    """(topic, key, value) Kafka records in publishing order, bad records spread in between.

    Bad records have no key (a broken filer's client sends none).
    """
    bad = population.bad_records if with_bad else []
    count = len(population.filings)
    due = deque(((i + 1) * count // (len(bad) + 1), record) for i, record in enumerate(bad))
    for index, (topic, filing) in enumerate(iter_filings_by_topic(population)):
        while due and due[0][0] <= index:
            bad_topic, raw = due.popleft()[1]
            yield bad_topic, None, raw
        yield topic, filing.kafka_key(), encode(filing)
    for _, (bad_topic, raw) in due:
        yield bad_topic, None, raw
