"""Consumer groups judged the way Burrow judges them, over a sliding window of observations of
each partition's committed offset and log end. Pure: the standard library only.

What the monitor sees
---------------------
Kafka's admin API gives a group's *committed offset* per partition, never when it was
committed. Each poll of the monitor is one `Observation` of a partition: the time of the poll,
the committed offset and the log end (what a read_committed reader sees as the end). A
partition's `History` keeps the last `window` observations and `changed_at`, the time of the
first observation that showed the committed offset it holds now (the monitor's estimate of
when that offset was committed). A consumer that keeps committing the same offset and one that
has stopped committing look the same through the admin API; what tells them apart here is how
long the offset has stood still.

The states (a partition's lag is `log_end - committed`, never below zero)
-------------------------------------------------------------------------
Judged in this order; the first that applies is the partition's status:

- REWIND: the committed offset went backwards between two observations of the window
  (a consumer sought back and committed a lower offset). Judged first, whatever the lag: a
  partition whose offset went back within the window is never OK.
- OK: the newest observation shows no lag (everything consumed, however old the last record).
- STOP: the committed offset has not changed since `changed_at`, and the time since then is
  longer than the stop window (`Rules.stop_after` seconds), while there is lag. This is
  Burrow's "no commit for longer than the window", judged from the only thing the admin API
  shows: the offset not having changed *and* the time since it last changed exceeding the
  window. The consumer is gone or hung for good.
- OK: the window is not yet full (too few observations to judge a trend).
- OK: some observation of the window shows no lag (the consumer caught up within it).
- STALL: the committed offset is the same in every observation of the full window, with lag
  in each, but it has stood still for no longer than the stop window: the consumer is stuck
  (it may well be committing the same offset again and again) and has not yet been still long
  enough to be judged stopped. A STALL that lasts becomes a STOP.
- WARN: the offsets advance over the window but the lag never shrinks from one observation to
  the next and ends higher than it began: the consumer works, slower than the producers.
- OK otherwise.

A group's status is the worst of its partitions' (`SEVERITY`: OK < WARN < STALL < REWIND <
STOP).

Lag in time and against retention
---------------------------------
`lag_seconds` is the age, at the monitor's `now`, of the first unconsumed record (the record
at the committed offset, by its append or create timestamp): zero exactly when nothing is
left to consume, however old the last record is; a partition that is behind is never reported
as zero seconds behind (a record stamped ahead of the monitor's clock counts as one
millisecond). `retention` compares that age with the topic's `retention.ms`: the time left
before the oldest unconsumed record may be deleted, and the fraction of the retention used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

OK, WARN, STALL, REWIND, STOP = "OK", "WARN", "STALL", "REWIND", "STOP"


class Status(StrEnum):
    OK = OK
    WARN = WARN
    STALL = STALL
    REWIND = REWIND
    STOP = STOP

    @property
    def severity(self) -> int:
        return SEVERITY[self]


SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.STALL: 2, Status.REWIND: 3, Status.STOP: 4}
"""Worse is higher: a group is as bad as its worst partition."""

WINDOW = 10
"""Observations a partition's window holds (Burrow's default intervals)."""
INTERVAL = 5.0
"""Seconds between two polls of the broker, by default."""
MIN_SECONDS_BEHIND = 0.001
"""The least lag in seconds of a partition that is behind (one millisecond)."""


def stop_window(window: int, interval: float) -> float:
    """The default stop window for `window` observations `interval` seconds apart: twice the
    time the observation window covers, so a partition that stands still is STALL for a
    window's length before it is STOP."""
    return 2.0 * window * interval


@dataclass(frozen=True)
class Rules:
    """How a window is judged: `window` observations make a full window; an offset standing
    still longer than `stop_after` seconds with lag is STOP."""

    window: int = WINDOW
    stop_after: float = 300.0

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError("a window holds at least two observations")
        if not self.stop_after > 0:
            raise ValueError("the stop window is a positive number of seconds")


@dataclass(frozen=True)
class Observation:
    """One poll of one partition: when (seconds since the epoch), the committed offset, the
    log end."""

    at: float
    committed: int
    log_end: int

    @property
    def lag(self) -> int:
        return max(self.log_end - self.committed, 0)


@dataclass(frozen=True)
class History:
    """A partition's last observations (oldest first, at most the rules' window) and when its
    committed offset was first seen at its present value."""

    observations: tuple[Observation, ...] = ()
    changed_at: float | None = None

    @property
    def latest(self) -> Observation | None:
        return self.observations[-1] if self.observations else None


def observe(history: History, seen: Observation, rules: Rules) -> History:
    """`history` with `seen` added, the oldest observation dropped beyond the window."""
    latest = history.latest
    changed = (history.changed_at if latest is not None and history.changed_at is not None
               and latest.committed == seen.committed else seen.at)
    kept = (*history.observations, seen)[-rules.window:]
    return History(kept, changed)


def went_back(observations: Sequence[Observation]) -> bool:
    return any(b.committed < a.committed for a, b in pairwise(observations))


