"""Namespaces are values: the topic prefix is read once into the settings, topic names are
derived from it, and a child process receives it through the environment it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundfloor.config import StackConfig
from schemas.topics import FILING_OUTCOME, LINK_CHANGE, Namespace


def test_a_namespace_prefixes_catalogue_names_and_strips_them_again():
    demo = Namespace("demo.")
    assert demo.physical(FILING_OUTCOME) == "demo.relay.filing-outcome.v1"
    assert demo.physical("filing.pension.v1.dlq") == "demo.filing.pension.v1.dlq"
    assert demo.logical("demo.relay.link-change.v1") == LINK_CHANGE.name
    assert demo.logical(LINK_CHANGE.name) == LINK_CHANGE.name, "a name outside it stays as is"
    assert Namespace().physical(LINK_CHANGE) == LINK_CHANGE.name


def test_the_prefix_is_read_once_next_to_the_database(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHAHO_TOPIC_PREFIX", "t1.")
    monkeypatch.setenv("SHAHO_PG_DATABASE", "relay_t1")
    cfg = StackConfig.from_env(Path("/nonexistent"))
    monkeypatch.setenv("SHAHO_TOPIC_PREFIX", "t2.")
    assert (cfg.topic_prefix, cfg.pg_database) == ("t1.", "relay_t1")
    monkeypatch.delenv("SHAHO_TOPIC_PREFIX")
    assert StackConfig.from_env(Path("/nonexistent")).topic_prefix == ""


def test_a_namespaced_config_reaches_children_only_through_their_environment(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SHAHO_TOPIC_PREFIX", raising=False)
    monkeypatch.setenv("SHAHO_PG_DATABASE", "shaho_relay")
    cfg = StackConfig.from_env(Path("/nonexistent"))
    demo = cfg.namespaced("demo.", "shaho_demo")
    assert (cfg.topic_prefix, cfg.pg_database) == ("", "shaho_relay"), "the original is kept"
    assert demo.kafka_port == cfg.kafka_port and demo.state_dir == cfg.state_dir
    env = demo.child_env({"SHAHO_FAULT": "x:1"})
    assert env["SHAHO_TOPIC_PREFIX"] == "demo." and env["SHAHO_PG_DATABASE"] == "shaho_demo"
    assert env["SHAHO_FAULT"] == "x:1" and "PATH" in env
    for name in demo.namespace_env():
        monkeypatch.setenv(name, env[name])
    child = StackConfig.from_env(Path("/nonexistent"))
    assert (child.topic_prefix, child.pg_database) == ("demo.", "shaho_demo")


def test_the_linker_batch_is_read_once_and_must_be_positive(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SHAHO_LINKER_BATCH", raising=False)
    assert StackConfig.from_env(Path("/nonexistent")).linker_batch == 500
    monkeypatch.setenv("SHAHO_LINKER_BATCH", "20")
    cfg = StackConfig.from_env(Path("/nonexistent"))
    monkeypatch.setenv("SHAHO_LINKER_BATCH", "0")
    assert cfg.linker_batch == 20
    assert cfg.with_linker_batch(7).linker_batch == 7
    with pytest.raises(ValueError):
        StackConfig.from_env(Path("/nonexistent"))
    with pytest.raises(ValueError):
        cfg.with_linker_batch(0)


def test_run_takes_a_batch_size():
    from shaho.cli import build_parser

    args = build_parser().parse_args(["run", "relay-linker", "--batch", "50", "--drain"])
    assert (args.processor, args.batch, args.drain) == ("relay-linker", 50, True)
    assert build_parser().parse_args(["run", "outbox-publisher"]).batch is None


def test_whole_topic_readers_know_each_topics_partitions_under_a_prefix() -> None:
    from consumers.reading import partitions_of
    from schemas.topics import LINK_CHANGE, RELAY_CLOCK, participant_topics

    for prefix in ("", "t1a2b.", "participant.x."):
        assert partitions_of(prefix + LINK_CHANGE.name) == LINK_CHANGE.partitions
        assert partitions_of(prefix + RELAY_CLOCK.name) == RELAY_CLOCK.partitions == 1
        requests, replies, changes, heads = participant_topics("01130012")
        assert partitions_of(prefix + changes.name) == changes.partitions == 3
        assert partitions_of(prefix + heads.name) == heads.partitions == 1
        assert partitions_of(prefix + requests.name) == requests.partitions == 6
        assert partitions_of(prefix + replies.name) == replies.partitions
