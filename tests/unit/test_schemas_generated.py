"""The checked-in JSON Schemas and docs/asyncapi.yaml match what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from schemas.asyncapi import ASYNCAPI_PATH, document, generated_files, stale
from schemas.jsonschema_export import SCHEMA_DIR, message_name
from schemas.topics import CATALOGUE, INGESTION_TOPICS, PARTICIPANT_TEMPLATES
from tests.fixtures.examples import all_examples

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_current() -> None:
    stale_files = [str(p.relative_to(REPO_ROOT)) for p in stale(REPO_ROOT)]
    assert stale_files == [], "run `shaho schemas --write` and check in the result"


def test_generation_is_deterministic() -> None:
    assert generated_files() == generated_files()


def test_asyncapi_has_a_channel_and_an_operation_per_topic() -> None:
    doc = yaml.safe_load((REPO_ROOT / ASYNCAPI_PATH).read_text(encoding="utf-8"))
    assert doc == document()
    assert doc["asyncapi"] == "3.0.0"
    participants = {f"participant.code.{s}"
                    for s in ("requests.v1", "replies.v1", "changes.v1", "heads.v1", "notices.v1",
                              "settlements.v1")}
    participants |= {f"private.code.{s}" for s in ("receipts.v1", "receipts.v1.dlq")}
    assert set(doc["channels"]) == {t.name for t in CATALOGUE} | participants
    assert len(doc["operations"]) == len(CATALOGUE) + len(PARTICIPANT_TEMPLATES)
    for topic in PARTICIPANT_TEMPLATES:
        channel = doc["channels"][topic.name.replace("{code}", "code")]
        assert channel["address"] == topic.name
        assert channel["parameters"]["code"]["description"]
    for topic in CATALOGUE:
        channel = doc["channels"][topic.name]
        assert channel["x-key"] == topic.key
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        topic_config = channel["bindings"]["kafka"]["topicConfiguration"]
        assert topic_config["max.message.bytes"] == topic.max_message_bytes
        assert channel.get("x-dlq") == topic.dlq
    for topic in INGESTION_TOPICS:
        assert "FilingRetracted.v1" in doc["channels"][topic.name]["messages"]
    changes = doc["channels"]["participant.code.changes.v1"]
    assert changes["address"] == "participant.{code}.changes.v1"
    assert set(changes["parameters"]) == {"code"}
    assert set(changes["messages"]) == {"ChangeNotice.v1"}


def test_every_message_payload_file_exists() -> None:
    messages = document()["components"]["messages"]
    for message in messages.values():
        path = (REPO_ROOT / ASYNCAPI_PATH).parent / message["payload"]["$ref"]
        assert path.resolve().is_file()


def test_filing_schemas_describe_the_examples() -> None:
    for event_type, filing in all_examples().items():
        path = REPO_ROOT / SCHEMA_DIR / f"{message_name(event_type, 1)}.json"
        schema = json.loads(path.read_text(encoding="utf-8"))
        data = filing.model_dump(mode="json")
        assert set(schema["required"]) <= set(data) <= set(schema["properties"])
        assert schema["properties"]["event_type"]["const"] == event_type
        payload_def = schema["$defs"][schema["properties"]["payload"]["$ref"].split("/")[-1]]
        assert set(payload_def["required"]) <= set(data["payload"])
        assert set(data["payload"]) <= set(payload_def["properties"])


def test_secret_fields_are_marked_in_the_schemas() -> None:
    schema = json.loads(
        (REPO_ROOT / SCHEMA_DIR / "EmployeeInsuranceAcquired.v1.json").read_text(encoding="utf-8")
    )
    identity = schema["$defs"]["IdentityItems"]["properties"]
    assert all(identity[name].get("x-secret") for name in ("kanji_name", "kana_name"))
    assert identity["birth_date"]["x-secret"] is True
