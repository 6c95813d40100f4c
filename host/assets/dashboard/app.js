// Kiln's dashboard: a page over the admin API, no framework, no build step. The token stays in
// this tab (sessionStorage) and goes only to this server. Everything an app controls (names,
// log lines) is written as text, never as HTML.
"use strict";

const TOKEN_KEY = "kiln-token";
const REFRESH_MS = 2000;
const LOG_LINES_SHOWN = 500;

let token = sessionStorage.getItem(TOKEN_KEY);
let timer = null;
let logAbort = null;

const $ = (id) => document.getElementById(id);

/** An element with properties (`class`, `data-*`, the rest as DOM properties) and children. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

class Refused extends Error {}

/** Calls the admin API with the token; an error answer throws its message. */
async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { ...(options.headers || {}), authorization: `Bearer ${token}` },
  });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) throw new Refused(body?.message || "the token was refused");
  if (!response.ok) throw new Error(body?.message || `${response.status} ${response.statusText}`);
  return body;
}

function show(view) {
  for (const id of ["sign-in-view", "home-view", "app-view"]) $(id).hidden = id !== view;
  $("sign-out").hidden = view === "sign-in-view";
}

function stop() {
  clearInterval(timer);
  timer = null;
  if (logAbort) logAbort.abort();
  logAbort = null;
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  stop();
  show("sign-in-view");
  $("sign-in-error").textContent = message;
}

/** Runs `work`; a refused token signs out, other errors are shown in `where`. */
async function guarded(work, where) {
  try {
    await work();
  } catch (error) {
    if (error instanceof Refused) signOut(`Signed out: ${error.message}`);
    else if (error.name !== "AbortError" && where) where.textContent = error.message;
  }
}

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  try {
    await api("/admin-api/v2/services");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    $("sign-in-error").textContent = "";
    route();
  } catch (error) {
    token = null;
    $("sign-in-error").textContent = error.message;
  }
});
$("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);

function route() {
  stop();
  if (!token) return show("sign-in-view");
  const match = location.hash.match(/^#\/(service|function)\/([a-z0-9-]+)$/);
  if (match) {
    show("app-view");
    appPage(match[1], match[2]);
  } else {
    show("home-view");
    home();
  }
}

const cell = (text, numeric = false) => el("td", numeric ? { class: "num" } : {}, text);

function latency(ms, activity) {
  if (!activity || activity.per_second.every((n) => n === 0)) return "-";
  return ms == null ? "> 1 s" : `≤ ${ms} ms`;
}

function nodeLine(status) {
  const nodes = status.cluster ? `, ${status.cluster.nodes.length} nodes` : "";
  $("node").textContent = `version ${status.version}, up ${status.uptime_seconds} s${nodes}`;
}

function chart(perSecond) {
  const svg = $("rate-chart");
  const max = Math.max(1, ...perSecond);
  const step = 600 / Math.max(1, perSecond.length - 1);
  const points = perSecond.map((n, i) => `${(i * step).toFixed(1)},${(115 - (n / max) * 105).toFixed(1)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.join(" "));
  svg.replaceChildren(line);
  $("rate-label").textContent = `peak ${max}, last second ${perSecond[perSecond.length - 1] ?? 0}`;
}

function nodes(status) {
  const rows = status.cluster
    ? status.cluster.nodes.map((node) =>
        el("tr", {}, cell(node.id === status.cluster.node ? `${node.id} (this one)` : node.id),
          cell(node.address), cell(Object.keys(node.serving).length, true)))
    : [el("tr", {}, cell("this node (alone on its store)"), cell(location.host),
        cell(status.services.total + status.functions.total, true))];
  $("nodes").tBodies[0].replaceChildren(...rows);
}

function home() {
  const refresh = () => guarded(async () => {
    const [services, functions, stats, status] = await Promise.all([
      api("/admin-api/v2/services"),
      api("/admin-api/v2/functions"),
      api("/admin-api/v2/stats"),
      fetch("/status").then((r) => r.json()),
    ]);
    nodeLine(status);
    chart(stats.per_second);
    const activity = new Map(stats.apps.map((a) => [`${a.kind}/${a.name}`, a]));
    const apps = [
      ...services.services.map((app) => ["service", app]),
      ...functions.functions.map((app) => ["function", app]),
    ];
    const rows = apps.map(([kind, app]) => {
      const a = activity.get(`${kind}/${app.name}`);
      return el("tr", { "data-app": `${kind}/${app.name}` },
        cell(kind),
        el("td", {}, el("a", { href: `#/${kind}/${app.name}` }, app.name)),
        cell(app.version ?? "-", true),
        cell(app.tier ?? "-"),
        cell(app.enabled ? "yes" : "no"),
        cell(a ? a.rps.toFixed(2) : "-", true),
        cell(latency(a?.p50_ms, a), true),
        cell(latency(a?.p99_ms, a), true),
        cell(a ? a.recent_errors : "-", true));
    });
    $("apps").tBodies[0].replaceChildren(...rows);
    nodes(status);
  }, $("node"));
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

