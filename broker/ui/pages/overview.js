/* overview.js: the broker at a glance, throughput sparklines from /metrics. */
import { empty, enc, errorBox, fmtBytes, fmtDuration, fmtNum, get, h, metrics, sparkline, table } from "../api.js";

const POLL_MS = 2000;
const KEEP = 60; /* samples: two minutes */

/* Kept across visits so the lines do not restart at every navigation. */
const hist = { t: [], msgs: [], bin: [], bout: [], prev: null };

function sum(ms, name) {
  let s = 0, seen = false;
  for (const m of ms) if (m.name === name) { s += m.value; seen = true; }
  return seen ? s : null;
}

async function sample() {
  const ms = await metrics();
  const now = Date.now();
  const cur = {
    t: now,
    msgs: sum(ms, "kafka_server_brokertopicmetrics_messagesin_total"),
    bin: sum(ms, "kafka_server_brokertopicmetrics_bytesin_total"),
    bout: sum(ms, "kafka_server_brokertopicmetrics_bytesout_total"),
  };
  const p = hist.prev;
  if (p && now > p.t) {
    const dt = (now - p.t) / 1000;
    const rate = (a, b) => (a === null || b === null ? 0 : Math.max(0, (a - b) / dt));
    hist.msgs.push(rate(cur.msgs, p.msgs));
    hist.bin.push(rate(cur.bin, p.bin));
    hist.bout.push(rate(cur.bout, p.bout));
    for (const k of ["msgs", "bin", "bout"]) if (hist[k].length > KEEP) hist[k].shift();
  }
  hist.prev = cur;
}

function card(label, value, sub) {
  return h("div.card", null, h("div.card-label", null, label), h("div.card-value", null, value),
    sub ? h("div.card-sub", null, sub) : null);
}

function chart(label, values, fmt) {
  const last = values.length ? values[values.length - 1] : null;
  return h("figure.chart", null,
    h("figcaption", null, label, h("span.chart-now", null, last === null ? "collecting…" : fmt(last))),
    sparkline(values.length ? values : [0]));
}

export async function render(main, params, ctx) {
  const head = h("h1", null, "Overview");
  const cards = h("div.cards");
  const charts = h("div.charts");
  const topics = h("section");
  main.append(head, cards, h("h2", null, "Throughput"), charts, topics);

  async function refreshCluster() {
    try {
      const [c, t] = await Promise.all([get("/cluster"), get("/topics")]);
      if (!ctx.current()) return;
      cards.replaceChildren(
        card("Broker", "node " + c.node_id, "runnel " + c.version),
        card("Kafka listener", c.kafka_listener, "cluster " + c.cluster_id),
        card("Uptime", fmtDuration(c.uptime_ms), "data in " + c.data_dir),
        card("Topics", fmtNum(c.topic_count), fmtNum(c.partition_count) + " partitions"),
        card("Consumer groups", fmtNum(c.group_count), ""),
        card("Connections", fmtNum(c.connection_count), "Kafka clients"));
      const user = t.topics.filter((x) => !x.internal);
      topics.replaceChildren(h("h2", null, "Topics"), user.length
        ? table([{ label: "Topic" }, { label: "Partitions", num: true }, { label: "Messages", num: true }, { label: "Size", num: true }],
          user.map((x) => [h("a", { href: "#/topics/" + enc(x.name) }, x.name), fmtNum(x.partition_count),
            fmtNum(x.message_count), fmtBytes(x.size_bytes)]))
        : empty("No topics yet", "Create one on the Topics page, or produce with any Kafka client (auto-creation permitting).",
          h("a.button", { href: "#/topics" }, "Go to Topics")));
    } catch (e) {
      if (ctx.current()) cards.replaceChildren(errorBox(e, "Cluster"));
    }
  }

  async function refreshCharts() {
    try {
      await sample();
    } catch (e) {
      if (ctx.current()) charts.replaceChildren(errorBox(e, "Metrics"));
      return;
    }
    if (!ctx.current()) return;
    const rate = (x) => x.toFixed(x < 10 ? 1 : 0);
    charts.replaceChildren(
      chart("Messages in /s", hist.msgs, (x) => rate(x) + " msg/s"),
      chart("Bytes in /s", hist.bin, (x) => fmtBytes(x) + "/s"),
      chart("Bytes out /s", hist.bout, (x) => fmtBytes(x) + "/s"));
  }

  await Promise.all([refreshCluster(), refreshCharts()]);
  ctx.every(refreshCharts, POLL_MS);
  ctx.every(refreshCluster, 5000);
}
