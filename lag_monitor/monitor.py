"""The lag monitor's adapter: every consumer group of the broker, its committed offsets, the
log ends, the retention of its topics and the timestamps of its first unconsumed records,
judged by `lag_monitor.status`.

Read through Kafka's admin API: the groups (`list_consumer_groups`), their committed offsets
(`list_consumer_group_offsets`) and the topics' `retention.ms` (`describe_configs`); the log
ends (and starts) through a consumer's `end_offsets` (read_committed: the last stable offset,
what the relay's processors read up to). A group's status comes from those offsets alone.

The age of the first unconsumed record comes from a second consumer that reads the record at
the committed offset and looks at its timestamp only: it has no deserializer, so keys and
values stay bytes nobody decodes (a participant's values are sealed for it besides), and only
on topics `readable` allows (the monitor's principal reads the relay's topics and the
participants', never an insurer's private receipts: a partition it may not read gets no lag in
seconds). A timestamp is read once per (partition, committed offset).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from groundfloor.kafka_clients import KafkaLogin, admin_client, reader, timestamp_reader
from lag_monitor.status import (
    GroupLag,
    History,
    Observation,
    PartitionLag,
    Rules,
    evaluate,
    lag_seconds,
    observe,
    retention,
)
from schemas.topics import Namespace

log = logging.getLogger("shaho.lag_monitor")

CONFIG_TTL = 60.0
"""Seconds a topic's retention.ms is kept before it is asked again."""
TIMESTAMP_WAIT = 2.0
"""Seconds one poll waits for the records whose timestamps it reads."""
MARKERS_ONLY = -2
"""What the timestamp read finds after a committed offset followed by transaction markers
only: a consumer of a transactional producer's topic that read every record commits the
offset after the last one, and the commit marker after it is no record left to consume. Such
a partition is shown caught up (its end taken as its committed offset), not one record behind
for ever, which would make a group at rest STALL and then STOP."""


@dataclass(frozen=True)
class Evaluation:
    """One poll's judgement of every group, at `evaluated_at` (seconds since the epoch)."""

    groups: tuple[GroupLag, ...]
    evaluated_at: float

    def as_json(self) -> dict[str, object]:
        return {"groups": [g.as_json() for g in self.groups],
                "evaluated_at": self.evaluated_at}


