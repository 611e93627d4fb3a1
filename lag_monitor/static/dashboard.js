// The lag monitor's dashboard: polls /api/dashboard every POLL_MS and redraws in place (the
// page is never reloaded). Charts are drawn with uPlot, served by the monitor from /vendor/.
"use strict";

const POLL_MS = 1000;
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24",
                 "#6e7781", "#bf3989", "#2da44e", "#953800", "#0550ae"];
const charts = {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function seconds(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1) return (v * 1000).toFixed(0) + " ms";
  if (v < 60) return v.toFixed(1) + " s";
  if (v < 3600) return (v / 60).toFixed(1) + " min";
  if (v < 86400) return (v / 3600).toFixed(1) + " h";
  return (v / 86400).toFixed(1) + " d";
}

function rate(v) { return v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 2 : 0); }

function badge(status, cls) {
  return el("span", {class: cls || "badge", "data-status": status}, status);
}

function showErrors(messages) {
  const box = document.getElementById("errors");
  box.replaceChildren(...messages.map((m) => el("div", {}, m)));
}

function chart(id, title, seriesNames, data, valueFormat) {
  const holder = document.getElementById(id);
  const key = seriesNames.join("\u0000");
  const existing = charts[id];
  if (existing && existing.key === key) {
    existing.plot.setData(data);
    return;
  }
  if (existing) existing.plot.destroy();
  holder.replaceChildren();
  const opts = {
    width: holder.clientWidth || 600,
    height: Number(holder.dataset.height) || 160,
    legend: {show: true, live: false},
    cursor: {drag: {x: false, y: false}},
    scales: {x: {time: true}},
    axes: [{}, {values: (u, vals) => vals.map(valueFormat), size: 60}],
    series: [{}].concat(seriesNames.map((name, i) => ({
      label: name, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
      value: (u, v) => valueFormat(v)}))),
  };
  charts[id] = {key, plot: new uPlot(opts, data, holder)};
}

function drawCharts(api) {
  const h = api.history;
  const names = Object.keys(h.groups);
  chart("chart-records", "records", names,
        [h.at].concat(names.map((n) => h.groups[n].lag_records)),
        (v) => v === null ? "–" : String(Math.round(v)));
  chart("chart-seconds", "seconds", names,
        [h.at].concat(names.map((n) => h.groups[n].lag_seconds)), seconds);
  const t = api.processors.throughput;
  chart("chart-throughput", "throughput", ["in", "out"],
        [t.at, t.in_per_second, t.out_per_second], rate);
}

function drawSummary(api) {
  const s = api.summary;
  const worst = document.getElementById("worst");
  worst.textContent = s.worst;
  worst.dataset.status = s.worst;
  const parts = ["OK", "WARN", "STALL", "REWIND", "STOP"]
    .filter((k) => s.by_status[k] > 0).map((k) => `${s.by_status[k]} ${k}`);
  document.getElementById("summary").textContent =
    `${s.groups} consumer groups: ${parts.join(" · ") || "none yet"} — ` +
    `${s.lag_records} records behind — alerts: ${s.alerts_firing} firing, ` +
    `${s.alerts_pending} pending`;
  document.getElementById("updated").textContent = api.evaluated_at === null ? "" :
    "evaluated " + new Date(api.evaluated_at * 1000).toLocaleTimeString() +
    ` · every ${api.settings.interval} s, window ${api.settings.window}`;
}

const FEW = 4;  // up to this many partitions, each its own chip

function partitionChip(p) {
  const short = p.topic.split(".").slice(-2, -1)[0] || p.topic;
  const chip = badge(`${short}[${p.partition}] ${p.status}`, "chip");
  chip.dataset.status = p.status;
  chip.setAttribute("data-partition", `${p.topic}:${p.partition}`);
  chip.title = `${p.topic}[${p.partition}] committed ${p.committed}, end ${p.log_end}, ` +
    `lag ${p.lag_records}, waited ${seconds(p.lag_seconds)}`;
  return chip;
}

// Each partition's status: a chip each when there are few; otherwise one chip per status
// for the partitions in the group's status and a chip each for the others.
function partitionChips(g) {
  if (g.partitions.length <= FEW) return g.partitions.map(partitionChip);
  const chips = [];
  for (const status of ["STOP", "REWIND", "STALL", "WARN", "OK"]) {
    const these = g.partitions.filter((p) => p.status === status);
    if (these.length === 0) continue;
    if (status !== g.status && these.length <= FEW) {
      chips.push(...these.map(partitionChip));
      continue;
    }
    const chip = badge(`${these.length} partitions ${status}`, "chip");
    chip.dataset.status = status;
    chip.title = these.map((p) => `${p.topic}[${p.partition}] lag ${p.lag_records}`).join("\n");
    chips.push(chip);
  }
  return chips;
}

