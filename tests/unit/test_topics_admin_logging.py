"""The wait for a new topic's leaders keeps aiokafka's expected retries out of the output: only
the offsets requests refused because a leader does not serve yet are held back."""

import logging

from infra.topics_admin import _not_serving_yet


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.fetcher", logging.ERROR, __file__, 1, message,
                             args, None)


def test_a_retry_while_the_leader_does_not_serve_yet_is_held_back():
    record = _record("Failed fetch offsets from %s: %s", 1,
                     "[Error 6] NotLeaderForPartitionError: TopicPartition(topic='t', partition=2)")
    assert _not_serving_yet(record) is False


def test_every_other_fetcher_error_passes():
    assert _not_serving_yet(_record("Failed fetch offsets from %s: %s", 1,
                                    "[Error 29] TopicAuthorizationFailedError")) is True
    assert _not_serving_yet(_record("Unexpected error in fetcher routine")) is True