@dataclass
class LagMonitor:
    """Polls the broker as the `kafka` principal: the groups whose committed partitions are
    in `namespace`, a `History` per (group, partition) judged by `rules`."""

    kafka: KafkaLogin
    namespace: Namespace
    rules: Rules = field(default_factory=Rules)
    readable: Callable[[str], bool] = lambda topic: True
    clock: Callable[[], float] = time.time
    histories: dict[tuple[str, TopicPartition], History] = field(default_factory=dict)
    _admin: AIOKafkaAdminClient | None = None
    _ends: AIOKafkaConsumer | None = None
    _stamps: AIOKafkaConsumer | None = None
    _retention: dict[str, tuple[float, int | None]] = field(default_factory=dict)
    _timestamps: dict[tuple[TopicPartition, int], int] = field(default_factory=dict)
    _marker_ends: dict[tuple[TopicPartition, int], int] = field(default_factory=dict)
    """The partition's end when an offset was found followed by markers only: the finding
    holds until the end moves."""

    async def start(self) -> None:
        self._admin = admin_client(self.kafka)
        await self._admin.start()
        self._ends = reader(self.kafka)
        await self._ends.start()
        self._stamps = timestamp_reader(self.kafka)
        await self._stamps.start()

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        for consumer in (self._ends, self._stamps):
            if consumer is not None:
                await consumer.stop()

    async def committed(self) -> dict[str, dict[TopicPartition, int]]:
        """Each group's committed offsets on the namespace's topics (groups with none left out)."""
        assert self._admin is not None
        groups = sorted({g[0] for g in await self._admin.list_consumer_groups()})
        found: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await self._admin.list_consumer_group_offsets(group)
            mine = {tp: o.offset for tp, o in offsets.items()
                    if o.offset >= 0 and tp.topic.startswith(self.namespace.prefix)}
            if mine:
                found[group] = mine
        return found

    async def _log_bounds(self, partitions: list[TopicPartition]
                          ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """Each partition's start and end (its last stable offset), never fetching: the
        consumer is assigned them paused, since it may only describe some of them."""
        assert self._ends is not None
        visible = await self._ends.topics()  # metadata for topics new since the last poll
        partitions = [tp for tp in partitions if tp.topic in visible]
        if not partitions:  # offsets of deleted topics, or of topics it may not describe
            return {}, {}
        self._ends.assign(partitions)
        self._ends.pause(*partitions)
        ends = await self._ends.end_offsets(partitions)
        starts = await self._ends.beginning_offsets(partitions)
        return starts, ends

    async def _retention_ms(self, topics: Iterable[str], now: float) -> dict[str, int | None]:
        assert self._admin is not None
        stale = sorted(t for t in set(topics)
                       if t not in self._retention or now - self._retention[t][0] > CONFIG_TTL)
        if stale:
            responses = await self._admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": None})
                 for t in stale])
            for response in responses:
                for error, _, _, name, entries in (r[:5] for r in response.resources):
                    value = {e[0]: e[1] for e in entries}.get("retention.ms")
                    self._retention[name] = (now, int(value) if not error and value else None)
        return {t: self._retention.get(t, (now, None))[1] for t in topics}

    async def _first_unconsumed(self, wanted: set[tuple[TopicPartition, int]],
                                ends: dict[TopicPartition, int]
                                ) -> dict[tuple[TopicPartition, int], int]:
        """The timestamp (ms) of the first record at or after each (partition, offset) in
        `wanted`, for those read within TIMESTAMP_WAIT; values and keys never decoded. Groups
        behind at different offsets of one partition get each their own record's timestamp.
        An offset followed by transaction markers only, no record up to the end, gets
        `MARKERS_ONLY`."""
        assert self._stamps is not None
        for key, end in list(self._marker_ends.items()):  # records may have come after them
            if ends.get(key[0]) != end:
                del self._marker_ends[key], self._timestamps[key]
        todo = sorted(k for k in wanted if k not in self._timestamps)
        while todo:
            batch: dict[TopicPartition, int] = {}
            for tp, offset in todo:  # one offset per partition and read
                batch.setdefault(tp, offset)
            todo = [(tp, o) for tp, o in todo if batch[tp] != o]
            await self._read_timestamps(batch, ends)
        for key in [k for k in self._timestamps if k not in wanted]:
            del self._timestamps[key]
            self._marker_ends.pop(key, None)
        return {k: self._timestamps[k] for k in wanted if k in self._timestamps}

    async def _read_timestamps(self, todo: dict[TopicPartition, int],
                               ends: dict[TopicPartition, int]) -> None:
        assert self._stamps is not None
        self._stamps.assign(list(todo))
        for tp, offset in todo.items():
            self._stamps.seek(tp, offset)
        deadline = time.monotonic() + TIMESTAMP_WAIT
        missing = set(todo)
        while missing and time.monotonic() < deadline:
            batch = await self._stamps.getmany(*missing, timeout_ms=200)
            for tp, records in batch.items():
                if records and tp in missing:
                    first = min(records, key=lambda r: r.offset)
                    self._timestamps[(tp, todo[tp])] = first.timestamp
                    missing.discard(tp)
                    self._stamps.pause(tp)
            for tp in sorted(missing):  # read past the end, no record: markers only
                if tp in ends and await self._stamps.position(tp) >= ends[tp]:
                    self._timestamps[(tp, todo[tp])] = MARKERS_ONLY
                    self._marker_ends[(tp, todo[tp])] = ends[tp]
                    missing.discard(tp)
                    self._stamps.pause(tp)
        self._stamps.assign([])

    async def poll(self) -> Evaluation:
        """Observe every group once and judge it."""
        groups = await self.committed()
        partitions = sorted({tp for offsets in groups.values() for tp in offsets})
        starts, ends = await self._log_bounds(partitions)
        now = self.clock()
        retentions = await self._retention_ms({tp.topic for tp in partitions}, now)
        behind = {(tp, o) for offsets in groups.values() for tp, o in offsets.items()
                  if ends.get(tp, o) > o and self.readable(tp.topic)
                  and o >= starts.get(tp, 0)}
        stamps = await self._first_unconsumed(behind, ends)
        judged = []
        seen_keys = set()
        for group, offsets in groups.items():
            rows = []
            for tp in sorted(offsets):
                if tp not in ends:
                    continue
                committed, end = offsets[tp], ends[tp]
                if stamps.get((tp, committed)) == MARKERS_ONLY:
                    end = committed  # what is left are transaction markers: nothing to read
                key = (group, tp)
                seen_keys.add(key)
                history = observe(self.histories.get(key, History()),
                                  Observation(now, committed, end), self.rules)
                self.histories[key] = history
                waited = lag_seconds(committed, end, stamps.get((tp, committed)), now)
                kept = retention(waited, retentions.get(tp.topic),
                                 records_lost=committed < starts.get(tp, 0) and end > committed)
                rows.append(PartitionLag(tp.topic, tp.partition, committed, end, waited, kept,
                                         evaluate(history, now, self.rules)))
            if rows:
                judged.append(GroupLag(group, tuple(rows)))
        for key in [k for k in self.histories if k not in seen_keys]:
            del self.histories[key]
        return Evaluation(tuple(judged), now)