def evaluate(history: History, now: float, rules: Rules) -> Status:
    """The partition's status at `now` (see the module's docstring for the order)."""
    seen = history.observations
    if not seen:
        return Status.OK
    if went_back(seen):
        return Status.REWIND
    latest = seen[-1]
    if latest.lag == 0:
        return Status.OK
    changed_at = latest.at if history.changed_at is None else history.changed_at
    if now - changed_at > rules.stop_after:
        return Status.STOP
    if len(seen) < rules.window or any(o.lag == 0 for o in seen):
        return Status.OK
    if all(o.committed == latest.committed for o in seen):
        return Status.STALL
    lags = [o.lag for o in seen]
    if all(b >= a for a, b in pairwise(lags)) and lags[-1] > lags[0]:
        return Status.WARN
    return Status.OK


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of `statuses` (OK when there are none)."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


def lag_seconds(committed: int, log_end: int, first_unconsumed_ms: int | None,
                now: float) -> float | None:
    """How long the first unconsumed record has waited at `now`: 0.0 when nothing is left to
    consume, None when there is lag but its record's timestamp is unknown."""
    if log_end - committed <= 0:
        return 0.0
    if first_unconsumed_ms is None or first_unconsumed_ms < 0:
        return None
    return max(now - first_unconsumed_ms / 1000.0, MIN_SECONDS_BEHIND)


@dataclass(frozen=True)
class Retention:
    """How much of a topic's retention the oldest unconsumed record has used."""

    left_seconds: float
    used_fraction: float


def retention(age_seconds: float | None, retention_ms: int | None,
              records_lost: bool = False) -> Retention | None:
    """The retention left before the oldest unconsumed record (`age_seconds` old) may be
    deleted; None when the topic keeps records for ever (no or a negative `retention.ms`) or
    the age is unknown. `records_lost`: the committed offset is below the log's start, so
    unconsumed records were deleted already (none left, all used)."""
    if retention_ms is None or retention_ms <= 0:
        return None
    total = retention_ms / 1000.0
    if records_lost:
        return Retention(0.0, 1.0)
    if age_seconds is None:
        return None
    return Retention(max(total - age_seconds, 0.0), age_seconds / total)


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a group as the monitor reports it."""

    topic: str
    partition: int
    committed: int
    log_end: int
    lag_seconds: float | None
    retention: Retention | None
    status: Status

    @property
    def lag_records(self) -> int:
        return max(self.log_end - self.committed, 0)

    def as_json(self) -> dict[str, object]:
        return {"topic": self.topic, "partition": self.partition,
                "committed": self.committed, "log_end": self.log_end,
                "lag_records": self.lag_records, "lag_seconds": self.lag_seconds,
                "retention_left_seconds": None if self.retention is None
                else self.retention.left_seconds,
                "retention_used_fraction": None if self.retention is None
                else self.retention.used_fraction,
                "status": self.status.value}


@dataclass(frozen=True)
class GroupLag:
    """One consumer group: its partitions, worst status, summed lag and the longest wait."""

    group: str
    partitions: tuple[PartitionLag, ...] = field(default_factory=tuple)

    @property
    def status(self) -> Status:
        return worst(p.status for p in self.partitions)

    @property
    def lag_records(self) -> int:
        return sum(p.lag_records for p in self.partitions)

    @property
    def lag_seconds(self) -> float | None:
        known = [p.lag_seconds for p in self.partitions if p.lag_seconds is not None]
        return max(known) if known else (0.0 if self.lag_records == 0 else None)

    @property
    def retention_used(self) -> float | None:
        used = [p.retention.used_fraction for p in self.partitions if p.retention is not None]
        return max(used) if used else None

    def as_json(self) -> dict[str, object]:
        return {"group": self.group, "status": self.status.value,
                "lag_records": self.lag_records, "lag_seconds": self.lag_seconds,
                "partitions": [p.as_json() for p in self.partitions]}


def metric_group(group: str, relay_groups: Iterable[str], worker_roles: Iterable[str]) -> str:
    """The label a group is counted under in metrics, from a bounded set: a relay processor's
    group by its name, a participant's worker group (`<role>.<code>.worker`) by its kind
    (`<role>.worker`, never the participant's code), anything else as `other`."""
    if group in set(relay_groups):
        return group
    role, _, rest = group.partition(".")
    if role in set(worker_roles) and rest.endswith(".worker") and rest.count(".") == 1:
        return f"{role}.worker"
    return "other"


@dataclass(frozen=True)
class KindLag:
    """Groups counted under one metric label: the worst status, the summed lag, the longest
    wait and the most retention used."""

    kind: str
    status: Status
    lag_records: int
    lag_seconds: float | None
    retention_used: float | None


def by_kind(groups: Iterable[GroupLag], relay_groups: Iterable[str],
            worker_roles: Iterable[str]) -> list[KindLag]:
    """`groups` aggregated under their metric labels (`metric_group`), sorted by label."""
    relay, roles = list(relay_groups), list(worker_roles)
    kinds: dict[str, list[GroupLag]] = {}
    for g in groups:
        kinds.setdefault(metric_group(g.group, relay, roles), []).append(g)
    out = []
    for kind, members in sorted(kinds.items()):
        seconds = [g.lag_seconds for g in members if g.lag_seconds is not None]
        used = [g.retention_used for g in members if g.retention_used is not None]
        out.append(KindLag(kind, worst(g.status for g in members),
                           sum(g.lag_records for g in members),
                           max(seconds) if seconds else None, max(used) if used else None))
    return out
