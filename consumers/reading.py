"""Reading whole topics as read_committed readers see them: from the beginning up to each
partition's last stable offset, for tools and checks (not for processors)."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from groundfloor.kafka_clients import KafkaLogin, read_to_end
from schemas.topics import CATALOGUE, PARTICIPANT_PREFIX, PARTITIONS
from schemas.topics import topic as named_topic


def partitions_of(topic: str) -> int:
    """The catalogue's partition count for a topic, or a participant's (under any namespace
    prefix)."""
    for entry in CATALOGUE:
        if topic == entry.name or topic.endswith("." + entry.name):
            return entry.partitions
    at = topic.find(PARTICIPANT_PREFIX)
    while at >= 0:
        if at == 0 or topic[at - 1] == ".":
            try:
                return named_topic(topic[at:]).partitions
            except KeyError:
                pass
        at = topic.find(PARTICIPANT_PREFIX, at + 1)
    return PARTITIONS


async def read_committed(kafka: KafkaLogin, topics: list[str],
                         seconds: float = 180.0) -> list[ConsumerRecord]:
    """Every committed record of the broker topics `topics` (see `read_to_end`)."""
    owned = [TopicPartition(t, p) for t in topics for p in range(partitions_of(t))]
    return await read_to_end(kafka, owned, seconds)
