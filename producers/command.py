"""`shaho publish FILE`: validate every row, publish the valid ones, report, optionally wait.

The shell around the pure parts: files, the terminal, the progress bar and Kafka.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaError

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import KafkaLogin
from producers import report
from producers.batch_rows import BatchUnreadable, read_batch
from producers.outcomes import Mailbox, OutcomesUnavailable, await_outcomes
from producers.routing import Outgoing
from producers.sender import (
    Delivery,
    FilingPublisher,
    Logins,
    MissingLogin,
    Progress,
    PublishFailed,
)
from producers.validate import RowResult, validate_batch
from schemas.codec import content_hash
from schemas.identifiers import FILER_CODE_PATTERN
from schemas.payload import FilerKind
from schemas.topics import Namespace
from trust.encryption_keys import NoEncryptionKey
from trust.keys import FilerKeys
from trust.pki import Participant, PkiError
from trust.rules import role_of_topic

PROGRESS_ABOVE = 1000  # rows; smaller files show a bar only on a terminal
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class PublishOptions:
    """The command's options, as `shaho publish` parses them."""

    path: Path
    kafka: KafkaLogin
    """The login that reads the outcomes, and sends for every filer unless `logins` is given."""
    filer: str | None = None
    filer_kind: str | None = None
    encoding: str | None = None
    wait: bool = False
    timeout: float = DEFAULT_TIMEOUT
    namespace: Namespace = field(default_factory=Namespace)
    keys: FilerKeys | None = None
    """The filers' signing keys; by default those the stack's state folder holds."""
    logins: Logins | None = None
    """Each filer's own broker login (`shaho publish`); by default `kafka` for all."""


def run_publish(options: PublishOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Validate, report bad rows, publish good ones, summarise; the process exit code."""
    if options.filer is not None and not re.fullmatch(FILER_CODE_PATTERN, options.filer):
        print(f"shaho publish: --filer {options.filer!r} is not a filer code", file=err)
        return report.EXIT_UNREADABLE
    try:
        batch = read_batch(options.path, options.encoding)
    except BatchUnreadable as exc:
        print(f"shaho publish: {options.path}: {exc}", file=err)
        return report.EXIT_UNREADABLE
    kind = FilerKind(options.filer_kind) if options.filer_kind else None
    results = validate_batch(batch, options.filer, kind)
    _lines(report.problem_lines(results), out)
    records = [r.outgoing for r in results if r.outgoing is not None]
    try:
        deliveries = asyncio.run(_publish(options, records, out))
    except PublishFailed as exc:
        print(f"shaho publish: {exc}; publishing the file again is safe", file=err)
        return report.EXIT_NOT_PUBLISHED
    except PkiError as exc:
        print(f"shaho publish: cannot sign: {exc}; nothing published", file=err)
        return report.EXIT_NOT_PUBLISHED
    except MissingLogin as exc:
        print(f"shaho publish: cannot log in: {exc}; nothing published", file=err)
        return report.EXIT_NOT_PUBLISHED
    except (KafkaError, OSError) as exc:
        print(f"shaho publish: {_unreachable(options.kafka, exc)}; nothing published", file=err)
        return report.EXIT_NOT_PUBLISHED
    print(report.summary(results, deliveries), file=out)
    if not options.wait:
        return report.exit_code(results)
    return _wait(options, results, deliveries, out, err)


async def _publish(options: PublishOptions, records: list[Outgoing],
                   out: TextIO) -> list[Delivery]:
    if not records:
        return []
    with progress_bar(len(records), out) as progress:
        keys = options.keys or FilerKeys(StackConfig.from_env())
        logins = options.logins or options.kafka
        async with FilingPublisher(logins, options.namespace, keys) as publisher:
            return await publisher.publish(records, progress=progress)


def _wait(
    options: PublishOptions,
    results: Sequence[RowResult],
    deliveries: list[Delivery],
    out: TextIO,
    err: TextIO,
) -> int:
    ids = [d.event_id for d in deliveries]
    contents = {r.filing.event_id: content_hash(r.filing) for r in results if r.ok and r.filing}
    try:
        mailbox = Mailbox.load(options.keys.cfg if options.keys else StackConfig.from_env(),
                               filers_of(results))
    except NoEncryptionKey as exc:
        print(f"shaho publish: cannot open outcomes: {exc}", file=err)
        return report.EXIT_NOT_PUBLISHED
    waiting = await_outcomes(_reader_login(options, filers_of(results)), options.namespace, ids,
                             options.timeout, mailbox=mailbox, contents=contents)
    try:
        outcomes = asyncio.run(waiting)
    except OutcomesUnavailable as exc:
        print(f"shaho publish: cannot read outcomes: {exc}", file=err)
        return report.EXIT_NOT_PUBLISHED
    except (KafkaError, OSError) as exc:
        print(
            f"shaho publish: cannot read outcomes: {_unreachable(options.kafka, exc)}", file=err
        )
        return report.EXIT_NOT_PUBLISHED
    _lines(report.outcome_lines(deliveries, outcomes), out)
    if mailbox.unopened:
        print(f"shaho publish: {mailbox.unopened} outcome record(s) addressed to this filer did "
              "not open with its encryption key (another key, or tampered); they were left "
              "out", file=err)
    return report.exit_code(results, outcomes)


def _reader_login(options: PublishOptions, filers: set[Participant]) -> KafkaLogin:
    """An upload of one filer reads its kind's outcome topic as that filer; one of several
    filers (an agent filing for many) reads as `options.kafka`."""
    if options.logins is None or len(filers) != 1:
        return options.kafka
    (filer,) = filers
    try:
        return options.logins(filer.role, filer.code)
    except MissingLogin:
        return options.kafka


def filers_of(results: Sequence[RowResult]) -> set[Participant]:
    """The filers (kind and code) of the valid rows: whose outcomes the upload waits for."""
    found = set()
    for r in results:
        role = role_of_topic(r.topic) if r.ok and r.topic else None
        if role is not None and r.filer_code:
            found.add(Participant(role, r.filer_code))
    return found


def _unreachable(kafka: KafkaLogin, exc: BaseException) -> str:
    login = " or refused the login" if kafka.principal else ""
    return f"Kafka at {kafka.bootstrap} is not reachable{login} ({type(exc).__name__})"


def _lines(lines: list[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out)


@contextmanager
def progress_bar(total: int, out: TextIO) -> Iterator[Progress | None]:
    """A progress callback on a terminal or for more than 1,000 filings; else None.

    A terminal gets a rich bar; other outputs (logs) get a line every tenth.
    """
    if not (_is_tty(out) or total > PROGRESS_ABOVE):
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar
    except ImportError:
        yield _plain(total, out)
        return
    if not _is_tty(out):
        yield _plain(total, out)
        return
    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Bar(*columns, console=Console(file=out)) as bar:
        task = bar.add_task("publishing", total=total)
        yield lambda done: bar.update(task, completed=done)


def _is_tty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _plain(total: int, out: TextIO) -> Progress:
    step = max(1, total // 10)

    def show(done: int) -> None:
        if done % step == 0 or done == total:
            print(f"acknowledged {done}/{total}", file=out)

    return show
