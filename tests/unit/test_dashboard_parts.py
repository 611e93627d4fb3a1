"""The dashboard's parts without a broker: the alert rules read from infra/prometheus/alerts.yaml
and evaluated as Prometheus would (pending, then firing after `for:`), the processors' metrics
pages parsed hostilely into bounded labels, quantiles as `histogram_quantile` computes them,
the bounded history, and the API and page served, with a clear error when the chart library
is missing."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from lag_monitor.alerts import Alerting, Facts, duration, parse_rules
from lag_monitor.dashboard import ALERT_RULES, CHART_FILES, Dashboard
from lag_monitor.monitor import Evaluation
from lag_monitor.scraping import Scrapes, Totals, Unreadable, quantile, summarise
from lag_monitor.serving import Metrics, Service
from lag_monitor.status import GroupLag, PartitionLag, Rules, Status

RELAY, ROLES = ("relay-linker",), ("insurer",)


def _group(name: str, status: Status, behind: int, seconds: float | None) -> GroupLag:
    return GroupLag(name, (PartitionLag("t", 0, 10, 10 + behind, seconds, None, status),))


def test_every_rule_of_the_alerts_file_is_evaluated_with_its_own_thresholds():
    rules = {r.name: r for r in parse_rules(ALERT_RULES.read_text())}
    document = yaml.safe_load(ALERT_RULES.read_text())
    written = {r["alert"]: r for g in document["groups"] for r in g["rules"]}
    assert set(rules) == set(written)
    for name, rule in rules.items():
        assert rule.error is None and rule.kind is not None, name
        assert rule.for_seconds == duration(written[name]["for"])
        assert rule.severity == written[name]["labels"]["severity"]
        assert str(rule.threshold).rstrip("0").rstrip(".") in written[name]["expr"] or (
            name == "ShahoDeadLettersArriving"), name
    assert rules["ShahoDeadLettersArriving"].threshold == 1 / 60
    assert rules["ShahoDeadLettersArriving"].range_seconds == 300
    assert rules["ShahoConsumerGroupStalled"].statuses == {"STALL", "STOP"}


def test_a_changed_threshold_in_the_file_is_the_one_evaluated():
    text = ALERT_RULES.read_text().replace("(shaho_lag_seconds) > 300",
                                           "(shaho_lag_seconds) > 42")
    [lag] = [r for r in parse_rules(text) if r.name == "ShahoConsumerLagHigh"]
    assert lag.threshold == 42 and lag.holds(43) and not lag.holds(42)


def test_a_rule_of_an_unknown_shape_is_listed_as_not_evaluated():
    [rule] = parse_rules("groups: [{name: g, rules: [{alert: Odd, expr: 'up == 0', "
                         "for: 1m, labels: {severity: page}}]}]")
    assert rule.kind is None and "not evaluated" in (rule.error or "")
    assert rule.as_json()["evaluated"] is False


def test_alerts_are_pending_then_firing_after_for_and_forgotten_when_they_stop_holding():
    alerting = Alerting(parse_rules(ALERT_RULES.read_text()))
    rates = {("relay-linker", "undecodable"): 0.5, ("notifications", "other"): 0.001}

    def facts(status: str, seconds: float) -> Facts:
        return Facts({"relay-linker": seconds}, {"relay-linker": status}, {"relay-linker": 0.1},
                     lambda window: rates if window == 300 else {})

    first = {(a.name, a.state) for a in alerting.evaluate(facts("STALL", 301), 1000.0)}
    assert first == {("ShahoConsumerLagHigh", "pending"),
                     ("ShahoConsumerGroupStalled", "pending"),
                     ("ShahoDeadLettersArriving", "pending")}
    later = {(a.name, a.state) for a in alerting.evaluate(facts("STOP", 301), 1120.0)}
    assert ("ShahoConsumerGroupStalled", "pending") in later, "a new status is a new series"
    later = {(a.name, a.state) for a in alerting.evaluate(facts("STOP", 301), 1300.0)}
    assert later == {("ShahoConsumerLagHigh", "firing"), ("ShahoConsumerGroupStalled", "firing"),
                     ("ShahoDeadLettersArriving", "firing")}
    dead = [a for a in alerting.active if a.name == "ShahoDeadLettersArriving"]
    assert [a.labels for a in dead] == [(("processor", "relay-linker"),
                                         ("reason", "undecodable"))]
    still = alerting.evaluate(facts("OK", 0.0), 1301.0)
    assert [(a.name, a.state, a.since) for a in still] == [
        ("ShahoDeadLettersArriving", "firing", 1000.0)]
    rates.clear()
    assert alerting.evaluate(facts("OK", 0.0), 1302.0) == ()
    again = alerting.evaluate(facts("STOP", 0.0), 1303.0)
    assert [(a.name, a.state) for a in again] == [("ShahoConsumerGroupStalled", "pending")]


def _page(processor: str, reason: str, dead: int, seconds: list[float]) -> str:
    registry = CollectorRegistry()
    ins = Counter("shaho_records_in", "", ["processor"], registry=registry)
    letters = Counter("shaho_dead_letters", "", ["processor", "reason"], registry=registry)
    hist = Histogram("shaho_end_to_end_seconds", "", ["processor"], registry=registry,
                     buckets=(0.1, 1, 10))
    ins.labels(processor).inc(10)
    letters.labels(processor, reason).inc(dead)
    for s in seconds:
        hist.labels(processor).observe(s)
    return generate_latest(registry).decode()


def test_a_page_is_summed_under_bounded_labels_only():
    totals = summarise(_page("relay-linker", "undecodable", 2, [0.05, 0.5, 5]))
    assert totals.records_in == {"relay-linker": 10.0}
    assert totals.dead_letters == {("relay-linker", "undecodable"): 2.0}
    assert totals.end_to_end["relay-linker"][math.inf] == 3.0
    odd = summarise(_page("06130012-someone", "Name: 山田 太郎", 1, []))
    assert odd.records_in == {"other": 10.0}
    assert odd.dead_letters == {("other", "other"): 1.0}


@given(st.text(max_size=400))
def test_any_page_is_summed_or_refused_as_unreadable(text: str):
    try:
        totals = summarise(text)
    except Unreadable:
        return
    labels = set(totals.records_in) | {p for p, _ in totals.dead_letters}
    assert labels <= {"relay-linker", "outbox-publisher", "relay-exchange", "notifications",
                      "relay-clock", "insurer-worker", "reconciliation", "other"}
    _all_finite(totals)


def _all_finite(totals: Totals) -> None:
    values = [*totals.records_in.values(), *totals.records_out.values(),
              *totals.dead_letters.values(), *totals.refusals.values(),
              *totals.pending_deadlines.values(),
              *(c for b in totals.end_to_end.values() for c in b.values())]
    assert all(math.isfinite(v) for v in values)


@given(st.sampled_from(["shaho_records_in_total", "shaho_dead_letters_total",
                        "shaho_pending_deadlines", "shaho_end_to_end_seconds_bucket"]),
       st.sampled_from(["+Inf", "-Inf", "NaN", "1e309", "1e300", "-1"]),
       st.integers(min_value=1, max_value=3))
def test_a_sample_that_is_no_plausible_count_makes_the_page_unreadable(name: str, value: str,
                                                                     copies: int):
    labels = 'processor="relay-linker",reason="undecodable",le="+Inf"'
    text = "".join(f'{name}{{{labels}}} {value}\n' for _ in range(copies))
    try:
        totals = summarise(text)
    except Unreadable:
        return
    _all_finite(totals)
    raise AssertionError(f"{value} taken as a count")


def test_quantiles_interpolate_within_buckets_as_histogram_quantile_does():
    buckets = {0.1: 10.0, 1.0: 20.0, 10.0: 20.0, math.inf: 20.0}
    assert quantile(0.5, buckets) == 0.1
    assert math.isclose(quantile(0.75, buckets) or 0, 0.55)
    assert quantile(0.99, {1.0: 0.0, math.inf: 4.0}) == 1.0, "in +Inf: the highest bound"
    assert quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert quantile(0.5, {1.0: 3.0}) is None, "no +Inf bucket: not a histogram"


def test_rates_and_latency_over_the_range_survive_a_counter_reset(tmp_path: Path):
    now = [100.0]
    scrapes = Scrapes(tmp_path, "", clock=lambda: now[0], keep=3)

    def add(at: float, count: float, fast: float) -> None:
        now[0] = at
        scrapes.history.append((at, Totals(records_in={"relay-linker": count},
                                           end_to_end={"relay-linker": {
                                               0.1: fast, 1.0: fast + 1, math.inf: fast + 1}})))
        while len(scrapes.history) > scrapes.keep:
            scrapes.history.popleft()

    add(100.0, 50.0, 0.0)
    add(110.0, 150.0, 99.0)
    assert scrapes.rate("records_in", 300) == {"relay-linker": 10.0}
    assert scrapes.latency(300)["relay-linker"]["p50"] is not None
    assert scrapes.latency(300)["relay-linker"]["p50"] <= 0.1
    add(120.0, 30.0, 99.0)  # the processor restarted: its counter began again
    assert scrapes.rate("records_in", 15) == {"relay-linker": 3.0}
    add(130.0, 40.0, 99.0)
    assert len(scrapes.history) == 3, "bounded"
    assert scrapes.as_json()["throughput"]["in_per_second"] == [3.0, 1.0]


def test_the_history_is_bounded_and_aligned_per_group():
    board = Dashboard(Rules(window=3, stop_after=10), 1.0, RELAY, ROLES, keep=3)
    board.record(Evaluation((_group("a", Status.OK, 0, 0.0),), 1.0))
    board.record(Evaluation((_group("a", Status.STALL, 4, 86_400.0),
                             _group("b", Status.OK, 0, 0.0)), 2.0))
    for at in (3.0, 4.0):
        board.record(Evaluation((_group("b", Status.STOP, 2, 9.0),), at))
    series = board.series()
    assert series["at"] == [2.0, 3.0, 4.0]
    assert series["groups"]["a"] == {"lag_records": [4, None, None],
                                     "lag_seconds": [86_400.0, None, None],
                                     "status": ["STALL", None, None]}
    assert series["groups"]["b"]["status"] == ["OK", "STOP", "STOP"]
    api = board.as_json()
    assert api["summary"]["worst"] == "STOP" and api["summary"]["by_status"]["STOP"] == 1
    assert api["alerts"]["active"][0]["labels"] == {"group": "other", "status": "STOP"}


class _Monitor:
    rules = Rules(window=3, stop_after=10)


async def _serving(library: Path) -> TestClient:
    board = Dashboard(Rules(window=3, stop_after=10), 1.0, RELAY, ROLES, library=library)
    board.record(Evaluation((_group("a", Status.REWIND, 1, 5.0),), 1.0))
    service = Service(_Monitor(), Metrics(RELAY, ROLES), dashboard=board)  # type: ignore[arg-type]
    client = TestClient(TestServer(service.app()))
    await client.start_server()
    return client


async def test_a_missing_chart_library_is_an_error_in_the_api_and_the_vendor_files(
    tmp_path: Path
):
    client = await _serving(tmp_path / "nowhere")
    try:
        api = await (await client.get("/api/dashboard")).json()
        assert api["chart_library"]["ok"] is False
        assert "chart library is missing" in api["chart_library"]["error"]
        missing = await client.get("/vendor/uPlot.iife.min.js")
        assert missing.status == 503 and "bin/shaho" in await missing.text()
        page = await client.get("/")
        assert page.status == 200 and "/vendor/uPlot.iife.min.js" in await page.text()
        assert (await client.get("/static/dashboard.js")).status == 200
        assert (await client.get("/static/dashboard.html")).status == 404
        assert (await client.get("/static/..%2Fdashboard.py")).status == 404
        assert (await client.get("/vendor/package.json")).status == 404
    finally:
        await client.close()


async def test_the_chart_library_is_served_when_installed(tmp_path: Path):
    for name in CHART_FILES:
        (tmp_path / name).write_text(f"/* {name} */")
    client = await _serving(tmp_path)
    try:
        api = await (await client.get("/api/dashboard")).json()
        assert api["chart_library"] == {"ok": True, "path": "/vendor/uPlot.iife.min.js",
                                        "error": None}
        served = await client.get("/vendor/uPlot.iife.min.js")
        assert served.status == 200 and "uPlot.iife.min.js" in await served.text()
        assert api["groups"][0]["status"] == "REWIND"
    finally:
        await client.close()


class _Broker:
    """A monitor whose polls answer, fail or hang as told."""

    rules = Rules(window=3, stop_after=10)

    def __init__(self) -> None:
        self.mode, self.at = "answer", 100.0

    async def poll(self) -> Evaluation:
        if self.mode == "fail":
            raise ConnectionError("broker at 127.0.0.1:1 refused")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        self.at += 1
        return Evaluation((_group("relay-linker", Status.OK, 0, 0.0),), self.at)


async def test_a_broker_that_fails_or_goes_silent_makes_the_evaluation_stale_not_current(
    monkeypatch
):
    from lag_monitor import serving

    monkeypatch.setattr(serving, "POLL_TIMEOUT", 0.05)
    broker = _Broker()
    board = Dashboard(Rules(window=3, stop_after=10), 0.01, RELAY, ROLES)
    service = Service(broker, Metrics(RELAY, ROLES), 0.01, dashboard=board)  # type: ignore[arg-type]
    client = TestClient(TestServer(service.app()))
    await client.start_server()
    try:
        await service.poll_or_fail()
        lag = await (await client.get("/api/lag")).json()
        assert lag["stale"] is False and lag["error"] is None
        text = service.metrics.text().decode()
        assert 'shaho_group_status{group="relay-linker",status="OK"} 1.0' in text
        assert "shaho_lag_monitor_last_success_timestamp_seconds 101.0" in text

        for mode, said in (("fail", "ConnectionError"), ("hang", "no answer")):
            broker.mode = mode
            await service.poll_or_fail()
            lag = await (await client.get("/api/lag")).json()
            assert lag["stale"] is True and said in lag["error"], mode
            assert lag["groups"][0]["group"] == "relay-linker"  # the last one, said to be old
            board_api = await (await client.get("/api/dashboard")).json()
            assert board_api["stale"] is True and said in board_api["monitor_error"]
            text = service.metrics.text().decode()
            assert "shaho_group_status{" not in text and "shaho_lag_records{" not in text
            assert "shaho_lag_monitor_last_success_timestamp_seconds 101.0" in text

        broker.mode = "answer"
        await service.poll_or_fail()
        lag = await (await client.get("/api/lag")).json()
        assert lag["stale"] is False and lag["error"] is None
        assert (await (await client.get("/api/dashboard")).json())["monitor_error"] is None
        assert "shaho_lag_monitor_last_success_timestamp_seconds 102.0" in \
            service.metrics.text().decode()
    finally:
        await client.close()
        await service.close()
