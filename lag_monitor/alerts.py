"""The alerting rules of `infra/prometheus/alerts.yaml`, evaluated by the lag monitor itself so
its dashboard shows the alerts Prometheus would raise from the same numbers. Pure: the
standard library and PyYAML; the thresholds, `for:` durations, ranges and severities are read
from the file, never written here a second time.

The monitor understands four shapes of expression, each recognised by the metric it names,
and evaluates it over what it has itself (the lag by the bounded metric label `group` of
`status.by_kind`, the processors' counters by `processor` and `reason`):

- `max by (group) (shaho_lag_seconds) <op> N`: a group's longest wait;
- `max by (group, status) (shaho_group_status{status=~"A|B"}) == 1`: a group whose status is
  one of those the regex lists;
- `max by (group) (shaho_lag_retention_used_ratio) <op> N`: the most retention a group used;
- `sum by (processor, reason) (rate(shaho_dead_letters_total[R])) <op> N`: dead letters per
  second over the range R.

N may be a number or a product/quotient of numbers (`1 / 60`). A rule of another shape is
listed with the reason it is not evaluated. An alert is *pending* from the first evaluation
its condition holds and *firing* once it has held for the rule's `for:` without a break, as
Prometheus does.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne}
_TAIL = re.compile(r"(>=|<=|==|!=|>|<)\s*([0-9.eE+\-\s*/()]+)$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_STATUSES = re.compile(r'status\s*=~\s*"([A-Z|]+)"')
_RANGE = re.compile(r"shaho_dead_letters_total\[([0-9a-z.]+)\]")

LAG_SECONDS, GROUP_STATUS, RETENTION, DEAD_LETTERS = (
    "lag_seconds", "group_status", "retention_used", "dead_letters")


def duration(text: str) -> float:
    """A Prometheus duration (`5m`, `1h30m`, `90s`) in seconds."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _threshold(text: str) -> float:
    """A number, or numbers joined by `*` and `/` (`1 / 60`)."""
    tokens = re.findall(r"[0-9.eE+\-]+|[*/]", text.replace("(", "").replace(")", ""))
    if not tokens or len(tokens) % 2 == 0:
        raise ValueError(f"not a threshold: {text!r}")
    value = float(tokens[0])
    for op, number in zip(tokens[1::2], tokens[2::2], strict=True):
        value = value * float(number) if op == "*" else value / float(number)
    return value


@dataclass(frozen=True)
class Rule:
    """One alerting rule as the monitor evaluates it (`kind` None: not evaluated, `error`
    says why)."""

    name: str
    expr: str
    for_seconds: float
    severity: str
    summary: str
    kind: str | None = None
    compare: str = ">"
    threshold: float = 0.0
    statuses: frozenset[str] = frozenset()
    range_seconds: float = 0.0
    error: str | None = None

    def holds(self, value: float) -> bool:
        return _COMPARE[self.compare](value, self.threshold)

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "expr": self.expr, "for_seconds": self.for_seconds,
                "severity": self.severity, "evaluated": self.kind is not None,
                "error": self.error}


def _understood(name: str, expr: str, for_seconds: float, severity: str,
                summary: str) -> Rule:
    base = Rule(name, expr, for_seconds, severity, summary)
    flat = " ".join(expr.split())
    tail = _TAIL.search(flat)
    if tail is None:
        return _refused(base, "no comparison with a number at its end")
    compare, threshold = tail.group(1), _threshold(tail.group(2))
    if "shaho_group_status" in flat:
        listed = _STATUSES.search(flat)
        if listed is None or compare != "==" or threshold != 1:
            return _refused(base, "a status rule is read as status=~\"A|B\" ... == 1")
        return _with(base, GROUP_STATUS, compare, threshold,
                     statuses=frozenset(listed.group(1).split("|")))
    if "shaho_lag_seconds" in flat:
        return _with(base, LAG_SECONDS, compare, threshold)
    if "shaho_lag_retention_used_ratio" in flat:
        return _with(base, RETENTION, compare, threshold)
    if "shaho_dead_letters_total" in flat:
        window = _RANGE.search(flat)
        if window is None or "rate(" not in flat:
            return _refused(base, "dead letters are read as rate(shaho_dead_letters_total[R])")
        return _with(base, DEAD_LETTERS, compare, threshold,
                     range_seconds=duration(window.group(1)))
    return _refused(base, "a metric the lag monitor does not have")


