"""The refusal of a record that is no valid filing answers those bytes under an id of its own,
so it never changes the answer to a valid filing sent under the same filing reference."""

from __future__ import annotations

import hashlib
import json
from uuid import uuid4

from producers.outcomes import answer, fold
from relay_linker.domain.commands import Source
from relay_linker.messages import dead_letter_rows
from schemas import FilingOutcome, FilingRejected, decode_filing, decode_relay, encode
from schemas.codec import content_hash
from schemas.relay import conflict_id_for
from schemas.topics import Namespace
from tests.fixtures.examples import example_filing

GOOD = example_filing("EmployeeInsuranceLost")
BROKEN = json.dumps({"filer_code": GOOD.filer_code, "filing_reference": GOOD.filing_reference,
                     "event_type": "Garbage"}).encode()


def _refusal_of_broken_record() -> FilingOutcome:
    try:
        decode_filing(BROKEN, "filing.employer.v1")
    except FilingRejected as rejected:
        rows = dead_letter_rows(("filing.employer.v1.dlq", b"k", b"v"), rejected,
                                Source("filing.employer.v1", 3, 42), Namespace(), raw=BROKEN)
    assert len(rows) == 2, "a dead letter and a refusal to the filer named in it"
    return decode_relay(rows[1].value, FilingOutcome)


def _accepted() -> FilingOutcome:
    return FilingOutcome(event_id=GOOD.event_id, filer_code=GOOD.filer_code,
                         filing_reference=GOOD.filing_reference, receipt_id="r-1",
                         status="accepted", outbox_id=uuid4(), content_hash=content_hash(GOOD))


def test_the_refusal_has_an_id_of_its_own_and_names_the_bytes_it_answers() -> None:
    refusal = _refusal_of_broken_record()
    digest = hashlib.sha256(BROKEN).hexdigest()
    assert refusal.event_id == conflict_id_for(GOOD.event_id, digest) != GOOD.event_id
    assert refusal.content_hash == digest and refusal.conflicts_with == GOOD.event_id
    assert refusal.status.value == "refused"


def test_a_broken_record_under_a_reference_never_turns_its_accepted_filing_refused() -> None:
    refusal = _refusal_of_broken_record()
    for order in ((_accepted(), refusal), (refusal, _accepted())):  # either arrival order
        outcomes: dict = {}
        for outcome in order:
            fold(outcomes, frozenset({GOOD.event_id}), encode(outcome))
        read = answer(outcomes, GOOD.event_id, content_hash(GOOD))
        assert read is not None and read.status.value == "accepted"
