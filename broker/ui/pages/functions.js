/*
 * functions.js: stream functions (REST: /api/v1/functions, docs/rest-api.md).
 *
 *   #/functions        the list (state, topics, rates, lag, watermark,
 *                      late and dead-lettered counts), refreshed every 2 s,
 *                      and the create form (?new opens it)
 *   #/functions/NAME   one function: status cards, throughput sparkline,
 *                      SQL, options, per-partition table, pause / resume /
 *                      drop, and its Flink SQL export
 *
 * The create form's SQL editor: Tab inserts two spaces (Esc, then Tab,
 * leaves it), Ctrl+Enter submits; an INVALID_SQL reply is shown next to
 * the editor with the offending line marked and the caret placed there.
 */
import { api, empty, enc, errorBox, fmtBytes, fmtNum, fmtTime, get, getText, h, notify, sparkline, table } from "../api.js";

const POLL_MS = 2000;
const KEEP = 60; /* sparkline samples: two minutes */

const SAMPLE_FILTER = `INSERT INTO high_value_orders
SELECT id, user_id, amount, currency
FROM orders
WHERE amount > 500`;

const SAMPLE_WINDOW = `INSERT INTO user_spend
SELECT user_id, window_start, window_end,
       COUNT(*) AS orders, SUM(amount) AS total
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY user_id, window_start, window_end`;

/* Throughput history per function, kept across visits. */
const hist = new Map();

function record(f) {
  const s = f.status || {};
  let x = hist.get(f.name);
  if (!x) { x = { inp: [], out: [] }; hist.set(f.name, x); }
  x.inp.push(Number(s.records_in_per_sec) || 0);
  x.out.push(Number(s.records_out_per_sec) || 0);
  if (x.inp.length > KEEP) { x.inp.shift(); x.out.shift(); }
  return x;
}

function stateTag(state) {
  const cls = state === "running" ? ".tag-on" : state === "failed" ? ".tag-bad" : state === "paused" ? ".tag-warn" : "";
  return h("span.tag.state" + cls, null, state || "–");
}

function fmtRate(x) {
  if (x === null || x === undefined) return "–";
  const n = Number(x);
  return (n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US")) + "/s";
}

function fmtLagMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return Math.floor(ms / 60000) + " min " + Math.floor((ms % 60000) / 1000) + " s";
  return Math.floor(ms / 3600000) + " h " + Math.floor((ms % 3600000) / 60000) + " min";
}

function watermarkCell(s) {
  if (!s || s.watermark_ms === null || s.watermark_ms === undefined)
    return h("span.muted", { title: "no event time seen yet (or a partition holds it back)" }, "–");
  return h("span.nowrap", { title: fmtLagMs(s.watermark_lag_ms) + " behind now" }, fmtTime(s.watermark_ms));
}

function countCell(n) {
  return h("span" + (n > 0 ? ".warn" : ""), null, fmtNum(n));
}

function topicLink(t) {
  return t ? h("a", { href: "#/topics/" + enc(t) }, t) : "–";
}

/* ---- create form ------------------------------------------------------------- */

/* Byte offset in text of a 1-based line and column (code points). */
function offsetOf(text, line, col) {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  const rest = [...text.slice(off).split("\n")[0]];
  return off + rest.slice(0, Math.max(0, col - 1)).join("").length;
}

/* The server's INVALID_SQL message next to the editor, the line marked. */
function sqlError(box, editor, e) {
  const m = /line (\d+), col (\d+)/.exec(e.message || "");
  const kids = [h("strong", null, e.code), " ", e.message];
  if (m) {
    const line = Number(m[1]), col = Number(m[2]);
    const text = editor.value.split("\n")[line - 1];
    if (text !== undefined) {
      kids.push(h("pre.code.sql-mark", null,
        h("span.muted", null, String(line).padStart(3) + " │ "), text, "\n",
        h("span.bad", null, " ".repeat(6 + Math.max(0, col - 1)) + "^")));
    }
    const at = offsetOf(editor.value, line, col);
    editor.focus();
    editor.setSelectionRange(at, at);
  }
  box.replaceChildren(h("div.error.sql-error", { role: "alert" }, kids));
}

