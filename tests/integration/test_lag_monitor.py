"""The lag monitor on the real broker, as its own principal: a group that consumes and commits
is OK with no lag in time however old its records; one that stops while producers go on is
STOP once its offset has stood still past the stop window; one that commits the same offset
again and again while the lag grows is STALL; one that seeks back and commits a lower offset
is REWIND; caught up again, OK. Then `shaho run lag-monitor`'s JSON API and metrics, `shaho
lag`, and what the monitor's principal may not do."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from groundfloor.kafka_clients import (
    admin_client,
    idempotent_producer,
    processor_consumer,
    timestamp_reader,
    transactional_producer,
)
from infra.principals import LAG_MONITOR_PRINCIPAL, OPERATOR, TESTS
from lag_monitor.monitor import Evaluation, LagMonitor
from lag_monitor.status import GroupLag, Rules, Status
from shaho.bootstrap import lag_monitor, lag_port_file
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

TOPIC = "relay.person-change.v1"
"""Read by a relay group, so the monitor may read its timestamps; stamped by the producer
(CreateTime), so records can be made old. The tests use its partition 0."""
DAY_MS = 86_400_000
PATIENCE = 90.0  # seconds a state may take to be reached: a bound against hanging, not a timing


async def _produce(relay: RelayEnv, count: int, age_ms: int = DAY_MS) -> None:
    """`count` records stamped `age_ms` ago (opaque bytes: nothing reads them as values)."""
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        stamp = int(time.time() * 1000) - age_ms
        for i in range(count):
            await producer.send_and_wait(relay.topic(TOPIC), b"\x00opaque%d" % i, key=b"k",
                                         partition=0, timestamp_ms=stamp)
    finally:
        await producer.stop()


class Consumer:
    """A test group's consumer of the topic's one partition, committing explicitly."""

    def __init__(self, relay: RelayEnv, group: str, topic: str | None = None) -> None:
        self.tp = TopicPartition(topic or relay.topic(TOPIC), 0)
        self.consumer: AIOKafkaConsumer = processor_consumer(relay.cfg.kafka(TESTS), group)

    async def __aenter__(self) -> Consumer:
        await self.consumer.start()
        self.consumer.assign([self.tp])
        committed = await self.consumer.committed(self.tp)
        if committed is None:
            await self.consumer.seek_to_beginning(self.tp)
        else:
            self.consumer.seek(self.tp, committed)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def consume(self, until: int | None = None) -> int:
        """Read to the end (or to offset `until`) and commit; the committed offset."""
        end = (await self.consumer.end_offsets([self.tp]))[self.tp] if until is None else until
        while await self.consumer.position(self.tp) < end:
            await self.consumer.getmany(self.tp, timeout_ms=300,
                                        max_records=end - await self.consumer.position(self.tp))
        position = min(await self.consumer.position(self.tp), end)
        await self.consumer.commit({self.tp: position})
        return position

    async def commit(self, offset: int) -> None:
        await self.consumer.commit({self.tp: offset})


@pytest.fixture
async def monitor_of(relay: RelayEnv) -> AsyncIterator:
    started: list[LagMonitor] = []

    async def make(rules: Rules) -> LagMonitor:
        monitor = lag_monitor(relay.cfg, rules)
        await monitor.start()
        started.append(monitor)
        return monitor

    yield make
    for monitor in started:
        await monitor.stop()


def _group(evaluation: Evaluation, group: str) -> GroupLag | None:
    return next((g for g in evaluation.groups if g.group == group), None)


async def _until(monitor: LagMonitor, group: str, wanted: Status,
                 never: Status | None = None, interval: float = 0.3) -> GroupLag:
    """Poll until `group` is `wanted` (failing if it is ever `never` first)."""
    deadline = time.monotonic() + PATIENCE
    seen = []
    while time.monotonic() < deadline:
        found = _group(await monitor.poll(), group)
        if found is not None:
            seen.append(found.status)
            if found.status == wanted:
                return found
            assert found.status != never, seen
        await asyncio.sleep(interval)
    raise AssertionError(f"{group} never {wanted.value}; seen {[s.value for s in seen]}")


async def test_a_consuming_group_is_ok_with_no_lag_in_time_though_its_records_are_old(
    relay: RelayEnv, unique: str, monitor_of
):
    group = f"lagtest-ok-{unique}"
    await _produce(relay, 5)
    monitor = await monitor_of(Rules(window=3, stop_after=600.0))
    async with Consumer(relay, group) as consumer:
        await consumer.consume(until=2)
        behind = _group(await monitor.poll(), group)
        assert behind is not None and behind.lag_records == 3
        [part] = behind.partitions
        assert (part.topic, part.committed, part.log_end) == (relay.topic(TOPIC), 2, 5)
        assert part.lag_seconds is not None and part.lag_seconds > DAY_MS / 1000 * 0.99
        assert part.retention is not None
        assert 0 < part.retention.used_fraction < 1
        assert part.retention.left_seconds < 28 * 86_400 - 86_400 * 0.99
        await consumer.consume()
        done = await _until(monitor, group, Status.OK)
        assert done.lag_records == 0 and done.lag_seconds == 0.0
        [part] = done.partitions
        assert part.lag_seconds == 0.0 and part.retention is not None
        assert part.retention.used_fraction == 0.0


async def test_groups_behind_at_different_offsets_of_one_partition_each_get_their_own_wait(
    relay: RelayEnv, unique: str, monitor_of
):
    """Two groups behind on the same partition: the lag in seconds of each is the age of its
    own first unconsumed record, not of the other's."""
    early, late = f"lagtest-early-{unique}", f"lagtest-late-{unique}"
    await _produce(relay, 3, age_ms=2 * DAY_MS)
    async with Consumer(relay, early) as reader:
        start = await reader.consume()
        end = start
    await _produce(relay, 3, age_ms=3_600_000)
    monitor = await monitor_of(Rules(window=3, stop_after=600.0))
    async with Consumer(relay, early) as behind_most, Consumer(relay, late) as behind_least:
        await behind_most.commit(start - 3)  # its first unconsumed record is two days old
        await behind_least.consume(until=end)  # its first is an hour old
        evaluation = await monitor.poll()
    most, least = _group(evaluation, early), _group(evaluation, late)
    assert most is not None and least is not None
    assert most.lag_records == 6 and least.lag_records == 3
    assert most.lag_seconds is not None and most.lag_seconds > 2 * DAY_MS / 1000 * 0.99
    assert least.lag_seconds is not None and least.lag_seconds < DAY_MS / 1000
    assert least.lag_seconds > 3_600 * 0.99


