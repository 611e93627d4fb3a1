"""`shaho run lag-monitor`: the monitor polled every few seconds, its last evaluation served
as JSON (`GET /api/lag`) and as Prometheus metrics (`GET /metrics`) on one port of 127.0.0.1,
with the dashboard: its page (`GET /`, from `static/`), its API (`GET /api/dashboard`, see
`dashboard`) and the chart library's files (`GET /vendor/<file>`, from `node_modules/`).

Metric labels come from a bounded set (`status.metric_group`): the relay processors' groups by
name, the participants' worker groups by their kind only (the worst status, the summed lag,
the longest wait, the most retention used), anything else as `other`. The JSON API names
every group as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from lag_monitor.dashboard import CHART_FILES, STATIC, Dashboard, chart_library
from lag_monitor.monitor import Evaluation, LagMonitor
from lag_monitor.status import INTERVAL, SEVERITY, by_kind

log = logging.getLogger("shaho.lag_monitor")

HOST = "127.0.0.1"
POLL_TIMEOUT = 30.0
"""Seconds a poll may take (at least three intervals) before it counts as failed: a broker that
stops answering makes the monitor say so instead of serving its last evaluation as current."""
STATIC_FILES = frozenset({"dashboard.js", "dashboard.css"})
"""The page's own files served under /static/ (nothing else of the folder)."""


@dataclass
class Metrics:
    """The monitor's gauges in a registry of their own."""

    relay_groups: tuple[str, ...]
    worker_roles: tuple[str, ...]
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.records = Gauge("shaho_lag_records", "Records not yet consumed", ["group"],
                             registry=r)
        self.seconds = Gauge("shaho_lag_seconds",
                             "Age of the oldest unconsumed record in seconds", ["group"],
                             registry=r)
        self.retention = Gauge("shaho_lag_retention_used_ratio",
                               "Part of the topic's retention the oldest unconsumed record "
                               "has used", ["group"], registry=r)
        self.status = Gauge("shaho_group_status", "1 for the group's current status",
                            ["group", "status"], registry=r)
        self.last_success = Gauge("shaho_lag_monitor_last_success_timestamp_seconds",
                                  "When the monitor last read the broker's offsets (Unix time)",
                                  registry=r)

    def failed(self) -> None:
        """The last poll failed: the lag gauges are withdrawn rather than left saying what an
        older evaluation found (the last success's time stays)."""
        for gauge in (self.records, self.seconds, self.retention, self.status):
            gauge.clear()

    def update(self, evaluation: Evaluation) -> None:
        self.failed()
        self.last_success.set(evaluation.evaluated_at)
        for kind in by_kind(evaluation.groups, self.relay_groups, self.worker_roles):
            self.records.labels(kind.kind).set(kind.lag_records)
            if kind.lag_seconds is not None:
                self.seconds.labels(kind.kind).set(kind.lag_seconds)
            if kind.retention_used is not None:
                self.retention.labels(kind.kind).set(kind.retention_used)
            for status in SEVERITY:
                self.status.labels(kind.kind, status.value).set(int(status == kind.status))

    def text(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Service:
    """The polling loop and what it last found."""

    monitor: LagMonitor
    metrics: Metrics
    interval: float = INTERVAL
    latest: Evaluation | None = None
    dashboard: Dashboard | None = None
    failure: str | None = None
    """Why the last poll failed (None when it succeeded): the evaluation served is then stale."""
    _session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        if self.dashboard is None:
            self.dashboard = Dashboard(self.monitor.rules, self.interval,
                                       self.metrics.relay_groups, self.metrics.worker_roles)

    async def poll_once(self) -> Evaluation:
        self.latest = await self.monitor.poll()
        self.metrics.update(self.latest)
        assert self.dashboard is not None
        if self.dashboard.scrapes is not None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            try:
                await self.dashboard.scrapes.scrape(self._session)
            except Exception:  # the run folder unreadable: the lag is judged all the same
                log.exception("scraping the processors' metrics failed")
        self.dashboard.record(self.latest)
        return self.latest

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def poll_or_fail(self) -> None:
        """One poll within `POLL_TIMEOUT` (or three intervals); a failure is kept in `failure`
        and said in one line, the lag gauges withdrawn, and the next poll tried as usual."""
        try:
            await asyncio.wait_for(self.poll_once(), max(POLL_TIMEOUT, 3 * self.interval))
        except Exception as e:  # the broker unreachable or silent: say so, try again
            why = "no answer within the poll's time" if isinstance(e, TimeoutError) \
                else f"{type(e).__name__}: {e}"
            if self.failure is None:
                log.warning("lag poll failed (%s); the last evaluation is stale", why[:300])
            self.failure = why[:300]
            self.metrics.failed()
            if self.dashboard is not None:
                self.dashboard.failure = self.failure
        else:
            if self.failure is not None:
                log.info("lag poll works again")
            self.failure = None
            if self.dashboard is not None:
                self.dashboard.failure = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll_or_fail()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/lag", self._lag)
        app.router.add_get("/api/dashboard", self._dashboard)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/vendor/{name}", self._vendor)
        return app

    async def _dashboard(self, request: web.Request) -> web.Response:
        assert self.dashboard is not None
        return web.json_response(self.dashboard.as_json(),
                                 headers={"Cache-Control": "no-store"})

    async def _page(self, request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "dashboard.html",
                                headers={"Cache-Control": "no-store"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

    async def _vendor(self, request: web.Request) -> web.StreamResponse:
        """The chart library's files, or a 503 naming what is missing (the page shows it)."""
        assert self.dashboard is not None
        name = request.match_info["name"]
        if name not in CHART_FILES:
            raise web.HTTPNotFound()
        path = self.dashboard.library / name
        if not path.is_file():
            return web.Response(status=503, text=str(chart_library(self.dashboard.library)
                                                     ["error"]))
        return web.FileResponse(path, headers={"Content-Type": CHART_FILES[name]})

    async def _lag(self, request: web.Request) -> web.Response:
        if self.latest is None:
            return web.json_response({"error": self.failure or "no evaluation yet",
                                      "stale": True}, status=503)
        return web.json_response({**self.latest.as_json(), "stale": self.failure is not None,
                                  "error": self.failure, "now": time.time()})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.text(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(service: Service, stop: asyncio.Event, port: int = 0,
                port_file: Path | None = None) -> None:
    """Poll and serve on 127.0.0.1:`port` (0: any free port) until `stop`; the bound port is
    written to `port_file` while serving."""
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    await site.start()
    bound = _bound_port(runner)
    log.info("lag monitor serving on http://%s:%d/ (dashboard), /api/lag, /api/dashboard "
             "and /metrics", HOST, bound)
    if port_file is not None:
        await asyncio.to_thread(port_file.write_text, f"{bound}\n")
    try:
        await service.run(stop)
    finally:
        await service.close()
        if port_file is not None:
            await asyncio.to_thread(port_file.unlink, missing_ok=True)
        await runner.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])