function appPage(kind, name) {
  const base = `/admin-api/v2/${kind}s/${name}`;
  $("app-title").textContent = `${kind} ${name}`;
  $("app-message").textContent = "";
  $("log").replaceChildren();
  const load = () => guarded(async () => {
    const [app, list] = await Promise.all([api(base), api(`${base}/versions`)]);
    const facts = [
      ["version", app.version ?? "-"], ["tier", app.tier ?? "-"],
      ["enabled", app.enabled ? "yes" : "no"], ["isolation", app.effective_isolation ?? "-"],
      ["token required", app.jwt_check ? "yes" : "no"], ["updated", app.updated_at ?? "-"],
      ["URL", kind === "service" ? `/api/v2/${name}/` : `/functions/v2/${name}`],
    ];
    $("app-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const config = { permissions: app.permissions, limits: app.limits, isolation: app.isolation };
    if (app.schedule) config.schedule = app.schedule;
    $("app-config").textContent = JSON.stringify(config, null, 2);
    const rows = [...list.versions].reverse().map((v) => {
      const button = el("button", { class: "rollback", "data-version": v.version, disabled: v.active },
        v.active ? "serving" : "Roll back");
      button.addEventListener("click", () => rollback(v.version));
      return el("tr", { "data-version": v.version }, cell(v.version, true), cell(v.kind),
        cell(v.created_at), cell(v.sha256.slice(0, 12)), el("td", {}, button));
    });
    $("versions").tBodies[0].replaceChildren(...rows);
  }, $("app-message"));
  const rollback = (version) => guarded(async () => {
    const app = await api(`${base}/rollback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ version }),
    });
    await load();
    $("app-message").textContent = `${name} now serves version ${app.version}`;
  }, $("app-message"));
  load();
  followLog(base);
}

function logLine(kind, text) {
  const log = $("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(el("div", { class: kind }, text));
  while (log.childElementCount > LOG_LINES_SHOWN) log.firstElementChild.remove();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

/** Streams the app's log (Server-Sent Events read with fetch, which can send the token). */
async function followLog(base) {
  const controller = new AbortController();
  logAbort = controller;
  const state = $("log-state");
  state.textContent = "(connecting…)";
  await guarded(async () => {
    const response = await fetch(`${base}/logs?follow=true&lines=100`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    if (response.status === 401) throw new Refused("the token was refused");
    if (!response.ok) throw new Error(`the log is unavailable (${response.status})`);
    state.textContent = "(live)";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (!data) continue;
        const entry = JSON.parse(data);
        if (event === "missed") {
          logLine("missed", `… ${entry.missed} lines missed`);
        } else {
          const id = (entry.request_id || "-").slice(0, 8);
          logLine(entry.source, `${entry.time.slice(11, 23)} ${entry.source.padEnd(7)} [${id}] ${entry.message}`);
        }
      }
    }
    state.textContent = "(ended)";
  }, state);
}

route();
