/*
 * messages.js: the message browser: seek by offset or time, filter,
 * JSON pretty-printing, key/headers/timestamp, and the live tail (SSE).
 */
import { empty, enc, errorBox, fmtTime, get, h, preview, pretty, tailUrl } from "../api.js";

const TAIL_KEEP = 500;

function detail(rec) {
  const hdrs = rec.headers || [];
  return h("div.detail", null,
    h("div.detail-meta", null,
      h("span", null, h("b", null, "Partition "), String(rec.partition)),
      h("span", null, h("b", null, "Offset "), String(rec.offset)),
      h("span", null, h("b", null, "Timestamp "), fmtTime(rec.timestamp), " (", String(rec.timestamp), ", ", rec.timestamp_type || "", ")")),
    h("h4", null, "Key ", h("span.tag", null, rec.key_format || "null")), pretty(rec.key, rec.key_format),
    h("h4", null, "Value ", h("span.tag", null, rec.value_format || "null")), pretty(rec.value, rec.value_format),
    h("h4", null, "Headers"),
    hdrs.length
      ? h("table.kv", null, hdrs.map((x) => h("tr", null, h("td", null, x.key),
        h("td", null, x.value === null ? h("span.muted", null, "null") : x.value, x.value_format === "base64" ? h("span.muted", null, " (base64)") : null))))
      : h("p.muted", null, "none"));
}

/* A record as a table row that expands (click or Enter) into its detail. */
function recordRows(rec, fresh) {
  const row = h("tr.rec", { tabindex: 0, "data-partition": rec.partition, "data-offset": rec.offset, class: fresh ? "rec fresh" : "rec" },
    h("td.num", null, String(rec.partition)), h("td.num", null, String(rec.offset)),
    h("td.nowrap", null, fmtTime(rec.timestamp)),
    h("td.key", null, preview(rec.key, 40)), h("td.val", null, preview(rec.value)));
  const more = h("tr.more", { hidden: true }, h("td", { colspan: 5 }, detail(rec)));
  const toggle = () => { more.hidden = !more.hidden; row.classList.toggle("open", !more.hidden); };
  row.addEventListener("click", toggle);
  row.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); }
    if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); let n = row.nextElementSibling; while (n && !n.classList.contains("rec")) n = n.nextElementSibling; n && n.focus(); }
    if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); let n = row.previousElementSibling; while (n && !n.classList.contains("rec")) n = n.previousElementSibling; n && n.focus(); }
  });
  return [row, more];
}

function recTable(tbody) {
  return h("table.records", null, h("thead", null, h("tr", null,
    h("th.num", null, "Partition"), h("th.num", null, "Offset"), h("th", null, "Timestamp"), h("th", null, "Key"), h("th", null, "Value"))), tbody);
}