async def test_stop_stall_rewind_and_ok_again(relay: RelayEnv, unique: str, monitor_of):
    await _produce(relay, 10)
    # stopped: consumed, then nothing while the producers go on
    stopped = f"lagtest-stop-{unique}"
    async with Consumer(relay, stopped) as consumer:
        await consumer.consume()
    stops = await monitor_of(Rules(window=3, stop_after=2.0))
    assert _group(await stops.poll(), stopped).status == Status.OK
    await _produce(relay, 5)
    assert (await _until(stops, stopped, Status.STOP)).lag_records == 5

    # stalled: alive, committing the same offset again and again while the lag grows
    stalled = f"lagtest-stall-{unique}"
    stalls = await monitor_of(Rules(window=3, stop_after=3600.0))
    async with Consumer(relay, stalled) as consumer:
        stuck = await consumer.consume(until=7)
        deadline = time.monotonic() + PATIENCE
        status = None
        while status != Status.STALL and time.monotonic() < deadline:
            await consumer.commit(stuck)
            await _produce(relay, 1)
            found = _group(await stalls.poll(), stalled)
            status = found.status if found else None
            assert status != Status.STOP
        assert status == Status.STALL

        # rewound: it seeks back and commits a lower offset
        await consumer.commit(3)
        rewound = await _until(stalls, stalled, Status.REWIND)
        assert rewound.partitions[0].committed == 3

        # restarted, caught up: OK once the rewind has left the window
    async with Consumer(relay, stalled) as consumer:
        await consumer.consume()
        assert (await _until(stalls, stalled, Status.OK)).lag_records == 0


async def test_lagging_consumer_that_advances_is_a_warning(relay: RelayEnv, unique: str,
                                                          monitor_of):
    group = f"lagtest-warn-{unique}"
    monitor = await monitor_of(Rules(window=3, stop_after=3600.0))
    await _produce(relay, 4)
    async with Consumer(relay, group) as consumer:
        offset = await consumer.consume(until=1)
        deadline = time.monotonic() + PATIENCE
        status = None
        while status != Status.WARN and time.monotonic() < deadline:
            await _produce(relay, 3)
            offset += 1
            await consumer.commit(offset)
            found = _group(await monitor.poll(), group)
            status = found.status if found else None
        assert status == Status.WARN


def _spawn_monitor(relay: RelayEnv, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", "lag-monitor",
                             "--interval", "0.3", "--window", "3", *args],
                            env=relay.cfg.child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def _port_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


