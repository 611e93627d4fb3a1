"""The lag monitor's metrics: one label per relay group and per kind of worker group, never a
participant's code; every status a series, 1 for the current one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lag_monitor.monitor import Evaluation
from lag_monitor.serving import Metrics
from lag_monitor.status import GroupLag, PartitionLag, Retention, Status


def _group(name: str, status: Status, behind: int, seconds: float | None) -> GroupLag:
    return GroupLag(name, (PartitionLag("t", 0, 10, 10 + behind, seconds,
                                        Retention(100.0, 0.25), status),))


def test_worker_groups_are_counted_under_their_kind_and_vanished_groups_dropped():
    metrics = Metrics(("relay-linker", "notifications"), ("insurer", "pension"))
    metrics.update(Evaluation((
        _group("relay-linker", Status.OK, 0, 0.0),
        _group("insurer.06130012.worker", Status.WARN, 3, 12.0),
        _group("insurer.39131234.worker", Status.STOP, 4, 40.0),
        _group("someone-else", Status.STALL, 1, None),
    ), 1.0))
    text = metrics.text().decode()
    assert 'shaho_group_status{group="insurer.worker",status="STOP"} 1.0' in text
    assert 'shaho_group_status{group="insurer.worker",status="WARN"} 0.0' in text
    assert 'shaho_lag_records{group="insurer.worker"} 7.0' in text
    assert 'shaho_lag_seconds{group="insurer.worker"} 40.0' in text
    assert 'shaho_lag_retention_used_ratio{group="insurer.worker"} 0.25' in text
    assert 'shaho_group_status{group="other",status="STALL"} 1.0' in text
    assert 'shaho_lag_seconds{group="other"}' not in text, "unknown is left out, not 0"
    assert "06130012" not in text and "39131234" not in text and "someone-else" not in text
    metrics.update(Evaluation((_group("relay-linker", Status.OK, 0, 0.0),), 2.0))
    again = metrics.text().decode()
    assert "insurer.worker" not in again and 'group="relay-linker",status="OK"} 1.0' in again


@given(st.lists(st.tuples(st.text(max_size=20), st.sampled_from(list(Status)),
                          st.integers(0, 50)), max_size=8))
def test_every_label_is_from_the_bounded_set_and_one_status_is_current(groups):
    metrics = Metrics(("relay-linker",), ("insurer",))
    metrics.update(Evaluation(tuple(_group(n, s, b, None) for n, s, b in groups), 0.0))
    seen: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "shaho_lag_monitor_last_success_timestamp_seconds":
                assert sample.labels == {} and sample.value == 0.0  # the evaluation's time
                continue
            assert sample.labels["group"] in {"relay-linker", "insurer.worker", "other"}
            if sample.name == "shaho_group_status":
                seen[sample.labels["group"]] = seen.get(sample.labels["group"], 0) + sample.value
    assert all(total == 1.0 for total in seen.values())