function optionInput(name, placeholder) {
  return h("input", { name, placeholder, autocomplete: "off", spellcheck: false });
}

function createForm(onCancel, preset) {
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9._\\-]{1,128}", maxlength: 128,
    placeholder: "user_spend", autocomplete: "off", spellcheck: false });
  const sql = h("textarea.mono.sql-editor", { name: "sql", rows: 10, required: true, spellcheck: false,
    autocapitalize: "off", autocomplete: "off", placeholder: SAMPLE_WINDOW, "aria-label": "SQL statement" });
  if (preset) sql.value = preset;
  const sqlErr = h("div.sql-error-box", { "aria-live": "polite" });
  const err = h("div");

  const delay = optionInput("watermark.delay", "0 (e.g. 5s)");
  const idle = optionInput("watermark.idle-timeout", "never (e.g. 30s)");
  const lateness = optionInput("allowed.lateness", "0 (e.g. 1m)");
  const late = optionInput("late.topic", "dropped");
  const dlq = optionInput("dlq.topic", "dropped");
  const ckpt = optionInput("checkpoint.interval", "5s");
  const emit = h("select", { name: "emit" }, h("option", { value: "final" }, "final results"),
    h("option", { value: "early" }, "early, every…"));
  const emitEvery = h("input", { name: "emit-every", placeholder: "10s", hidden: true, size: 6 });
  emit.addEventListener("change", () => { emitEvery.hidden = emit.value !== "early"; });
  const startup = h("select", { name: "startup" }, h("option", { value: "earliest" }, "earliest"),
    h("option", { value: "latest" }, "latest"), h("option", { value: "timestamp" }, "from a time…"));
  const startTs = h("input", { name: "startup-time", type: "datetime-local", step: 1, hidden: true });
  startup.addEventListener("change", () => { startTs.hidden = startup.value !== "timestamp"; });

  /* Tab indents inside the editor; Ctrl+Enter submits the form. */
  sql.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      sql.setRangeText("  ", sql.selectionStart, sql.selectionEnd, "end");
    }
  });

  const submit = h("button.primary", { type: "submit" }, "Create function");
  const form = h("form.panel.fn-form", { on: { submit: async (e) => {
    e.preventDefault();
    sqlErr.replaceChildren();
    err.replaceChildren();
    const options = {};
    for (const inp of [delay, idle, lateness, late, dlq, ckpt]) if (inp.value.trim()) options[inp.name] = inp.value.trim();
    if (emit.value === "early") {
      if (!emitEvery.value.trim()) { err.replaceChildren(errorBox({ code: "INVALID_CONFIG", message: "early emit needs an interval such as 10s" })); emitEvery.focus(); return; }
      options.emit = "early:" + emitEvery.value.trim();
    }
    if (startup.value === "latest") options.startup = "latest";
    if (startup.value === "timestamp") {
      const t = new Date(startTs.value).getTime();
      if (!startTs.value || Number.isNaN(t)) { err.replaceChildren(errorBox({ code: "INVALID_CONFIG", message: "choose a start time" })); startTs.focus(); return; }
      options.startup = "timestamp:" + t;
    }
    const body = { name: name.value.trim(), sql: sql.value };
    if (Object.keys(options).length) body.options = options;
    submit.disabled = true;
    try {
      const f = await api("POST", "/functions", body);
      notify(`Function ${f.name} created: ${f.input_topic} → ${f.output_topic}`);
      location.hash = "#/functions/" + enc(f.name);
    } catch (x) {
      if (x.code === "INVALID_SQL") sqlError(sqlErr, sql, x);
      else err.replaceChildren(errorBox(x, "Create"));
    } finally {
      submit.disabled = false;
    }
  } } },
  h("h2", null, "Create a function"),
  h("label", null, "Name", name),
  h("label", { for: "fn-sql" }, "Statement (Flink SQL: INSERT INTO topic SELECT … FROM topic or window TVF)"),
  Object.assign(sql, { id: "fn-sql" }),
  sqlErr,
  h("p.muted.small", null, h("kbd", null, "Tab"), " indents · ", h("kbd", null, "Esc"), " then ", h("kbd", null, "Tab"),
    " leaves the editor · ", h("kbd", null, "Ctrl"), "+", h("kbd", null, "Enter"), " creates · see docs/sql.md for the language"),
  h("fieldset.fn-options", null, h("legend", null, "Options"),
    h("div.opts", null,
      h("label", null, "Watermark delay", delay),
      h("label", null, "Idle timeout", idle),
      h("label", null, "Allowed lateness", lateness),
      h("label", null, "Emit", h("span.row", null, emit, emitEvery)),
      h("label", null, "Late records topic", late),
      h("label", null, "Dead-letter topic", dlq),
      h("label", null, "Start at", h("span.row", null, startup, startTs)),
      h("label", null, "Checkpoint interval", ckpt))),
  err,
  h("div.row", null, submit, h("button", { type: "button", on: { click: onCancel } }, "Cancel")));
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  return form;
}