def _with(base: Rule, kind: str, compare: str, threshold: float, **more: object) -> Rule:
    return Rule(base.name, base.expr, base.for_seconds, base.severity, base.summary, kind,
                compare, threshold, **more)  # type: ignore[arg-type]


def _refused(base: Rule, why: str) -> Rule:
    return Rule(base.name, base.expr, base.for_seconds, base.severity, base.summary,
                error=f"not evaluated by the lag monitor: {why}")


def parse_rules(text: str) -> tuple[Rule, ...]:
    """The alerting rules of a Prometheus rules file (recording rules skipped)."""
    document = yaml.safe_load(text) or {}
    rules = []
    for group in document.get("groups") or []:
        for entry in group.get("rules") or []:
            if "alert" not in entry:
                continue
            name, expr = str(entry["alert"]), str(entry.get("expr", ""))
            severity = str((entry.get("labels") or {}).get("severity", ""))
            summary = str((entry.get("annotations") or {}).get("summary", ""))
            try:
                rules.append(_understood(name, expr, duration(entry.get("for", "0s")),
                                         severity, summary))
            except ValueError as odd:
                rules.append(_refused(Rule(name, expr, 0.0, severity, summary), str(odd)))
    return tuple(rules)


def load_rules(path: Path) -> tuple[tuple[Rule, ...], str | None]:
    """The rules of `path`, or none and why."""
    try:
        return parse_rules(path.read_text(encoding="utf-8")), None
    except (OSError, yaml.YAMLError, AttributeError, TypeError) as failed:
        return (), f"cannot read the alerting rules {path.name}: {type(failed).__name__}"


@dataclass(frozen=True)
class Facts:
    """What the rules are evaluated over: per bounded group label its longest wait, status
    and retention used; per (processor, reason) dead letters per second over a range."""

    lag_seconds: Mapping[str, float | None]
    status: Mapping[str, str]
    retention_used: Mapping[str, float | None]
    dead_letter_rate: Callable[[float], Mapping[tuple[str, str], float]]


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    labels: tuple[tuple[str, str], ...]
    value: float
    state: str
    since: float
    summary: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "severity": self.severity, "labels": dict(self.labels),
                "value": self.value, "state": self.state, "since": self.since,
                "summary": self.summary}


def _conditions(rule: Rule, facts: Facts) -> Iterable[tuple[tuple[tuple[str, str], ...],
                                                           float]]:
    """The label sets for which `rule`'s condition holds now, with the value."""
    if rule.kind == LAG_SECONDS or rule.kind == RETENTION:
        values = facts.lag_seconds if rule.kind == LAG_SECONDS else facts.retention_used
        for group, value in sorted(values.items()):
            if value is not None and rule.holds(value):
                yield (("group", group),), value
    elif rule.kind == GROUP_STATUS:
        for group, status in sorted(facts.status.items()):
            if status in rule.statuses:
                yield (("group", group), ("status", status)), 1.0
    elif rule.kind == DEAD_LETTERS:
        for (processor, reason), value in sorted(facts.dead_letter_rate(
                rule.range_seconds).items()):
            if rule.holds(value):
                yield (("processor", processor), ("reason", reason)), value


def _fill(summary: str, labels: Mapping[str, str]) -> str:
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""),
                  summary)


@dataclass
class Alerting:
    """The rules and, per (rule, labels), since when its condition has held."""

    rules: tuple[Rule, ...]
    error: str | None = None
    since: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    active: tuple[Alert, ...] = ()

    def evaluate(self, facts: Facts, now: float) -> tuple[Alert, ...]:
        holding = {}
        alerts = []
        for rule in self.rules:
            if rule.kind is None:
                continue
            for labels, value in _conditions(rule, facts):
                key = (rule.name, labels)
                began = self.since.get(key, now)
                holding[key] = began
                state = "firing" if now - began >= rule.for_seconds else "pending"
                alerts.append(Alert(rule.name, rule.severity, labels, value, state, began,
                                    _fill(rule.summary, dict(labels))))
        self.since = holding
        self.active = tuple(alerts)
        return self.active

    def as_json(self, source: str) -> dict[str, object]:
        return {"source": source, "error": self.error,
                "rules": [r.as_json() for r in self.rules],
                "active": [a.as_json() for a in self.active]}
