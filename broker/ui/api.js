/* api.js: REST calls, formatting and small DOM helpers shared by the pages. */

const TOKEN_KEY = "runnel.token";

/* An API error: status, Kafka-style error_code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

/* Asks for the token (dialog); resolves true when one was given. */
let asking = null;
export function askToken() {
  if (asking) return asking;
  const dlg = document.getElementById("token");
  const input = document.getElementById("token-input");
  asking = new Promise((resolve) => {
    input.value = "";
    dlg.addEventListener("close", () => {
      asking = null;
      if (dlg.returnValue === "ok" && input.value) {
        try { localStorage.setItem(TOKEN_KEY, input.value); } catch { /* private mode */ }
        resolve(true);
      } else resolve(false);
    }, { once: true });
    dlg.showModal();
  });
  return asking;
}

/*
 * One JSON request to /api/v1 (path without the prefix). Resolves to the
 * parsed body; rejects with ApiError (network errors get status 0).
 * A 401 asks for the token once and retries.
 */
export async function api(method, path, body, retried) {
  const headers = {};
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch("/api/v1" + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    setConn(false);
    throw new ApiError(0, "NETWORK_ERROR", "cannot reach the broker (" + e.message + ")");
  }
  setConn(true);
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401 && !retried && await askToken()) return api(method, path, body, true);
  if (!res.ok) {
    const code = (data && data.error_code) || "HTTP_" + res.status;
    const msg = (data && data.message) || res.statusText || "request failed";
    throw new ApiError(res.status, code, msg);
  }
  return data;
}

export const get = (p) => api("GET", p);

/*
 * A GET of a text resource under /api/v1 (e.g. a function's Flink SQL
 * script). Resolves to the text; rejects with ApiError like api().
 */
export async function getText(path, retried) {
  const headers = { Accept: "text/plain" };
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  let res;
  try {
    res = await fetch("/api/v1" + path, { headers });
  } catch (e) {
    setConn(false);
    throw new ApiError(0, "NETWORK_ERROR", "cannot reach the broker (" + e.message + ")");
  }
  setConn(true);
  const text = await res.text();
  if (res.status === 401 && !retried && await askToken()) return getText(path, true);
  if (!res.ok) {
    let data = null;
    try { data = JSON.parse(text); } catch { data = null; }
    throw new ApiError(res.status, (data && data.error_code) || "HTTP_" + res.status,
      (data && data.message) || res.statusText || "request failed");
  }
  return text;
}

/* URL of the SSE tail with the token in the query (EventSource sends no headers). */
export function tailUrl(topic, params) {
  const q = new URLSearchParams(params);
  const t = token();
  if (t) q.set("access_token", t);
  return "/api/v1/topics/" + encodeURIComponent(topic) + "/tail?" + q;
}

/* The Prometheus text of /metrics as a list of {name, labels, value}. */
export async function metrics() {
  const headers = {};
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  const res = await fetch("/metrics", { headers });
  if (!res.ok) throw new ApiError(res.status, "HTTP_" + res.status, "metrics unavailable");
  const out = [];
  for (const line of (await res.text()).split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function setConn(ok) {
  const el = document.getElementById("conn");
  if (!el) return;
  el.textContent = ok ? "connected" : "offline";
  el.className = "conn " + (ok ? "ok" : "bad");
}

/* ---- DOM ------------------------------------------------------------------ */

/*
 * h("tag.class#id", {attrs, on: {event: fn}}, ...children): an element.
 * Strings become text nodes (never HTML), so record data is always safe.
 */
export function h(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/.exec(spec);
  const el = document.createElement(m ? m[1] : "div");
  if (m && m[2]) for (const p of m[2].match(/[.#][\w-]+/g)) {
    if (p[0] === ".") el.classList.add(p.slice(1)); else el.id = p.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}

/* A table: cols [{label, num?}] and rows of cells (arrays). */
export function table(cols, rows, opts = {}) {
  return h("table" + (opts.cls ? "." + opts.cls : ""), null,
    h("thead", null, h("tr", null, cols.map((c) => h("th", { class: c.num ? "num" : null }, c.label)))),
    h("tbody", null, rows.map((r) => Array.isArray(r)
      ? h("tr", null, r.map((cell, i) => h("td", { class: cols[i] && cols[i].num ? "num" : null }, cell)))
      : r)));
}

/* A readable empty state. */
export function empty(title, text, ...actions) {
  return h("div.empty", null, h("h3", null, title), text ? h("p", null, text) : null, actions);
}

/* An error box for a failed request. */
export function errorBox(e, what) {
  const code = e && e.code ? e.code : "ERROR";
  return h("div.error", { role: "alert" },
    h("strong", null, (what ? what + ": " : "") + code), " ", e && e.message ? e.message : String(e));
}

/* Shows a short notice at the top (kind: "ok" or "err"); hides after 6 s. */
let bannerTimer = 0;
export function notify(text, kind = "ok") {
  const b = document.getElementById("banner");
  b.textContent = text;
  b.className = kind;
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, 6000);
}

/* ---- formatting ------------------------------------------------------------ */

export function fmtNum(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + u[i];
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const d = new Date(ms);
  const p = (x, n = 2) => String(x).padStart(n, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function fmtDuration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

/* A record's key or value for a table cell (one line, shortened). */
export function preview(v, max = 120) {
  if (v === null || v === undefined) return h("span.muted", null, "null");
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > max ? s.slice(0, max) + "…" : s;
}

/* A value pretty-printed: JSON indented with simple highlighting. */
export function pretty(v, format) {
  if (v === null || v === undefined) return h("pre.code.muted", null, "null");
  if (format !== "json" && typeof v === "string") {
    return h("pre.code", null, v, format === "base64" ? h("span.muted", null, "  (base64)") : null);
  }
  const pre = h("pre.code");
  const text = JSON.stringify(v, null, 2);
  const re = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    pre.append(text.slice(last, m.index));
    const cls = m[1] ? (m[2] ? "j-key" : "j-str") : m[3] ? "j-lit" : "j-num";
    pre.append(h("span." + cls, null, m[1] || m[3] || m[4]));
    if (m[2]) pre.append(m[2]);
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

/* A small SVG sparkline of the values (newest last). */
export function sparkline(values, w = 220, hgt = 40) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`);
  if (pts.length === 1) pts.push(`${w},${pts[0].split(",")[1]}`);
  const area = document.createElementNS(ns, "polygon");
  area.setAttribute("points", `0,${hgt} ${pts.join(" ")} ${w},${hgt}`);
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("class", "spark-line");
  svg.append(area, line);
  return svg;
}

export const enc = encodeURIComponent;
