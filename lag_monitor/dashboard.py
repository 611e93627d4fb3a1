"""The dashboard's state on the monitor's side: a bounded history of the monitor's
evaluations (so a page opened late has its charts filled), the processors' scraped metrics,
the alerts evaluated from `infra/prometheus/alerts.yaml`, and `GET /api/dashboard`'s JSON
built from them (its fields: README, "Dashboard"). The page itself (`static/`) and the chart
library (uPlot, installed from npm into the git-ignored `node_modules/` by `bin/shaho`) are
served by `serving`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from groundfloor.config import REPO_ROOT
from lag_monitor.alerts import Alerting, Facts, load_rules
from lag_monitor.monitor import Evaluation
from lag_monitor.scraping import Scrapes
from lag_monitor.status import SEVERITY, Rules, Status, by_kind, worst

HISTORY = 720
"""Evaluations the history keeps (an hour at the default five-second interval)."""
STATIC = Path(__file__).resolve().parent / "static"
ALERT_RULES = REPO_ROOT / "infra" / "prometheus" / "alerts.yaml"
CHART_LIBRARY = REPO_ROOT / "node_modules" / "uplot" / "dist"
CHART_FILES = {"uPlot.iife.min.js": "application/javascript", "uPlot.min.css": "text/css"}
"""The library's files the page loads from `/vendor/`."""


def chart_library(folder: Path = CHART_LIBRARY) -> dict[str, object]:
    """Whether the chart library's files are where the monitor serves them from."""
    missing = sorted(name for name in CHART_FILES if not (folder / name).is_file())
    if not missing:
        return {"ok": True, "path": "/vendor/uPlot.iife.min.js", "error": None}
    return {"ok": False, "path": "/vendor/uPlot.iife.min.js",
            "error": f"the chart library is missing ({', '.join(missing)} not in "
                     f"{folder}); run bin/shaho once to install it (npm ci)"}


@dataclass
class Dashboard:
    """What the dashboard shows, updated at each poll of the monitor."""

    rules: Rules
    interval: float
    relay_groups: tuple[str, ...]
    worker_roles: tuple[str, ...]
    scrapes: Scrapes | None = None
    alerting: Alerting = field(default_factory=lambda: Alerting(*_rules_of(ALERT_RULES)))
    alert_source: str = "infra/prometheus/alerts.yaml"
    library: Path = CHART_LIBRARY
    keep: int = HISTORY
    history: deque[Evaluation] = field(default_factory=deque)
    failure: str | None = None
    """Why the monitor's last poll failed (None when it worked): the figures shown are stale."""

    def record(self, evaluation: Evaluation) -> None:
        """One evaluation into the history and the alerts evaluated on it."""
        self.history.append(evaluation)
        while len(self.history) > self.keep:
            self.history.popleft()
        kinds = by_kind(evaluation.groups, self.relay_groups, self.worker_roles)
        facts = Facts(
            lag_seconds={k.kind: k.lag_seconds for k in kinds},
            status={k.kind: k.status.value for k in kinds},
            retention_used={k.kind: k.retention_used for k in kinds},
            dead_letter_rate=lambda seconds: (self.scrapes.rate("dead_letters", seconds)
                                              if self.scrapes is not None else {}))
        self.alerting.evaluate(facts, evaluation.evaluated_at)

    def series(self) -> dict[str, object]:
        """The history as aligned series: one timestamp per evaluation, per group its lag in
        records, in seconds and its status (null where the group was not seen)."""
        at = [e.evaluated_at for e in self.history]
        names = sorted({g.group for e in self.history for g in e.groups})
        groups: dict[str, dict[str, list[object]]] = {
            n: {"lag_records": [], "lag_seconds": [], "status": []} for n in names}
        for evaluation in self.history:
            seen = {g.group: g for g in evaluation.groups}
            for name in names:
                g = seen.get(name)
                groups[name]["lag_records"].append(None if g is None else g.lag_records)
                groups[name]["lag_seconds"].append(None if g is None else g.lag_seconds)
                groups[name]["status"].append(None if g is None else g.status.value)
        return {"at": at, "groups": groups}

    def as_json(self) -> dict[str, object]:
        latest = self.history[-1] if self.history else None
        groups = latest.groups if latest is not None else ()
        counts = {s.value: 0 for s in SEVERITY}
        for g in groups:
            counts[g.status.value] += 1
        active = self.alerting.active
        return {
            "evaluated_at": latest.evaluated_at if latest is not None else None,
            "stale": self.failure is not None or latest is None,
            "monitor_error": self.failure,
            "settings": {"interval": self.interval, "window": self.rules.window,
                         "stop_after": self.rules.stop_after, "history": self.keep},
            "summary": {
                "groups": len(groups), "by_status": counts,
                "worst": worst(g.status for g in groups).value if groups else Status.OK.value,
                "lag_records": sum(g.lag_records for g in groups),
                "alerts_firing": sum(a.state == "firing" for a in active),
                "alerts_pending": sum(a.state == "pending" for a in active)},
            "groups": [g.as_json() for g in groups],
            "history": self.series(),
            "processors": (self.scrapes.as_json() if self.scrapes is not None
                           else {"scraped_at": None, "endpoints": [], "processors": [],
                                 "dead_letters": [],
                                 "throughput": {"at": [], "in_per_second": [],
                                                "out_per_second": []}}),
            "alerts": self.alerting.as_json(self.alert_source),
            "chart_library": chart_library(self.library),
        }


def _rules_of(path: Path) -> tuple[object, ...]:
    rules, error = load_rules(path)
    return rules, error
