/* topic.js: one topic: partitions with offsets and sizes, configs (edit), delete. */
import { api, enc, errorBox, fmtBytes, fmtNum, get, h, notify, table } from "../api.js";
import { deleteButton } from "./topics.js";

function configRow(topic, c, reload) {
  const cell = h("td.cfg-value", null, c.sensitive ? h("span.muted", null, "(hidden)") : (c.value ?? h("span.muted", null, "null")));
  const actions = h("td.actions");
  const edit = () => {
    const input = h("input", { value: c.value ?? "", "aria-label": c.name });
    const save = async (value) => {
      try {
        await api("PATCH", "/topics/" + enc(topic) + "/configs", { configs: { [c.name]: value } });
        notify(value === null ? `${c.name} reset to its default` : `${c.name} = ${value}`);
        reload();
      } catch (e) { notify(e.code + ": " + e.message, "err"); }
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save(input.value);
      if (e.key === "Escape") reload();
    });
    cell.replaceChildren(input);
    actions.replaceChildren(h("span", null, h("button", { type: "button", on: { click: () => save(input.value) } }, "Save"), " ",
      c.source === "topic" ? h("button", { type: "button", on: { click: () => save(null) } }, "Reset") : null, " ",
      h("button", { type: "button", on: { click: reload } }, "Cancel")));
    input.focus();
  };
  if (!c.read_only) actions.append(h("button.link", { type: "button", on: { click: edit }, title: "Edit " + c.name }, "Edit"));
  return h("tr", { class: c.source === "topic" ? "override" : null },
    h("td", null, h("span", { title: c.doc || "" }, c.name)), cell,
    h("td", null, h("span.tag" + (c.source === "topic" ? ".tag-on" : ""), null, c.source)), actions);
}

export async function render(main, params, ctx) {
  const name = params.topic;
  const summary = h("div.cards");
  const parts = h("section");
  const configs = h("section");
  main.append(
    h("div.titlebar", null, h("h1", null, name),
      h("span.actions", null,
        h("a.button", { href: "#/messages/" + enc(name) }, "Browse messages"), " ",
        h("a.button", { href: "#/produce/" + enc(name) }, "Produce"), " ",
        deleteButton("Delete topic", name, async () => {
          await api("DELETE", "/topics/" + enc(name));
          notify(`Topic ${name} deleted`);
          location.hash = "#/topics";
        }))),
    h("p", null, h("a", { href: "#/topics" }, "← all topics")),
    summary, parts, configs);

  const loadParts = async () => {
    const t = await get("/topics/" + enc(name));
    if (!ctx.current()) return;
    summary.replaceChildren(
      h("div.card", null, h("div.card-label", null, "Partitions"), h("div.card-value", null, fmtNum(t.partition_count))),
      h("div.card", null, h("div.card-label", null, "Messages"), h("div.card-value", null, fmtNum(t.message_count))),
      h("div.card", null, h("div.card-label", null, "Size"), h("div.card-value", null, fmtBytes(t.size_bytes))),
      h("div.card", null, h("div.card-label", null, "Topic id"), h("div.card-value.small", null, t.id)));
    parts.replaceChildren(h("h2", null, "Partitions"), table(
      [{ label: "Partition", num: true }, { label: "Earliest offset", num: true }, { label: "Latest offset", num: true },
        { label: "Messages", num: true }, { label: "Size", num: true }, { label: "Segments", num: true }, { label: "Leader", num: true }, { label: "Status" }],
      t.partitions.map((p) => [
        h("a", { href: `#/messages/${enc(name)}?partition=${p.partition}` }, String(p.partition)),
        fmtNum(p.earliest_offset), fmtNum(p.latest_offset), fmtNum(p.latest_offset - p.earliest_offset),
        fmtBytes(p.size_bytes), fmtNum(p.segments), String(p.leader),
        p.error ? h("span.bad", null, p.error) : h("span.good", null, "ok")])));
  };
  const loadConfigs = async () => {
    try {
      const c = await get("/topics/" + enc(name) + "/configs");
      if (!ctx.current()) return;
      const rows = c.configs.map((x) => configRow(name, x, loadConfigs));
      configs.replaceChildren(h("h2", null, "Configs"),
        h("p.muted", null, "Highlighted rows are overrides on this topic; the others come from the broker or the defaults. Hover a name for its description."),
        table([{ label: "Name" }, { label: "Value" }, { label: "Source" }, { label: "" }], rows, { cls: "configs" }));
    } catch (e) {
      if (ctx.current()) configs.replaceChildren(errorBox(e, "Configs"));
    }
  };
  try {
    await loadParts();
  } catch (e) {
    main.replaceChildren(h("h1", null, name), errorBox(e, "Topic"), h("p", null, h("a", { href: "#/topics" }, "← all topics")));
    return;
  }
  await loadConfigs();
  ctx.every(() => loadParts().catch(() => {}), 5000);
}
