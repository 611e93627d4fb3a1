"""The lag monitor's dashboard in a real browser (Debian's chromium driven by Selenium,
headless) over a real monitor on the real broker: the page is loaded once per module and never
reloaded; consumer groups are made to stop, stall, rewind and catch up, and the same page
shows each state in its DOM as it polls the monitor's API. Last, in a tab of its own, a
monitor without its chart library shows the page's error banner.

A missing chromium or chromedriver fails these tests: `bin/shaho` installs both.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from groundfloor.config import StackConfig
from shaho.bootstrap import lag_port_file
from tests.integration.relay_env import RelayEnv, drop_env, make_env
from tests.integration.test_lag_monitor import Consumer, _produce

pytestmark = pytest.mark.integration

PATIENCE = 90.0  # seconds a state may take to show: a bound against hanging, not a timing
INTERVAL, WINDOW, STOP_AFTER = "0.5", "6", "12"
"""The monitor's poll, window and stop window: a still offset is STALL after the window's
three seconds and STOP after twelve, so each state shows for seconds."""


@pytest.fixture(scope="module")
async def env(stack: StackConfig) -> AsyncIterator[RelayEnv]:
    """One namespace for the module's groups and its one monitor."""
    made = await make_env(stack, f"dash{int(time.time() * 1000) % 10**8}")
    yield made
    await drop_env(made)


def _port_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


