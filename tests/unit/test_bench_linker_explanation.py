"""The linker bench's explanation is read off its own figures: where the linker computed most of
its wall time it does not call the linker waiting, and the other way round."""

from __future__ import annotations

from typing import Any

from bench.linker import explanation


def _result(linker_cpu_s: float, run_queue_s: float = 0.5) -> dict[str, Any]:
    latency = {"rate": 1000, "filings": 1000, "wall_s": 1.0, "cpu_s": {"relay-linker": 0.5}}
    return {
        "sustained": {"cpu_s": {"linker": linker_cpu_s, "PostgreSQL": 10.0, "Kafka": 2.0},
                      "seconds": 100.0, "events": 10_000, "run_queue_s": run_queue_s,
                      "round_trips_per_filing": 4.5, "round_trips_by_kind": {"SELECT": 4.5},
                      "parked_per_filing": 0.5},
        "profiled": {"events": 3000, "seconds": 20.0, "epoll_s": 3.0},
        "latency": latency, "latency_within_capacity": {**latency, "rate": 200},
    }


def _conclusion(result: dict[str, Any]) -> str:
    return next(line for line in explanation(result) if line.startswith("So the linker"))


def test_a_linker_mostly_computing_is_not_said_to_be_mostly_waiting():
    said = _conclusion(_result(linker_cpu_s=76.0, run_queue_s=1.0))
    assert "computed for 76% of its wall time and waited for answers for 23%" in said
    assert "the larger gain is in less Python work per filing" in said
    assert "not CPU-bound" not in said


def test_a_linker_mostly_waiting_is_said_to_gain_most_from_fewer_round_trips():
    said = _conclusion(_result(linker_cpu_s=30.0, run_queue_s=0.0))
    assert "computed for 30% of its wall time and waited for answers for 70%" in said
    assert "the larger gain is in fewer round trips per batch" in said


def test_a_linker_at_a_full_core_is_cpu_bound():
    assert "CPU-bound in its own process" in _conclusion(_result(linker_cpu_s=95.0))


def test_the_decisions_run_again_are_reported_when_measured():
    result = _result(linker_cpu_s=76.0)
    result["sustained"]["decided_again_per_filing"] = 0.31
    assert any("decided 0.31 records per filing again" in line for line in explanation(result))
    assert not any("records per filing again" in line
                   for line in explanation(_result(linker_cpu_s=76.0)))
