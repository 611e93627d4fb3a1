"""The processors' metrics take label values from fixed sets only: whatever reason a caller
passes, what is exported is a known code or `other`, never the text it was given."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from groundfloor.metrics import (
    OTHER,
    PROCESSORS,
    REGISTRY,
    ProcessorMetrics,
    endpoints,
    port_for,
)
from insurer_workers import receipt_store
from insurer_workers.worker import REFUSALS as WORKER_REFUSALS
from insurer_workers.worker import SET_ASIDE, WorkerCounts
from relay_exchange.router import router_metrics
from relay_linker.domain.model import MESSAGES
from relay_linker.linker import linker_metrics

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _exported() -> list[tuple[str, dict[str, str]]]:
    from prometheus_client import generate_latest

    text = generate_latest(REGISTRY).decode()
    return [(s.name, s.labels) for f in text_string_to_metric_families(text) for s in f.samples]


def _refusal_count(processor: str, reason: str) -> float:
    found = REGISTRY.get_sample_value("shaho_refusals_total",
                                      {"processor": processor, "reason": reason})
    return found or 0.0


def test_a_reason_outside_the_fixed_set_is_counted_as_other():
    metrics = ProcessorMetrics("relay-exchange", refusal_reasons=["expired"])
    before = _refusal_count("relay-exchange", OTHER), _refusal_count("relay-exchange", "expired")
    metrics.refused("expired")
    metrics.refused("12345678")  # an insured number passed by mistake
    metrics.refused("expired\nbut not quite")
    after = _refusal_count("relay-exchange", OTHER), _refusal_count("relay-exchange", "expired")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
    assert all(labels.get("reason") != "12345678" for _, labels in _exported())


@given(st.text(max_size=80))
def test_no_reason_given_ever_becomes_a_label_value_unless_it_is_a_known_code(why: str):
    metrics = linker_metrics()
    metrics.dead_letter(why)
    metrics.refused(why)
    known = {*MESSAGES, *(str(c) for c in metrics._dead)}
    values = {labels["reason"] for _, labels in _exported() if "reason" in labels}
    assert why in known or why not in values or why == OTHER


def test_every_label_is_a_processor_or_a_reason_code():
    linker_metrics(), router_metrics(), WorkerCounts()
    for name, labels in _exported():
        assert set(labels) <= {"processor", "reason", "le"}, name
        assert labels.get("le", "1").replace("+Inf", "1").replace(".", "", 1).isdigit()
        assert labels.get("processor", "relay-linker") in PROCESSORS
        assert CODE.fullmatch(labels.get("reason", OTHER))


def test_a_processor_outside_the_list_and_a_reason_that_is_no_code_are_refused():
    with pytest.raises(ValueError):
        ProcessorMetrics("my-processor")
    with pytest.raises(ValueError):
        ProcessorMetrics("relay-linker", refusal_reasons=["Not Valid"])


def test_ports_are_the_base_plus_a_fixed_offset_or_any_free_one():
    assert [port_for(p, 9400) for p in PROCESSORS] == list(range(9400, 9400 + len(PROCESSORS)))
    assert {port_for(p, 0) for p in PROCESSORS} == {0}


def test_the_workers_tally_reaches_its_metrics_by_code():
    counts = WorkerCounts()
    before = _refusal_count("insurer-worker", "expired")
    counts.add("refused:expired", 3)
    counts.add("refused:JPS-123")  # not a code of the set: other
    assert _refusal_count("insurer-worker", "expired") - before == 3
    assert counts.counts == {"refused:expired": 3, "refused:JPS-123": 1}
    assert "JPS-123" not in {labels.get("reason") for _, labels in _exported()}


def _literal_codes(path: Path, call: str) -> set[str]:
    """The string literals passed first to `call(...)` in the module at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == call and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def test_the_linking_rules_refuse_only_with_codes_the_metrics_know():
    found = set()
    for module in (ROOT / "relay_linker" / "domain").glob("*.py"):
        found |= _literal_codes(module, "Reason")
    assert found and found <= set(MESSAGES)


def test_receipts_are_refused_only_with_codes_the_metrics_know():
    found = _literal_codes(ROOT / "insurer_workers" / "receipt_store.py", "Refused")
    assert found == set(receipt_store.REFUSAL_CODES)
    assert found <= set(SET_ASIDE) and set(WORKER_REFUSALS).isdisjoint({OTHER})


def test_the_port_files_read_back_and_a_damaged_one_is_passed_over(tmp_path: Path):
    (tmp_path / "relay-linker.12.metrics").write_text(
        '{"processor": "relay-linker", "pid": 12, "port": 9400, "namespace": "t1."}')
    (tmp_path / "notifications.13.metrics").write_text('{"processor": "notifications"')
    (tmp_path / "relay-clock.14.metrics").write_text('{"pid": "x"}')
    found = endpoints(tmp_path)
    assert [(e.processor, e.pid, e.url, e.namespace) for e in found] == [
        ("relay-linker", 12, "http://127.0.0.1:9400/metrics", "t1.")]
