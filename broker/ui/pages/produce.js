/* produce.js: produce one record through POST /topics/{t}/records. */
import { api, empty, enc, errorBox, get, h, notify } from "../api.js";
import { parseKv } from "./topics.js";

export async function render(main, params, ctx) {
  main.append(h("h1", null, "Produce"));
  let topics;
  try {
    topics = (await get("/topics?internal=false")).topics;
  } catch (e) {
    main.append(errorBox(e, "Topics"));
    return;
  }
  if (!ctx.current()) return;
  if (!topics.length) {
    main.append(empty("No topics to produce to", "Create a topic first.", h("a.button", { href: "#/topics?new" }, "Create a topic")));
    return;
  }
  const chosen = topics.find((t) => t.name === params.topic) || topics[0];
  const topicSel = h("select", { name: "topic" }, topics.map((t) => h("option", { value: t.name, selected: t === chosen }, t.name)));
  const partSel = h("select", { name: "partition" });
  const fillParts = () => {
    const t = topics.find((x) => x.name === topicSel.value);
    partSel.replaceChildren(h("option", { value: "" }, "by key (murmur2) / rotating"),
      Array.from({ length: t ? t.partition_count : 0 }, (_, i) => h("option", { value: String(i) }, "partition " + i)));
  };
  topicSel.addEventListener("change", fillParts);
  fillParts();
  const key = h("input", { name: "key", placeholder: "optional, e.g. user-7", autocomplete: "off" });
  const value = h("textarea.mono", { name: "value", rows: 8, placeholder: '{"amount": 150, "currency": "EUR"}', "data-search": "" });
  const format = h("select", { name: "format" },
    h("option", { value: "auto" }, "JSON if it parses, else text"),
    h("option", { value: "string" }, "text"),
    h("option", { value: "null" }, "null (tombstone)"));
  const headers = h("textarea.mono", { name: "headers", rows: 3, placeholder: "source=web\ntrace-id=abc" });
  const err = h("div");
  const results = h("ul.results");

  const form = h("form.panel", { on: { submit: async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const rec = {};
    if (key.value !== "") rec.key = key.value;
    if (format.value === "null") rec.value = null;
    else if (format.value === "string") { rec.value = value.value; rec.value_format = "string"; }
    else {
      try { rec.value = JSON.parse(value.value); } catch { rec.value = value.value; }
      if (typeof rec.value === "string" && rec.value !== value.value) rec.value_format = "json";
    }
    try {
      const hd = parseKv(headers.value);
      if (Object.keys(hd).length) rec.headers = hd;
    } catch (x) {
      err.replaceChildren(errorBox({ code: "BAD_REQUEST", message: "headers: " + x.message }));
      return;
    }
    if (partSel.value !== "") rec.partition = Number(partSel.value);
    try {
      const r = await api("POST", "/topics/" + enc(topicSel.value) + "/records", rec);
      const o = r.offsets[0];
      notify(`Produced to ${topicSel.value} partition ${o.partition} at offset ${o.offset}`);
      results.prepend(h("li", null, `${topicSel.value} / partition ${o.partition} / offset ${o.offset} `,
        h("a", { href: `#/messages/${enc(topicSel.value)}?partition=${o.partition}&offset=${o.offset}` }, "view")));
    } catch (x) {
      err.replaceChildren(errorBox(x, "Produce"));
    }
  } } },
  h("div.grid2", null, h("label", null, "Topic", topicSel), h("label", null, "Partition", partSel)),
  h("div.grid2", null, h("label", null, "Key", key), h("label", null, "Value format", format)),
  h("label", null, "Value", value),
  h("label", null, "Headers (one name=value per line)", headers),
  err,
  h("div.row", null, h("button.primary", { type: "submit" }, "Produce"), h("span.muted", null, " Ctrl+Enter sends")));
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  main.append(form, h("h2", null, "Produced this session"), results);
  value.focus();
}
