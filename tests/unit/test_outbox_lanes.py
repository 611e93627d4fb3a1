"""Outbox rows name the partition Kafka's default partitioner picks for their key, and their
lane is that output partition: a person's link changes and a filer's outcomes share one lane."""

from uuid import uuid4

import pytest
from aiokafka.partitioner import DefaultPartitioner

from groundfloor.kafka_clients import default_partition
from outbox.table import OutboxRow
from relay_linker.domain.commands import Source
from relay_linker.messages import dead_letter_rows
from schemas import FilingRejected, Reason
from schemas.topics import Namespace

# org.apache.kafka.common.utils.UtilsTest#testMurmur2: Java's signed results
JAVA_MURMUR2 = {b"21": -973932308, b"foobar": -790332482,
                b"a-little-bit-long-string": -985981536,
                b"a-little-bit-longer-string": -1486304829,
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
                b"abc": 479470107}


@pytest.mark.parametrize("key", sorted(JAVA_MURMUR2))
def test_the_partition_is_the_java_clients_choice(key: bytes) -> None:
    for partitions in (1, 3, 6, 7):
        assert default_partition(key, partitions) == (
            JAVA_MURMUR2[key] & 0x7FFFFFFF) % partitions


def test_the_partition_is_aiokafkas_choice() -> None:
    keys = [f"R{n:011d}".encode() for n in range(500)]
    for key in keys:
        assert default_partition(key, 6) == DefaultPartitioner()(key, list(range(6)), [])
    assert {default_partition(k, 6) for k in keys} == set(range(6))


def test_a_topic_has_partitions() -> None:
    with pytest.raises(ValueError):
        default_partition(b"k", 0)


def test_rows_of_one_key_share_the_lane_of_their_output_partition() -> None:
    rows = [OutboxRow.keyed(uuid4(), ("filing.employer.v1", source, 9), 0,
                            "t1.relay.link-change.v1", 6, b"R00000000042", b"{}")
            for source in range(4)]
    partition = default_partition(b"R00000000042", 6)
    assert {r.lane for r in rows} == {f"t1.relay.link-change.v1:{partition}"}
    assert {r.partition for r in rows} == {partition}


def test_a_dead_letter_goes_to_the_partition_of_its_filer_code() -> None:
    namespace = Namespace("t1.")
    rejected = FilingRejected([Reason(code="bad_json", field=None, message="not JSON")])
    rows = dead_letter_rows(("t1.filing.employer.v1.dlq", b"E0001", b"{}"), rejected,
                            Source("t1.filing.employer.v1", 2, 7), namespace, raw=b"{}")
    assert [(r.topic, r.partition) for r in rows] == [
        ("t1.filing.employer.v1.dlq", default_partition(b"E0001", 6))]