export async function render(main, params, ctx) {
  main.append(h("h1", null, "Messages"));
  let topics;
  try {
    topics = (await get("/topics")).topics;
  } catch (e) {
    main.append(errorBox(e, "Topics"));
    return;
  }
  if (!ctx.current()) return;
  const user = topics.filter((t) => !t.internal || t.name === params.topic);
  if (!user.length) {
    main.append(empty("No topics to browse", "Create a topic first, then produce to it.", h("a.button", { href: "#/topics?new" }, "Create a topic")));
    return;
  }
  const q = params.query;
  const topicName = params.topic || user[0].name;
  const topic = topics.find((t) => t.name === topicName);
  if (!topic) {
    main.append(errorBox({ code: "UNKNOWN_TOPIC_OR_PARTITION", message: `topic '${topicName}' does not exist` }));
    return;
  }

  const topicSel = h("select", { "aria-label": "Topic", on: { change: () => { location.hash = "#/messages/" + enc(topicSel.value); } } },
    user.map((t) => h("option", { value: t.name, selected: t.name === topicName }, t.name)));
  const partSel = h("select", { "aria-label": "Partition" }, h("option", { value: "" }, "all partitions"),
    Array.from({ length: topic.partition_count }, (_, i) => h("option", { value: String(i), selected: q.get("partition") === String(i) }, "partition " + i)));
  const mode = h("select", { "aria-label": "Seek" },
    h("option", { value: "newest" }, "newest"), h("option", { value: "earliest" }, "from the beginning"),
    h("option", { value: "offset" }, "from offset"), h("option", { value: "timestamp" }, "from time"));
  const offsetIn = h("input", { type: "number", min: 0, placeholder: "offset", "aria-label": "Offset", hidden: true });
  const timeIn = h("input", { type: "datetime-local", step: 1, "aria-label": "Time", hidden: true });
  const limit = h("select", { "aria-label": "Limit" }, [20, 50, 100, 500, 1000].map((n) => h("option", { value: String(n), selected: n === 50 }, n + " records")));
  const filter = h("input.search.filter", { type: "search", placeholder: 'filter, e.g. value.amount > 100 and key = "user-7"  ( / )', "data-search": "", "aria-label": "Filter", value: q.get("filter") || "" });
  const go = h("button.primary", { type: "submit" }, "Load");
  const tailBtn = h("button", { type: "button", "aria-pressed": "false" }, "▶ Live tail");
  if (q.get("offset")) { mode.value = "offset"; offsetIn.value = q.get("offset"); }
  const syncMode = () => { offsetIn.hidden = mode.value !== "offset"; timeIn.hidden = mode.value !== "timestamp"; };
  mode.addEventListener("change", () => { syncMode(); (mode.value === "offset" ? offsetIn : timeIn).focus(); });
  syncMode();

  const status = h("div.status.muted");
  const tbody = h("tbody");
  const results = h("section.results");
  const pager = h("div.pager");
  const tailBody = h("tbody");
  const tailStatus = h("span.muted");
  const tailSection = h("section.tail", { hidden: true }, h("h2", null, "Live tail ", tailStatus), recTable(tailBody));

  const form = h("form.toolbar.browse", { on: { submit: (e) => { e.preventDefault(); load(); } } },
    topicSel, partSel, mode, offsetIn, timeIn, limit, filter, go, tailBtn);
  main.append(
    h("p", null, h("a", { href: "#/topics/" + enc(topicName) }, "Topic details"), " · ", h("a", { href: "#/produce/" + enc(topicName) }, "Produce to " + topicName)),
    form, tailSection, status, results, pager);

  let next = null;
  async function load(fromOffset) {
    const p = new URLSearchParams();
    if (partSel.value !== "") p.set("partition", partSel.value);
    p.set("limit", limit.value);
    if (fromOffset !== undefined) p.set("offset", String(fromOffset));
    else if (mode.value === "newest") p.set("offset", "-" + limit.value);
    else if (mode.value === "earliest") p.set("offset", "earliest");
    else if (mode.value === "offset") p.set("offset", offsetIn.value || "0");
    else if (mode.value === "timestamp") {
      if (!timeIn.value) { status.replaceChildren(errorBox({ code: "BAD_REQUEST", message: "choose a time to start from" })); return; }
      p.set("timestamp", String(new Date(timeIn.value).getTime()));
    }
    if (filter.value.trim()) p.set("filter", filter.value.trim());
    status.textContent = "Loading…";
    let r;
    try {
      r = await get("/topics/" + enc(topicName) + "/records?" + p);
    } catch (e) {
      if (!ctx.current()) return;
      status.replaceChildren(errorBox(e, "Records"));
      results.replaceChildren();
      pager.replaceChildren();
      return;
    }
    if (!ctx.current()) return;
    const recs = r.records;
    tbody.replaceChildren(...recs.flatMap((x) => recordRows(x)));
    results.replaceChildren(recs.length ? recTable(tbody)
      : empty("No messages here", filter.value.trim() ? "No record in this range matches the filter." : "This range of the topic is empty. Produce something, or start the live tail."));
    const hw = r.partitions.reduce((a, x) => a + Math.max(0, x.high_watermark - x.log_start_offset), 0);
    status.replaceChildren(h("span", null, `${recs.length} record${recs.length === 1 ? "" : "s"} shown · ${hw.toLocaleString("en-US")} in range of ${r.partitions.length} partition${r.partitions.length === 1 ? "" : "s"}`,
      r.scan_limited ? h("span.warn", null, " · scan limit reached, continue with Next") : null,
      " · click a row or press Enter for details"));
    pager.replaceChildren();
    next = null;
    if (r.partitions.length === 1) {
      const pp = r.partitions[0];
      if (!pp.end_of_data || r.scan_limited) {
        next = pp.next_offset;
        pager.append(h("button", { type: "button", on: { click: () => load(next) } }, `Next from offset ${next} →`));
      }
    } else if (recs.length) {
      pager.append(h("span.muted", null, "Pick one partition to page through it."));
    }
  }

  let es = null;
  function stopTail() {
    if (es) { es.close(); es = null; }
    tailBtn.textContent = "▶ Live tail";
    tailBtn.setAttribute("aria-pressed", "false");
    tailStatus.textContent = "(stopped)";
  }
  function startTail() {
    const p = {};
    if (partSel.value !== "") p.partition = partSel.value;
    if (filter.value.trim()) p.filter = filter.value.trim();
    tailSection.hidden = false;
    tailBody.replaceChildren();
    tailStatus.textContent = "(connecting…)";
    es = new EventSource(tailUrl(topicName, p));
    es.onopen = () => { tailStatus.textContent = "(waiting for new records on " + topicName + ")"; };
    es.addEventListener("record", (e) => {
      let rec;
      try { rec = JSON.parse(e.data); } catch { return; }
      tailStatus.textContent = "(live)";
      tailBody.prepend(...recordRows(rec, true));
      while (tailBody.children.length > TAIL_KEEP * 2) tailBody.lastElementChild.remove();
    });
    es.addEventListener("error", (e) => {
      if (e.data) {
        let msg = e.data;
        try { const j = JSON.parse(e.data); msg = j.error_code + ": " + j.message; } catch { /* plain text */ }
        tailStatus.textContent = "(ended: " + msg + ")";
        stopTail();
        tailStatus.textContent = "(ended: " + msg + ")";
      } else if (es && es.readyState === EventSource.CONNECTING) {
        tailStatus.textContent = "(reconnecting…)";
      }
    });
    tailBtn.textContent = "■ Stop tail";
    tailBtn.setAttribute("aria-pressed", "true");
  }
  tailBtn.addEventListener("click", () => (es ? stopTail() : startTail()));
  ctx.onLeave(() => { if (es) es.close(); es = null; });
  if (q.get("tail") !== null) startTail();
  await load();
}