/* ---- list ------------------------------------------------------------------- */

async function list(main, params, ctx) {
  const newBtn = h("button.primary", { type: "button" }, "New function");
  const formHolder = h("div");
  const search = h("input.search", { type: "search", placeholder: "Filter functions  ( / )", "data-search": "", "aria-label": "Filter functions" });
  const body = h("section");
  main.append(h("div.titlebar", null, h("h1", null, "Functions"), newBtn), formHolder,
    h("div.toolbar", null, search), body);

  const openForm = (preset) => {
    formHolder.replaceChildren(createForm(() => formHolder.replaceChildren(), preset));
    formHolder.querySelector(preset ? "textarea" : "input").focus();
  };
  newBtn.addEventListener("click", () => {
    if (formHolder.firstChild) formHolder.replaceChildren(); else openForm();
  });

  let fns = null;
  const draw = () => {
    if (!fns.length) {
      body.replaceChildren(h("div.empty", null,
        h("h3", null, "No functions yet"),
        h("p", null, "A function is a Flink SQL INSERT INTO … SELECT statement that runs inside the broker: it reads a topic, filters, windows and aggregates, and writes its results to another topic."),
        h("div.samples", null,
          h("figure.sample", null, h("figcaption", null, "Filter"), h("pre.code", null, SAMPLE_FILTER),
            h("button", { type: "button", on: { click: () => openForm(SAMPLE_FILTER) } }, "Start from this")),
          h("figure.sample", null, h("figcaption", null, "Per-user spend per minute"), h("pre.code", null, SAMPLE_WINDOW),
            h("button", { type: "button", on: { click: () => openForm(SAMPLE_WINDOW) } }, "Start from this"))),
        h("p", null, "Or from a shell: ", h("code", null, "runnel fn create user_spend --watermark-delay 5s 'INSERT INTO …'"))));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const shown = fns.filter((f) => [f.name, f.input_topic, f.output_topic].some((x) => (x || "").toLowerCase().includes(q)));
    if (!shown.length) {
      body.replaceChildren(empty("No function matches", `Nothing is named like “${search.value}”.`));
      return;
    }
    body.replaceChildren(table(
      [{ label: "Function" }, { label: "State" }, { label: "Input → output" }, { label: "In", num: true }, { label: "Out", num: true },
        { label: "Lag", num: true }, { label: "Watermark" }, { label: "Late", num: true }, { label: "DLQ", num: true }],
      shown.map((f) => {
        const s = f.status || {};
        return [h("a", { href: "#/functions/" + enc(f.name) }, f.name), stateTag(f.state),
          h("span.nowrap", null, topicLink(f.input_topic), " → ", topicLink(f.output_topic)),
          h("span", { title: fmtNum(s.records_in) + " records in" }, fmtRate(s.records_in_per_sec)),
          h("span", { title: fmtNum(s.records_out) + " records out" }, fmtRate(s.records_out_per_sec)),
          countCell(s.lag), watermarkCell(s), countCell(s.late), countCell(s.dlq)];
      }), { cls: "functions" }));
  };
  const load = async () => {
    try {
      const r = await get("/functions");
      if (!ctx.current()) return;
      fns = (r && r.functions) || [];
      for (const f of fns) record(f);
      draw();
    } catch (e) {
      if (!ctx.current()) return;
      if (e.status === 501) {
        body.replaceChildren(empty("Stream functions are not available",
          "This broker does not run stream functions (" + e.code + ": " + e.message + ")."));
        newBtn.disabled = true;
      } else {
        body.replaceChildren(errorBox(e, "Functions"));
      }
    }
  };
  search.addEventListener("input", () => fns && draw());
  if (params.query.get("new") !== null) openForm();
  await load();
  ctx.every(load, POLL_MS);
}

/* ---- detail ------------------------------------------------------------------ */

/* A status card; opts.small: a smaller value (times, topics), opts.wide: two columns. */
function card(label, value, sub, opts = {}) {
  return h("div.card" + (opts.wide ? ".card-wide" : ""), null, h("div.card-label", null, label),
    h("div.card-value" + (opts.small ? ".small" : ""), null, value), sub ? h("div.card-sub", null, sub) : null);
}

function chart(label, values, now) {
  return h("figure.chart", null,
    h("figcaption", null, label, h("span.chart-now", null, now)),
    sparkline(values.length > 1 ? values : [0, ...values]));
}

/* "Drop" that asks again before acting. */
function dropButton(name, action) {
  const wrap = h("span.confirm");
  const reset = () => wrap.replaceChildren(h("button", { type: "button", on: { click: ask } }, "Drop"));
  const ask = () => {
    const yes = h("button.danger", { type: "button", on: { click: async () => {
      yes.disabled = true;
      try { await action(); } catch (e) { notify(e.code + ": " + e.message, "err"); reset(); }
    } } }, "Yes, drop " + name);
    const no = h("button", { type: "button", on: { click: reset } }, "Cancel");
    wrap.replaceChildren(yes, " ", no);
    no.focus();
  };
  reset();
  return wrap;
}

async function detail(main, params, ctx) {
  const name = params.fn;
  const path = "/functions/" + enc(name);
  const tag = h("span");
  const toggle = h("button", { type: "button" }, "Pause");
  const flinkBtn = h("button", { type: "button", "aria-expanded": "false" }, "Flink SQL");
  const actions = h("span.actions.fn-actions", null, toggle, " ", flinkBtn, " ",
    dropButton(name, async () => {
      await api("DELETE", path);
      notify("Function " + name + " dropped");
      location.hash = "#/functions";
    }));
  const cards = h("div.cards");
  const charts = h("div.charts");
  const failure = h("div");
  const sqlBox = h("section");
  const parts = h("section");
  const flink = h("section.flink");
  main.append(h("div.titlebar", null, h("h1", null, name, tag), actions),
    h("p", null, h("a", { href: "#/functions" }, "← all functions")),
    failure, cards, h("h2", null, "Throughput"), charts, parts, sqlBox, flink);

  let state = null;
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    try {
      const f = await api("POST", path + (state === "paused" ? "/resume" : "/pause"));
      notify(`Function ${name} ${f.state === "paused" ? "paused" : "resumed"}`);
      show(f);
    } catch (e) {
      notify(e.code + ": " + e.message, "err");
    } finally {
      toggle.disabled = false;
    }
  });
  flinkBtn.addEventListener("click", async () => {
    if (flink.firstChild) { flink.replaceChildren(); flinkBtn.setAttribute("aria-expanded", "false"); return; }
    flinkBtn.setAttribute("aria-expanded", "true");
    try {
      const text = await getText(path + "/flink");
      if (!ctx.current()) return;
      flink.replaceChildren(h("h2", null, "Flink SQL"),
        h("p.muted", null, "The same function as a Flink SQL script (Kafka connector tables and the statement); run it with sql-client.sh -f."),
        h("pre.code.sql", null, text));
    } catch (e) {
      flink.replaceChildren(errorBox(e, "Flink export"));
    }
  });

  let sqlShown = false;
  const show = (f) => {
    state = f.state;
    const s = f.status || {};
    tag.replaceChildren(stateTag(f.state));
    toggle.textContent = f.state === "paused" ? "Resume" : "Pause";
    failure.replaceChildren(s.last_error ? errorBox({ code: f.state === "failed" ? "FAILED" : "LAST ERROR", message: s.last_error }) : "");
    cards.replaceChildren(
      card("Input → output", [topicLink(f.input_topic), " → ", topicLink(f.output_topic)], "created " + fmtTime(f.created_ms), { small: true, wide: true }),
      card("Records in", fmtNum(s.records_in), fmtRate(s.records_in_per_sec) + " · " + fmtNum(s.filtered) + " filtered out"),
      card("Records out", fmtNum(s.records_out), fmtRate(s.records_out_per_sec) + " · " + fmtNum(s.windows_fired) + " windows fired"),
      card("Lag", countCell(s.lag), "records not yet read"),
      card("Watermark", s.watermark_ms == null ? h("span.muted", null, "–") : h("span", { title: fmtTime(s.watermark_ms) }, fmtTime(s.watermark_ms).slice(11)),
        s.watermark_ms == null ? "no event time yet" : fmtLagMs(s.watermark_lag_ms) + " behind now", { small: s.watermark_ms != null }),
      card("Late", countCell(s.late), f.options && f.options["late.topic"] ? "to " + f.options["late.topic"] : "dropped"),
      card("Dead-lettered", countCell(s.dlq), f.options && f.options["dlq.topic"] ? "to " + f.options["dlq.topic"] : "dropped"),
      card("State", fmtBytes(s.state_bytes), fmtNum(s.groups) + " open groups"),
      card("Last checkpoint", s.last_checkpoint_ms == null ? h("span.muted", null, "–") : h("span", { title: fmtTime(s.last_checkpoint_ms) }, fmtTime(s.last_checkpoint_ms).slice(11)),
        "every " + ((f.options && f.options["checkpoint.interval"]) || "5s"), { small: s.last_checkpoint_ms != null }));
    const x = hist.get(f.name) || { inp: [], out: [] };
    charts.replaceChildren(
      chart("Records in /s", x.inp, fmtRate(s.records_in_per_sec)),
      chart("Records out /s", x.out, fmtRate(s.records_out_per_sec)));
    const ps = s.partitions || [];
    parts.replaceChildren(h("h2", null, "Input partitions"), ps.length
      ? table([{ label: "Partition", num: true }, { label: "Offset", num: true }, { label: "High watermark", num: true },
        { label: "Lag", num: true }, { label: "Watermark" }, { label: "Idle" }],
      ps.map((p) => [String(p.partition), fmtNum(p.offset), fmtNum(p.high_watermark), countCell(p.lag),
        p.watermark_ms == null ? h("span.muted", null, "–") : fmtTime(p.watermark_ms),
        p.idle ? h("span.tag", null, "idle") : "no"]), { cls: "partitions" })
      : empty("No input partitions yet", "The function has not started reading."));
    if (!sqlShown) {
      sqlShown = true;
      const opts = Object.entries(f.options || {});
      sqlBox.replaceChildren(h("h2", null, "Statement"), h("pre.code.sql", null, f.sql),
        h("h2", null, "Options"), opts.length
          ? h("table.kv.fn-opts", null, h("tbody", null, opts.map(([k, v]) => h("tr", null, h("td", null, k), h("td", null, v)))))
          : h("p.muted", null, "All defaults (no watermark delay, final results, start at the earliest offset, checkpoint every 5 s)."));
    }
  };

  const load = async () => {
    try {
      const f = await get(path);
      if (!ctx.current()) return;
      record(f);
      show(f);
    } catch (e) {
      if (!ctx.current()) return;
      cards.replaceChildren(errorBox(e, "Function"));
      if (e.code === "FUNCTION_NOT_FOUND") { charts.replaceChildren(); parts.replaceChildren(); actions.hidden = true; }
    }
  };
  await load();
  ctx.every(load, POLL_MS);
}

export async function render(main, params, ctx) {
  return params.fn ? detail(main, params, ctx) : list(main, params, ctx);
}
