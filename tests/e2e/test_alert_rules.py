"""The shipped alerting rules load in Prometheus (`promtool check rules`) and each alert fires
and stays quiet where it should (`promtool test rules`). promtool is installed when missing; a
promtool that cannot be had fails these tests, it never skips them."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from groundfloor.metrics import REGISTRY
from infra.promtool import RULES, RULES_TESTS, ensure_promtool

pytestmark = pytest.mark.e2e

ALERTS = {"ShahoConsumerLagHigh", "ShahoConsumerGroupStalled", "ShahoLagApproachingRetention",
          "ShahoDeadLettersArriving"}
LAG_MONITOR_METRICS = {"shaho_lag_seconds", "shaho_group_status",
                       "shaho_lag_retention_used_ratio"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ensure_promtool()), *args], cwd=RULES.parent,
                          capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules():
    done = _promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_each_alert_fires_and_stays_quiet_as_its_rules_test_says():
    done = _promtool("test", "rules", RULES_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_tests_cover_every_alert_firing_and_not_firing():
    tests = yaml.safe_load(RULES_TESTS.read_text())["tests"]
    cases = [case for t in tests for case in t["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert firing == quiet == ALERTS


def test_the_rules_name_only_metrics_that_are_exported():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS
    named = {m for r in rules for m in re.findall(r"\bshaho_[a-z_]+", r["expr"])}
    exported = {f"{m.name}_total" if m.type == "counter" else m.name
                for m in REGISTRY.collect()}
    assert named - LAG_MONITOR_METRICS == {"shaho_dead_letters_total"} <= exported
