"""The lag monitor's judgement of a partition over its window of observations, a group's as
the worst of its partitions', lag in seconds and against retention, and the bounded labels
groups are counted under in metrics."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lag_monitor.status import (
    SEVERITY,
    GroupLag,
    History,
    Observation,
    PartitionLag,
    Retention,
    Rules,
    Status,
    by_kind,
    evaluate,
    lag_seconds,
    metric_group,
    observe,
    retention,
    stop_window,
    worst,
)

RULES = Rules(window=4, stop_after=100.0)


def _history(points: list[tuple[float, int, int]], rules: Rules = RULES) -> History:
    h = History()
    for at, committed, end in points:
        h = observe(h, Observation(at, committed, end), rules)
    return h


def _judge(points: list[tuple[float, int, int]], now: float | None = None,
           rules: Rules = RULES) -> Status:
    h = _history(points, rules)
    return evaluate(h, points[-1][0] if now is None else now, rules)


def test_a_consumer_keeping_up_is_ok_however_old_the_records():
    assert _judge([(0, 10, 10), (5, 20, 20), (10, 30, 30), (15, 30, 30)]) == Status.OK
    assert lag_seconds(30, 30, first_unconsumed_ms=0, now=10_000_000.0) == 0.0


def test_lag_growing_while_the_offsets_advance_is_a_warning():
    assert _judge([(0, 10, 20), (5, 15, 30), (10, 20, 40), (15, 25, 50)]) == Status.WARN


def test_lag_shrinking_once_within_the_window_is_not_a_warning():
    assert _judge([(0, 10, 20), (5, 15, 30), (10, 29, 31), (15, 30, 50)]) == Status.OK


def test_an_offset_standing_still_through_the_window_with_lag_is_a_stall():
    assert _judge([(0, 10, 20), (5, 10, 30), (10, 10, 40), (15, 10, 50)]) == Status.STALL


def test_a_stall_that_outlasts_the_stop_window_is_a_stop():
    points = [(0, 10, 20), (5, 10, 30), (10, 10, 40), (15, 10, 50)]
    assert _judge(points, now=100.0) == Status.STALL  # still since 0: exactly the window
    assert _judge(points, now=100.5) == Status.STOP


def test_a_stop_is_judged_from_when_the_offset_last_changed_not_from_the_window():
    rules = Rules(window=2, stop_after=10.0)
    points = [(0, 5, 9), (4, 7, 12), (8, 7, 12), (12, 7, 14), (16, 7, 15)]
    history = _history(points, rules)
    assert history.changed_at == 4 and len(history.observations) == 2
    assert evaluate(history, 14.0, rules) == Status.STALL
    assert evaluate(history, 16.0, rules) == Status.STOP


def test_no_lag_now_is_never_a_stop_however_long_the_offset_stood_still():
    assert _judge([(0, 10, 10), (5, 10, 10), (10, 10, 10), (15, 10, 10)],
                  now=10_000.0) == Status.OK


def test_an_offset_going_back_is_a_rewind_even_with_no_lag():
    assert _judge([(0, 10, 20), (5, 20, 20), (10, 5, 20), (15, 20, 20)]) == Status.REWIND


def test_a_rewind_leaves_with_the_window():
    points = [(0, 10, 20), (5, 5, 20), (10, 10, 20), (15, 15, 20), (20, 20, 20),
              (25, 20, 20)]
    assert _judge(points[:4]) == Status.REWIND
    assert _judge(points) == Status.OK


def test_a_window_not_yet_full_judges_no_trend():
    assert _judge([(0, 10, 20), (5, 10, 30)]) == Status.OK


def test_the_window_holds_at_least_two_observations_and_the_stop_window_is_positive():
    with pytest.raises(ValueError):
        Rules(window=1)
    with pytest.raises(ValueError):
        Rules(stop_after=0)
    assert stop_window(10, 5.0) == 100.0


def test_a_group_is_as_bad_as_its_worst_partition():
    parts = tuple(PartitionLag("t", i, 0, n, None, None, s)
                  for i, (n, s) in enumerate([(0, Status.OK), (3, Status.WARN),
                                              (5, Status.STOP)]))
    group = GroupLag("g", parts)
    assert group.status == Status.STOP and group.lag_records == 8
    assert group.as_json()["status"] == "STOP"
    assert GroupLag("empty").status == Status.OK


def test_lag_seconds_are_the_first_unconsumed_records_age_and_unknown_without_it():
    assert lag_seconds(5, 8, first_unconsumed_ms=1_000_000, now=1_060.0) == pytest.approx(60.0)
    assert lag_seconds(5, 8, first_unconsumed_ms=None, now=1_060.0) is None
    assert lag_seconds(5, 8, first_unconsumed_ms=2_000_000, now=1_060.0) == 0.001  # skew


def test_retention_left_and_used_against_the_topics_retention():
    assert retention(3600.0, 4 * 3_600_000) == Retention(3 * 3600.0, 0.25)
    assert retention(0.0, 1000) == Retention(1.0, 0.0)
    assert retention(5.0, 1000) == Retention(0.0, 5.0)  # past its retention
    assert retention(10.0, -1) is None and retention(10.0, None) is None
    assert retention(None, 1000) is None
    assert retention(None, 1000, records_lost=True) == Retention(0.0, 1.0)


def test_metric_labels_name_relay_groups_and_worker_kinds_never_a_participant():
    relay, roles = ("relay-linker", "notifications"), ("insurer", "pension")
    assert metric_group("relay-linker", relay, roles) == "relay-linker"
    assert metric_group("insurer.06130012.worker", relay, roles) == "insurer.worker"
    assert metric_group("pension.JPS.worker", relay, roles) == "pension.worker"
    for other in ("employer.E1.worker", "insurer.06130012", "insurer.a.b.worker",
                  "lagtest-1234", "insurer..worker.x"):
        assert metric_group(other, relay, roles) == "other"


def test_worker_groups_are_aggregated_under_their_kind():
    a = GroupLag("insurer.A.worker", (PartitionLag("t", 0, 0, 4, 30.0, None, Status.WARN),))
    b = GroupLag("insurer.B.worker", (PartitionLag("t", 0, 0, 6, 50.0,
                                                   Retention(10.0, 0.5), Status.STALL),))
    c = GroupLag("relay-linker", (PartitionLag("t", 0, 9, 9, 0.0, None, Status.OK),))
    kinds = {k.kind: k for k in by_kind([a, b, c], ["relay-linker"], ["insurer"])}
    assert set(kinds) == {"insurer.worker", "relay-linker"}
    worker = kinds["insurer.worker"]
    assert (worker.status, worker.lag_records, worker.lag_seconds, worker.retention_used) == (
        Status.STALL, 10, 50.0, 0.5)


# Property tests ---------------------------------------------------------------------------

STEPS = st.lists(st.tuples(st.floats(0.1, 50.0), st.integers(-20, 40), st.integers(0, 40)),
                 min_size=1, max_size=12)


def _walk(steps: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """Observations from steps: time forward, the offset moved by a step (maybe back), the log
    end never behind the offset nor going back."""
    at, committed, end, out = 0.0, 0, 0, []
    for dt, move, grow in steps:
        at += dt
        committed = max(committed + move, 0)
        end = max(end + grow, committed)
        out.append((at, committed, end))
    return out


@given(STEPS, st.integers(2, 6), st.floats(1.0, 500.0), st.floats(0.0, 1000.0))
def test_never_ok_when_the_offset_went_back_within_the_window(steps, window, stop, later):
    rules = Rules(window=window, stop_after=stop)
    points = _walk(steps)
    history = _history(points, rules)
    kept = history.observations
    backwards = any(b.committed < a.committed for a, b in pairwise(kept))
    status = evaluate(history, points[-1][0] + later, rules)
    if backwards:
        assert status == Status.REWIND


@given(STEPS, st.integers(2, 6), st.floats(1.0, 500.0))
def test_a_partition_with_no_lag_now_is_ok_unless_it_went_back(steps, window, stop):
    rules = Rules(window=window, stop_after=stop)
    points = _walk(steps)
    at, committed, _ = points[-1]
    points[-1] = (at, committed, committed)
    status = evaluate(_history(points, rules), at + 10_000.0, rules)
    assert status in (Status.OK, Status.REWIND)


@given(st.integers(0, 10**12), st.integers(0, 10**6), st.one_of(st.none(), st.integers(0, 2**45)),
       st.floats(0, 2.0e9))
def test_lag_seconds_are_zero_exactly_when_nothing_is_left_to_consume(committed, behind, ms, now):
    waited = lag_seconds(committed, committed + behind, ms, now)
    if behind == 0:
        assert waited == 0.0
    else:
        assert waited is None or waited > 0


@given(st.lists(st.sampled_from(list(Status)), max_size=8))
def test_worst_of_is_the_most_severe_and_ok_for_none(statuses):
    found = worst(statuses)
    assert all(SEVERITY[found] >= SEVERITY[s] for s in statuses)
    assert found in statuses or (not statuses and found == Status.OK)
    assert [s for s in Status if SEVERITY[s] == SEVERITY[found]] == [found]


@given(st.lists(st.tuples(st.sampled_from(list(Status)), st.integers(0, 100)), min_size=1,
                max_size=6))
def test_a_groups_status_and_lag_follow_its_partitions(parts):
    group = GroupLag("g", tuple(PartitionLag("t", i, 0, n, None, None, s)
                                for i, (s, n) in enumerate(parts)))
    assert group.status == worst(s for s, _ in parts)
    assert group.lag_records == sum(n for _, n in parts)


@given(STEPS, st.integers(2, 6))
def test_the_window_keeps_the_last_observations_and_when_the_offset_last_changed(steps, window):
    rules = Rules(window=window, stop_after=10.0)
    points = _walk(steps)
    history = _history(points, rules)
    assert [(o.at, o.committed, o.log_end) for o in history.observations] == points[-window:]
    last = points[-1][1]
    first_seen = points[-1][0]
    for at, committed, _ in reversed(points):
        if committed != last:
            break
        first_seen = at
    assert history.changed_at == first_seen


@given(st.text(max_size=30))
def test_metric_labels_come_from_a_bounded_set(group):
    relay, roles = ("relay-linker", "relay-exchange", "notifications"), ("insurer", "pension")
    label = metric_group(group, relay, roles)
    assert label in {*relay, "insurer.worker", "pension.worker", "other"}