async def _wait_port(path: Path, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        port = await asyncio.to_thread(_port_in, path)
        if port is not None:
            return port
        await asyncio.sleep(0.2)
    raise AssertionError("the monitor wrote no port")


async def _api_until(port: int, group: str, wanted: str) -> dict:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        status, body = await asyncio.to_thread(_get, port, "/api/lag")
        if status == 200:
            found = next((g for g in json.loads(body)["groups"] if g["group"] == group), None)
            if found is not None and found["status"] == wanted:
                return json.loads(body)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{group} never {wanted} on the API")


async def test_the_running_monitor_serves_json_metrics_and_shaho_lag_prints_its_table(
    relay: RelayEnv, unique: str
):
    plain, worker_code = f"lagtest-api-{unique}", f"L{unique.upper()}"
    worker = f"insurer.{worker_code}.worker"
    await _produce(relay, 6)
    async with Consumer(relay, plain) as consumer:
        await consumer.consume(until=4)
    async with Consumer(relay, worker) as consumer:
        await consumer.consume()
    port_file = lag_port_file(relay.cfg)
    proc = _spawn_monitor(relay, "--stop-after", "3600")
    try:
        port = await _wait_port(port_file, proc)
        await _api_until(port, worker, "OK")
        answer = await _api_until(port, plain, "STALL")  # behind, its offset standing still
        assert set(answer) == {"groups", "evaluated_at", "stale", "error", "now"}
        assert answer["stale"] is False and answer["error"] is None
        assert answer["now"] >= answer["evaluated_at"]
        mine = next(g for g in answer["groups"] if g["group"] == plain)
        assert set(mine) == {"group", "status", "lag_records", "lag_seconds", "partitions"}
        assert mine["lag_records"] == 2 and mine["lag_seconds"] > 86_000
        [part] = mine["partitions"]
        assert set(part) == {"topic", "partition", "committed", "log_end", "lag_records",
                             "lag_seconds", "retention_left_seconds",
                             "retention_used_fraction", "status"}
        assert (part["topic"], part["partition"], part["committed"], part["log_end"]) == (
            relay.topic(TOPIC), 0, 4, 6)
        assert 0 < part["retention_used_fraction"] < 1

        status, metrics = await asyncio.to_thread(_get, port, "/metrics")
        text = metrics.decode()
        assert status == 200
        assert 'shaho_group_status{group="insurer.worker",status="OK"} 1.0' in text
        assert 'shaho_group_status{group="insurer.worker",status="STOP"} 0.0' in text
        assert 'shaho_lag_records{group="other"}' in text
        assert 'shaho_lag_seconds{group="other"}' in text
        assert 'shaho_lag_retention_used_ratio{group="other"}' in text
        assert worker_code not in text and plain not in text, "no group's own name in labels"
        assert status == 200 and (await asyncio.to_thread(_get, port, "/nothing"))[0] == 404

        shown = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "shaho.cli", "lag", "--from-monitor",
                             "--partitions"],
            env=relay.cfg.child_env(), capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        cells = _cells(shown.stdout, plain)
        assert cells[0] == plain and cells[5] == "2" and cells[-1] in ("STALL", "STOP")
        assert relay.topic(TOPIC) in shown.stdout and worker in shown.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert not port_file.exists(), "the port file goes with the monitor"


def _shaho(relay: RelayEnv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shaho.cli", *args], env=relay.cfg.child_env(),
                          capture_output=True, text=True, timeout=120, check=False)


def _cells(table: str, group: str) -> list[str]:
    """The cells of `group`'s row of the printed table."""
    row = next(line for line in table.splitlines() if f" {group} " in line)
    return [c.strip() for c in row.strip().strip("│").split("│")]