function drawGroups(api) {
  const rows = api.groups.map((g) => el("tr", {"data-group": g.group},
    el("td", {class: "group"}, g.group),
    el("td", {}, (() => { const b = badge(g.status); b.setAttribute("data-role", "status"); return b; })()),
    el("td", {class: "n"}, g.lag_records),
    el("td", {class: "n"}, seconds(g.lag_seconds)),
    el("td", {}, ...partitionChips(g))));
  document.querySelector("#groups tbody").replaceChildren(...rows);
}

function drawAlerts(api) {
  const a = api.alerts;
  document.getElementById("alert-source").textContent = `(rules of ${a.source})`;
  const items = a.active.map((x) => el("li", {class: x.state, "data-alert": x.name},
    `${x.state === "firing" ? "FIRING" : "pending"} · ${x.name} · ${x.summary}`));
  for (const r of a.rules.filter((r) => !r.evaluated)) {
    items.push(el("li", {class: "off"}, `${r.name}: ${r.error}`));
  }
  if (a.error) items.push(el("li", {class: "firing"}, a.error));
  if (a.active.length === 0) items.unshift(el("li", {class: "none"}, "no alert active"));
  document.getElementById("alerts").replaceChildren(...items);
}

function drawProcessors(api) {
  const p = api.processors;
  const down = new Set(p.endpoints.filter((e) => !e.ok).map((e) => e.processor));
  const rows = p.processors.map((x) => el("tr", {"data-processor": x.processor},
    el("td", {}, x.processor + (down.has(x.processor) ? " (an endpoint not answering)" : "")),
    el("td", {class: "n"}, rate(x.in_per_second)), el("td", {class: "n"}, rate(x.out_per_second)),
    el("td", {class: "n"}, seconds(x.end_to_end_seconds.p50)),
    el("td", {class: "n"}, seconds(x.end_to_end_seconds.p95)),
    el("td", {class: "n"}, seconds(x.end_to_end_seconds.p99)),
    el("td", {class: "n"}, x.dead_letters)));
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", {colspan: 7}, p.endpoints.length ?
      "no processor answers on its metrics endpoint" : "no running processor found")));
  }
  document.querySelector("#processors tbody").replaceChildren(...rows);
  const dead = p.dead_letters.filter((d) => d.count > 0).map((d) => el("tr", {},
    el("td", {}, d.processor), el("td", {}, d.reason), el("td", {class: "n"}, d.count),
    el("td", {class: "n"}, rate(d.per_second * 60))));
  if (dead.length === 0) dead.push(el("tr", {}, el("td", {colspan: 4}, "no dead letters")));
  document.querySelector("#dead-letters tbody").replaceChildren(...dead);
}

async function poll() {
  const errors = [];
  if (window.chartLibraryFailed || typeof uPlot === "undefined") {
    errors.push("The chart library did not load from /vendor/uPlot.iife.min.js: charts cannot be drawn.");
  }
  try {
    const answer = await fetch("/api/dashboard", {cache: "no-store"});
    if (!answer.ok) throw new Error(`the monitor answered HTTP ${answer.status}`);
    const api = await answer.json();
    if (!api.chart_library.ok) errors.push(api.chart_library.error);
    if (api.monitor_error) errors.push("The lag monitor cannot read the broker (" +
      api.monitor_error + "): the figures below are from its last good evaluation, not now.");
    drawSummary(api);
    drawGroups(api);
    drawAlerts(api);
    drawProcessors(api);
    if (typeof uPlot !== "undefined") {
      try { drawCharts(api); } catch (e) { errors.push("charts failed: " + e.message); }
    }
  } catch (e) {
    errors.push("Cannot read the lag monitor's API: " + e.message);
  }
  showErrors(errors);
  document.body.dataset.polled = String(Number(document.body.dataset.polled || 0) + 1);
}

poll();
setInterval(poll, POLL_MS);
window.addEventListener("resize", () => {
  for (const [id, c] of Object.entries(charts)) {
    const holder = document.getElementById(id);
    c.plot.setSize({width: holder.clientWidth, height: Number(holder.dataset.height) || 160});
  }
});
