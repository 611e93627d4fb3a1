"""Outcomes addressed to their filer, on the real stack: with 20,000 employers provisioned,
each employer's outcomes land sealed on the one outcome.employer.v1, employer X opens its
own and cannot open employer Y's."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from datetime import timedelta

import pytest
from aiokafka import TopicPartition

from groundfloor.kafka_clients import read_to_end
from infra.principals import TESTS
from producers.outcomes import Mailbox
from schemas import FilingOutcome, decode_relay, new_filing
from schemas.relay import OutcomeStatus
from schemas.topics import FILING_EMPLOYER, FILING_OUTCOME, OUTCOME_EMPLOYER
from tests.fixtures.examples import OCCURRED_AT, example_payload
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import ensure_encryption_keys, load_private_key
from trust.pki import Participant, participant_dir
from trust.sealing import NotOpened, decode_sealed, open_outcome

pytestmark = pytest.mark.integration

EMPLOYERS = 20_000


def _filing(code: str, reference: str):
    return new_filing(example_payload("EmployeeInsuranceAcquired"), filer_code=code,
                      filing_reference=reference, person_token=f"tok-{reference.lower()}",
                      occurred_at=OCCURRED_AT)


async def _records(relay: RelayEnv, name: str) -> list:
    partitions = [TopicPartition(relay.topic(name), p) for p in range(6)]
    return await read_to_end(relay.cfg.kafka(TESTS), partitions)


async def test_employer_x_opens_its_own_outcomes_and_not_employer_ys(relay: RelayEnv,
                                                                      unique: str):
    employers = [Participant("employer", f"E{unique.upper()}-{n:05d}") for n in range(EMPLOYERS)]
    started = time.monotonic()
    made = await asyncio.to_thread(ensure_encryption_keys, relay.cfg, employers)
    seconds = time.monotonic() - started
    print(f"\n{EMPLOYERS} employers' encryption keys provisioned in {seconds:.1f} s "
          f"({EMPLOYERS / seconds:.0f}/s)")
    assert len(made) == EMPLOYERS  # the time is printed, never asserted
    x, y, z = employers[7], employers[12_345], employers[-1]
    try:
        again = time.monotonic()
        assert await asyncio.to_thread(ensure_encryption_keys, relay.cfg, employers) == []
        print(f"again, nothing to make: {time.monotonic() - again:.1f} s")

        filings = [(FILING_EMPLOYER.name, _filing(p.code, f"ACQ-{n}"))
                   for p, count in ((x, 3), (y, 2), (z, 1)) for n in range(count)]
        await relay.publish(filings)
        await relay.tick()
        await relay.tick(relay.ticks[-1] + timedelta(days=15))  # parked ones are refused
        for processor in ("relay-linker", "outbox-publisher"):
            assert await asyncio.to_thread(relay.run, processor) == 0, relay.last_output

        records = await _records(relay, OUTCOME_EMPLOYER.name)
        by_code = Counter(r.key.decode() for r in records)
        clear = [decode_relay(r.value, FilingOutcome)
                 for r in await _records(relay, FILING_OUTCOME.name)]
        assert by_code == Counter(o.filer_code for o in clear), "each outcome sealed once"
        assert by_code[x.code] >= 3 and by_code[y.code] >= 2 and by_code[z.code] >= 1
        for record in records:
            assert record.key.decode().encode() == record.key
            assert b"ACQ-" not in record.value, "no reference in clear"

        x_box = Mailbox.load(relay.cfg, [x])
        mine = [o for r in records if (o := x_box.open("employer", r.key, r.value))]
        assert len(mine) == by_code[x.code] and x_box.unopened == 0
        assert {o.filer_code for o in mine} == {x.code}
        assert {o.filing_reference for o in mine} == {"ACQ-0", "ACQ-1", "ACQ-2"}
        assert {o.status for o in mine} >= {OutcomeStatus.PARKED, OutcomeStatus.REFUSED}

        x_key = load_private_key(relay.cfg, x)
        theirs = [r for r in records if r.key == y.code.encode()]
        for record in theirs:
            with pytest.raises(NotOpened):
                open_outcome(decode_sealed(record.value), OUTCOME_EMPLOYER.name, record.key,
                             x_key)
        posing = Mailbox({y: x_key})  # X's key held as if it were Y's
        assert not [r for r in records if posing.open("employer", r.key, r.value)]
        assert posing.unopened == len(theirs) == by_code[y.code]

        y_box = Mailbox.load(relay.cfg, [y])
        assert len([r for r in records if y_box.open("employer", r.key, r.value)]) == len(
            theirs)
    finally:
        filed = {x, y, z}
        await asyncio.to_thread(_remove_keys, relay, [p for p in employers if p not in filed])


def _remove_keys(relay: RelayEnv, participants: list[Participant]) -> None:
    """The employers that filed nothing leave no folder behind in the shared state folder."""
    for participant in participants:
        shutil.rmtree(participant_dir(relay.cfg, participant), ignore_errors=True)