def test_shaho_lag_evaluates_once_without_a_running_monitor(relay: RelayEnv, unique: str):
    group = f"lagtest-cli-{unique}"

    async def setup() -> None:
        await _produce(relay, 3)
        async with Consumer(relay, group) as consumer:
            await consumer.consume(until=1)

    asyncio.run(setup())
    once = _shaho(relay, "lag")  # one observation: the lag, no trend to judge
    assert once.returncode == 0, once.stderr
    cells = _cells(once.stdout, group)
    assert cells[0] == group and cells[5] == "2" and cells[-1] == "OK"
    watched = _shaho(relay, "lag", "--observations", "3", "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    assert _cells(watched.stdout, group)[-1] == "STALL", "still through its three observations"
    missing = subprocess.run([sys.executable, "-m", "shaho.cli", "lag", "--from-monitor"],
                             env=relay.cfg.child_env(), capture_output=True, text=True,
                             timeout=60, check=False)
    assert missing.returncode == 2 and "no lag monitor is running" in missing.stderr


@pytest.fixture
async def participant_topic(relay: RelayEnv, unique: str) -> str:
    """A participant's topic in the test's namespace holding one record."""
    name = relay.topic(f"participant.LAG{unique.upper()}.changes.v1")
    admin = admin_client(relay.cfg.kafka(OPERATOR))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    producer = idempotent_producer(relay.cfg.kafka(TESTS))
    await producer.start()
    try:
        await producer.send_and_wait(name, b"sealed for the participant", key=b"k")
        await producer.send_and_wait(name, b"sealed for the participant", key=b"k")
    finally:
        await producer.stop()
    return name


async def test_the_monitor_reads_a_participant_topics_timestamps_and_decodes_nothing(
    relay: RelayEnv, unique: str, participant_topic: str, monitor_of
):
    group = f"insurer.LAG{unique.upper()}.worker"
    async with Consumer(relay, group, participant_topic) as consumer:
        await consumer.consume(until=1)
    monitor = await monitor_of(Rules(window=3, stop_after=600.0))
    found = _group(await monitor.poll(), group)
    assert found is not None
    [part] = found.partitions
    assert (part.committed, part.log_end, part.lag_records) == (1, 2, 1)
    assert part.lag_seconds is not None and part.lag_seconds > 0, \
        "a participant's worker behind has a lag in time, read from its record's timestamp"

    reader = timestamp_reader(relay.cfg.kafka(LAG_MONITOR_PRINCIPAL))
    assert reader._key_deserializer is None and reader._value_deserializer is None
    await reader.start()
    try:
        tp = TopicPartition(participant_topic, 0)
        reader.assign([tp])
        reader.seek(tp, 1)
        fetched = await asyncio.wait_for(reader.getmany(tp, timeout_ms=5000), 30)
        [record] = fetched[tp][:1]
        assert record.value == b"sealed for the participant", "bytes as stored, never decoded"
    finally:
        await reader.stop()


@pytest.mark.parametrize("topic", [TOPIC, "clock.relay-time.v1", "filing.employer.v1",
                                   "participant.LAGW.changes.v1"])
async def test_the_lag_monitor_writes_nothing(relay: RelayEnv, topic: str):
    producer = idempotent_producer(relay.cfg.kafka(LAG_MONITOR_PRINCIPAL))
    with pytest.raises((TopicAuthorizationFailedError, ClusterAuthorizationFailedError)):
        await asyncio.wait_for(producer.start(), 30)
        try:
            await asyncio.wait_for(producer.send_and_wait(relay.topic(topic), b"x", key=b"k"),
                                   30)
        finally:
            await producer.stop()


async def test_the_linkers_group_as_the_monitor_sees_it_before_and_after_it_runs(
    relay: RelayEnv, monitor_of
):
    from datetime import date

    from synthetic.population import generate

    population = generate(2, 30, date(2025, 1, 1))
    await relay.publish([(population.topic_of(f), f) for f in population.filings])
    await relay.tick()
    monitor = await monitor_of(Rules(window=3, stop_after=600.0))
    assert _group(await monitor.poll(), "relay-linker") is None, "nothing committed yet"
    assert relay.run("relay-linker") == 0
    linker = _group(await monitor.poll(), "relay-linker")
    assert linker is not None and linker.status == Status.OK
    assert linker.lag_records == 0 and linker.lag_seconds == 0.0
    ingestion = {p.topic for p in linker.partitions}
    assert ingestion == {relay.topic(f"filing.{k}.v1")
                         for k in ("pension", "employer", "municipality", "insurer")}
    assert sum(p.committed for p in linker.partitions) == len(population.filings) + 24


async def test_a_group_that_read_every_record_of_a_transactional_topic_is_ok_with_no_lag(
    relay: RelayEnv, unique: str, monitor_of
):
    """A consumer of a transactional producer's topic commits the offset after the last record
    it read; the commit marker after it is no record: the group is caught up, OK with no lag,
    and stays OK at rest (never STALL or STOP), until new records come."""
    group = f"lagtest-markers-{unique}"
    producer = transactional_producer(relay.cfg.kafka(TESTS), f"lagtest-{unique}")
    await producer.start()
    try:
        for i in range(3):
            async with producer.transaction():
                await producer.send(relay.topic(TOPIC), b"\x00opaque%d" % i, key=b"k",
                                    partition=0)
    finally:
        await producer.stop()
    monitor = await monitor_of(Rules(window=3, stop_after=2.0))
    async with Consumer(relay, group) as consumer:
        records = 0
        while records < 3:
            batch = await consumer.consumer.getmany(consumer.tp, timeout_ms=300)
            records += len(batch.get(consumer.tp, []))
        last = max(r.offset for r in batch[consumer.tp])
        await consumer.commit(last + 1)  # after the last record, before its commit marker
    found = _group(await monitor.poll(), group)
    assert found is not None and found.partitions[0].committed == last + 1, found
    for _ in range(8):  # at rest past the stop window: still OK, no lag
        found = _group(await monitor.poll(), group)
        assert found is not None and found.status is Status.OK, found
        assert (found.lag_records, found.lag_seconds) == (0, 0.0), found
        await asyncio.sleep(0.4)
    await _produce(relay, 2)  # new records after the marker: behind again, by their offsets
    found = _group(await monitor.poll(), group)
    assert found is not None and found.lag_records == 3 and found.lag_seconds > 0, found
    assert found.status is not Status.REWIND, found
