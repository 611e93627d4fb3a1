"""Matching outcomes to an upload: by event id and content, so a changed re-send reads its own
refusal and a re-upload of the original reads the original's answer."""

from __future__ import annotations

from uuid import UUID, uuid5

from producers.outcomes import answer, fold, settled
from schemas import FilingOutcome, encode
from schemas.relay import OutcomeStatus
from tests.fixtures.examples import example_filing_outcome

ORIGINAL = "1" * 64
CHANGED = "2" * 64
ACCEPTED = example_filing_outcome(OutcomeStatus.ACCEPTED)
EVENT_ID = ACCEPTED.event_id


def _outcome(**fields: object) -> FilingOutcome:
    return FilingOutcome.model_validate({**ACCEPTED.model_dump(), **fields})


def _accepted() -> FilingOutcome:
    return _outcome(content_hash=ORIGINAL)


def _refusal() -> FilingOutcome:
    return _outcome(
        event_id=uuid5(EVENT_ID, f"conflict:{CHANGED}"),  # as docs/contracts.md defines it
        status="refused",
        reasons=[{"code": "conflicting_duplicate", "field": "event_id", "message": "other"}],
        receipt_id="RCPT-CONFLICT",
        content_hash=CHANGED,
        conflicts_with=EVENT_ID,
    )


def _read(*outcomes: FilingOutcome) -> dict[UUID, FilingOutcome]:
    wanted = frozenset({EVENT_ID, uuid5(EVENT_ID, f"conflict:{CHANGED}")})
    read: dict[UUID, FilingOutcome] = {}
    for outcome in outcomes:
        fold(read, wanted, encode(outcome))
    return read


def test_the_original_and_the_changed_upload_each_read_their_own_answer() -> None:
    for order in ((_accepted(), _refusal()), (_refusal(), _accepted())):
        read = _read(*order)
        assert answer(read, EVENT_ID, ORIGINAL) == _accepted()
        assert answer(read, EVENT_ID, CHANGED) == _refusal()
        assert read[EVENT_ID].status is OutcomeStatus.ACCEPTED, "the refusal never supersedes"


def test_a_changed_upload_waits_for_its_refusal_while_the_original_is_answered() -> None:
    def answers(read: dict[UUID, FilingOutcome]) -> dict[UUID, FilingOutcome]:
        found = answer(read, EVENT_ID, CHANGED)
        return {} if found is None else {EVENT_ID: found}

    early = _read(_accepted())
    assert answer(early, EVENT_ID, CHANGED) is None
    assert not settled(answers(early), frozenset({EVENT_ID}))
    assert settled(answers(_read(_accepted(), _refusal())), frozenset({EVENT_ID}))


def test_an_outcome_naming_no_content_answers_every_upload() -> None:
    legacy = _read(ACCEPTED)
    assert answer(legacy, EVENT_ID, CHANGED) == ACCEPTED
    assert answer(_read(_accepted()), EVENT_ID, None) == _accepted()
    assert answer({}, EVENT_ID, ORIGINAL) is None


def test_a_retraction_of_the_original_still_reaches_its_re_upload() -> None:
    retracted = _outcome(
        status="refused",
        reasons=[{"code": "retracted", "field": None, "message": "retracted"}],
        content_hash=ORIGINAL,
    )
    read = _read(retracted, _accepted(), _refusal())
    assert answer(read, EVENT_ID, ORIGINAL) == retracted
    assert answer(read, EVENT_ID, CHANGED) == _refusal()