@pytest.fixture(scope="module")
def monitor(env: RelayEnv) -> Iterator[str]:
    """`shaho run lag-monitor` in the namespace; its dashboard's URL from `shaho dashboard`."""
    port_file = lag_port_file(env.cfg)
    proc = subprocess.Popen([sys.executable, "-m", "shaho.cli", "run", "lag-monitor",
                             "--interval", INTERVAL, "--window", WINDOW,
                             "--stop-after", STOP_AFTER],
                            env=env.cfg.child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + PATIENCE
        while _port_in(port_file) is None:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the monitor wrote no port"
            time.sleep(0.2)
        shown = subprocess.run([sys.executable, "-m", "shaho.cli", "dashboard"],
                               env=env.cfg.child_env(), capture_output=True, text=True,
                               timeout=120, check=False)
        assert shown.returncode == 0, shown.stderr
        url = shown.stdout.strip()
        assert url == f"http://127.0.0.1:{_port_in(port_file)}/"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def page(monitor: str):
    """Headless chromium showing the dashboard: loaded here, once, never again."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path, browser_path = shutil.which("chromedriver"), shutil.which("chromium")
    if driver_path is None or browser_path is None:
        pytest.fail("chromium and chromium-driver are needed (bin/shaho installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1366,768"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(monitor)
        yield driver
    finally:
        driver.quit()


def _shown(driver, group: str) -> str | None:
    """The status the page shows for `group` (None while it shows no row for it)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        cells = driver.find_elements(
            "css selector", f'#groups tr[data-group="{group}"] [data-role="status"]')
        return cells[0].text if cells else None
    except StaleElementReferenceException:  # redrawn between finding and reading
        return None


async def _page_until(driver, group: str, wanted: str, never: str | None = None) -> None:
    deadline = time.monotonic() + PATIENCE
    seen: list[str | None] = []
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(_shown, driver, group)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return
        assert never is None or status != never, seen
        await asyncio.sleep(0.2)
    raise AssertionError(f"the page never showed {group} {wanted}; it showed {seen}")


def _errors(driver) -> str:
    return driver.find_element("id", "errors").text


async def test_the_page_shows_stop_for_a_consumer_that_stopped_and_ok_after_its_restart(
    env: RelayEnv, page
):
    group = f"dash-stop-{env.prefix.strip('.')}"
    await _produce(env, 5)
    async with Consumer(env, group) as consumer:
        await consumer.consume()
    await _page_until(page, group, "OK")
    await _produce(env, 5)  # the consumer is gone; producing goes on
    await _page_until(page, group, "STOP")
    async with Consumer(env, group) as consumer:  # restarted: consumes to the end again
        await consumer.consume()
        await _page_until(page, group, "OK")
    assert _errors(page) == ""


async def test_the_page_shows_stall_for_a_consumer_committing_the_same_offset(
    env: RelayEnv, page
):
    group = f"dash-stall-{env.prefix.strip('.')}"
    await _produce(env, 3)
    async with Consumer(env, group) as consumer:
        stuck = await consumer.consume(until=1)
        deadline = time.monotonic() + PATIENCE
        while await asyncio.to_thread(_shown, page, group) != "STALL":
            assert time.monotonic() < deadline, "the page never showed STALL"
            assert await asyncio.to_thread(_shown, page, group) != "STOP"
            await consumer.commit(stuck)  # alive, committing the same offset again
            await _produce(env, 1)  # while the lag grows
            await asyncio.sleep(0.3)
        chips = page.find_elements(
            "css selector", f'#groups tr[data-group="{group}"] .chip[data-status="STALL"]')
        assert len(chips) == 1, "its one partition shown STALL too"


async def test_the_page_shows_rewind_then_ok_once_caught_up(env: RelayEnv, page):
    group = f"dash-rewind-{env.prefix.strip('.')}"
    await _produce(env, 4)
    async with Consumer(env, group) as consumer:
        end = await consumer.consume()
        await _page_until(page, group, "OK")
        await consumer.commit(end - 3)  # sought back and committed a lower offset
        await _page_until(page, group, "REWIND")
    async with Consumer(env, group) as consumer:
        await consumer.consume()
        await _page_until(page, group, "OK", never="STOP")


def _api(url: str) -> dict:
    with urllib.request.urlopen(f"{url}api/dashboard", timeout=10) as answer:
        return json.loads(answer.read())


async def test_the_page_draws_its_charts_summary_and_alerts_from_the_api(
    env: RelayEnv, page, monitor: str
):
    group = f"dash-chart-{env.prefix.strip('.')}"
    await _produce(env, 2)
    async with Consumer(env, group) as consumer:
        await consumer.consume(until=1)
    await _page_until(page, group, "STALL")
    api = await asyncio.to_thread(_api, monitor)
    assert api["chart_library"] == {"ok": True, "path": "/vendor/uPlot.iife.min.js",
                                    "error": None}
    assert group in api["history"]["groups"]
    assert len(api["history"]["at"]) == len(api["history"]["groups"][group]["lag_records"])
    assert {r["name"] for r in api["alerts"]["rules"] if r["evaluated"]} == {
        "ShahoConsumerLagHigh", "ShahoConsumerGroupStalled", "ShahoLagApproachingRetention",
        "ShahoDeadLettersArriving"}
    # the test groups count under the bounded label `other`; their records are a day old
    assert any(a["name"] == "ShahoConsumerLagHigh" and a["labels"] == {"group": "other"}
               for a in api["alerts"]["active"])
    assert page.find_elements("css selector", '#alerts li[data-alert="ShahoConsumerLagHigh"]')
    for chart in ("chart-records", "chart-seconds", "chart-throughput"):
        assert page.find_elements("css selector", f"#{chart} .uplot canvas"), chart
    legend = page.find_element("id", "chart-records").text
    assert group in legend, "each group a series of the chart"
    summary = page.find_element("id", "summary").text
    assert f"{api['summary']['groups']} consumer groups" in summary
    assert page.find_element("id", "worst").get_attribute("data-status") in (
        "STALL", "STOP", "REWIND")
    assert _errors(page) == ""


async def test_a_monitor_without_its_chart_library_says_so_on_the_page(
    env: RelayEnv, page, tmp_path: Path
):
    from aiohttp.test_utils import TestServer

    from lag_monitor.dashboard import Dashboard
    from lag_monitor.monitor import Evaluation
    from lag_monitor.serving import Service
    from lag_monitor.status import GroupLag, PartitionLag, Rules, Status
    from shaho.bootstrap import lag_metrics

    metrics = lag_metrics()
    board = Dashboard(Rules(window=3, stop_after=10), 1.0, metrics.relay_groups,
                      metrics.worker_roles, library=tmp_path / "node_modules-missing")
    board.record(Evaluation((GroupLag("seen", (PartitionLag("t", 0, 1, 2, 3.0, None,
                                                            Status.STALL),)),), time.time()))

    class _Monitor:
        rules = board.rules

    server = TestServer(Service(_Monitor(), metrics, dashboard=board).app(),  # type: ignore[arg-type]
                        host="127.0.0.1")
    await server.start_server()
    first = page.current_window_handle
    try:
        await asyncio.to_thread(page.switch_to.new_window, "tab")
        await asyncio.to_thread(page.get, str(server.make_url("/")))
        deadline = time.monotonic() + PATIENCE
        while "chart library" not in await asyncio.to_thread(_errors, page):
            assert time.monotonic() < deadline, "no error shown for the missing library"
            await asyncio.sleep(0.2)
        banner = await asyncio.to_thread(_errors, page)
        assert "did not load from /vendor/uPlot.iife.min.js" in banner
        assert "the chart library is missing" in banner and "bin/shaho" in banner
        assert await asyncio.to_thread(_shown, page, "seen") == "STALL", "the tables go on"
    finally:
        await asyncio.to_thread(page.close)
        await asyncio.to_thread(page.switch_to.window, first)
        await server.close()
