"""What `shaho publish` prints: problems, the summary, outcomes and the exit code.

Pure text from results; filing references, statuses, reasons and receipt ids only, no secrets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from uuid import UUID

from producers.sender import Delivery
from producers.validate import RowResult
from schemas import FilingOutcome, Reason
from schemas.relay import OutcomeStatus

EXIT_OK = 0
EXIT_REJECTED = 1  # rows rejected by validation, or (with --wait) filings refused by the relay
EXIT_UNREADABLE = 2  # the file (or an option) cannot be used
EXIT_NOT_PUBLISHED = 3  # Kafka could not be reached or did not acknowledge every filing
PENDING = "pending"
NONE = "-"


def problem_lines(results: Iterable[RowResult]) -> list[str]:
    """`line N: field: reason` for every problem of every rejected row."""
    return [str(problem) for result in results for problem in result.problems]


def summary(results: Sequence[RowResult], deliveries: Sequence[Delivery]) -> str:
    """How many filings went to which topic and how many rows were rejected."""
    rejected = sum(1 for r in results if not r.ok)
    topics = Counter(d.topic for d in deliveries)
    text = f"published {_count(len(deliveries), 'filing')}"
    if topics:
        text += " (" + ", ".join(f"{t}: {n}" for t, n in sorted(topics.items())) + ")"
    return f"{text}; rejected {_count(rejected, 'row')}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def outcome_lines(
    deliveries: Sequence[Delivery], outcomes: Mapping[UUID, FilingOutcome]
) -> list[str]:
    """`filing_reference status reasons receipt_id` per published filing, in file order."""
    return [outcome_line(d.filing_reference, outcomes.get(d.event_id)) for d in deliveries]


def outcome_line(reference: str, outcome: FilingOutcome | None) -> str:
    """One filing's outcome; `pending` when none arrived within the timeout."""
    if outcome is None:
        return f"{reference} {PENDING} {NONE} {NONE}"
    reasons = "; ".join(_reason(r) for r in outcome.reasons) or NONE
    return f"{reference} {outcome.status.value} {reasons} {outcome.receipt_id}"


def _reason(reason: Reason) -> str:
    where = f" {reason.field}" if reason.field else ""
    return f"[{reason.code}{where}: {reason.message}]"


def exit_code(
    results: Sequence[RowResult], outcomes: Mapping[UUID, FilingOutcome] | None = None
) -> int:
    """1 when a row was rejected or (after waiting) a filing refused, else 0."""
    if any(not r.ok for r in results):
        return EXIT_REJECTED
    refused = outcomes and any(o.status is OutcomeStatus.REFUSED for o in outcomes.values())
    return EXIT_REJECTED if refused else EXIT_OK
