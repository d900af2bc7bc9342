/* groups.js: consumer groups: list, members, lag per partition, reset offsets, delete. */
import { api, empty, enc, errorBox, fmtNum, fmtTime, get, h, notify, table } from "../api.js";
import { deleteButton } from "./topics.js";

async function list(main, params, ctx) {
  const search = h("input.search", { type: "search", placeholder: "Filter groups  ( / )", "data-search": "", "aria-label": "Filter groups" });
  const body = h("section");
  main.append(h("h1", null, "Consumer groups"), h("div.toolbar", null, search), body);
  let groups = [];
  const draw = () => {
    if (!groups.length) {
      body.replaceChildren(empty("No consumer groups", "Groups appear when a Kafka consumer joins with a group.id or commits offsets."));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const shown = groups.filter((g) => g.group_id.toLowerCase().includes(q));
    body.replaceChildren(shown.length ? table(
      [{ label: "Group" }, { label: "State" }, { label: "Protocol" }, { label: "Members", num: true }, { label: "Partitions committed", num: true }, { label: "Lag", num: true }],
      shown.map((g) => [h("a", { href: "#/groups/" + enc(g.group_id) }, g.group_id), stateTag(g.state),
        [g.protocol_type, g.protocol].filter(Boolean).join(" / ") || "–", fmtNum(g.member_count), fmtNum(g.committed_offsets), lagCell(g.lag)]))
      : empty("No group matches", `Nothing is named like “${search.value}”.`));
  };
  const load = async () => {
    try {
      groups = (await get("/groups")).groups;
      if (ctx.current()) draw();
    } catch (e) {
      if (ctx.current()) body.replaceChildren(errorBox(e, "Groups"));
    }
  };
  search.addEventListener("input", draw);
  await load();
  ctx.every(load, 5000);
}

function stateTag(s) {
  return h("span.tag" + (s === "Stable" ? ".tag-on" : ""), null, s || "–");
}

function lagCell(l) {
  if (l === null || l === undefined) return h("span.muted", null, "–");
  return h("span" + (l > 0 ? ".warn" : ""), null, fmtNum(l));
}

function resetForm(g, reload) {
  const topics = [...new Set((g.offsets || []).map((o) => o.topic))];
  const to = h("select", { name: "to" }, ["earliest", "latest", "offset", "timestamp"].map((x) => h("option", { value: x }, x)));
  const topic = h("select", { name: "topic" }, h("option", { value: "" }, "every committed partition"), topics.map((t) => h("option", { value: t }, t)));
  const offset = h("input", { name: "offset", type: "number", min: 0, placeholder: "offset", hidden: true });
  const ts = h("input", { name: "timestamp", type: "datetime-local", step: 1, hidden: true });
  const dry = h("input", { type: "checkbox", name: "dry_run", checked: true });
  const out = h("div");
  to.addEventListener("change", () => { offset.hidden = to.value !== "offset"; ts.hidden = to.value !== "timestamp"; });
  const form = h("form.panel", { on: { submit: async (e) => {
    e.preventDefault();
    const body = { to: to.value, dry_run: dry.checked };
    if (topic.value) body.topic = topic.value;
    if (to.value === "offset") body.offset = Number(offset.value || 0);
    if (to.value === "timestamp") {
      if (!ts.value) { out.replaceChildren(errorBox({ code: "BAD_REQUEST", message: "choose a time" })); return; }
      body.timestamp = new Date(ts.value).getTime();
    }
    try {
      const r = await api("POST", "/groups/" + enc(g.group_id) + "/reset-offsets", body);
      const offs = r.offsets || [];
      out.replaceChildren(h("p", null, body.dry_run ? "Dry run, nothing committed:" : "Committed:"),
        table([{ label: "Topic" }, { label: "Partition", num: true }, { label: "Previous", num: true }, { label: "New offset", num: true }],
          offs.map((o) => [o.topic, String(o.partition), fmtNum(o.previous_offset), fmtNum(o.offset)])));
      if (!body.dry_run) { notify("Offsets of " + g.group_id + " reset"); reload(); }
    } catch (x) {
      out.replaceChildren(h("div", null, errorBox(x, "Reset"), x.code === "NON_EMPTY_GROUP" ? h("p.muted", null, "Stop the group's consumers first: only a group without members can be reset.") : null));
    }
  } } },
  h("h2", null, "Reset offsets"),
  h("div.toolbar", null, h("label", null, "To ", to), offset, ts, h("label", null, "Topic ", topic),
    h("label.inline", null, dry, " dry run"), h("button.primary", { type: "submit" }, "Reset")),
  out);
  return form;
}

async function detail(main, params, ctx) {
  const id = params.group;
  const head = h("div.titlebar", null, h("h1", null, id),
    deleteButton("Delete group", id, async () => {
      await api("DELETE", "/groups/" + enc(id));
      notify("Group " + id + " deleted");
      location.hash = "#/groups";
    }));
  const body = h("section");
  const reset = h("section");
  main.append(head, h("p", null, h("a", { href: "#/groups" }, "← all groups")), body, reset);
  let first = true;
  const load = async () => {
    let g;
    try {
      g = await get("/groups/" + enc(id));
    } catch (e) {
      if (ctx.current()) body.replaceChildren(errorBox(e, "Group"));
      return;
    }
    if (!ctx.current()) return;
    const members = g.members || [];
    const offsets = g.offsets || [];
    body.replaceChildren(
      h("div.cards", null,
        h("div.card", null, h("div.card-label", null, "State"), h("div.card-value", null, stateTag(g.state))),
        h("div.card", null, h("div.card-label", null, "Members"), h("div.card-value", null, fmtNum(members.length))),
        h("div.card", null, h("div.card-label", null, "Total lag"), h("div.card-value", null, lagCell(g.lag))),
        h("div.card", null, h("div.card-label", null, "Generation"), h("div.card-value", null, g.generation ?? "–"),
          h("div.card-sub", null, [g.protocol_type, g.protocol].filter(Boolean).join(" / ")))),
      h("h2", null, "Members"),
      members.length ? table([{ label: "Member" }, { label: "Client" }, { label: "Host" }, { label: "Assignment" }],
        members.map((m) => [h("span.small", null, m.member_id + (m.member_id === g.leader ? " (leader)" : "")), m.client_id, m.client_host,
          (m.assignment || []).map((a) => a.topic + " [" + a.partitions.join(", ") + "]").join("; ") || "–"]))
        : empty("No active members", "No consumer of this group is connected; its committed offsets stay."),
      h("h2", null, "Offsets and lag"),
      offsets.length ? table([{ label: "Topic" }, { label: "Partition", num: true }, { label: "Committed", num: true }, { label: "Log end", num: true }, { label: "Lag", num: true }, { label: "Committed at" }],
        offsets.map((o) => [h("a", { href: "#/topics/" + enc(o.topic) }, o.topic), String(o.partition), fmtNum(o.committed_offset),
          fmtNum(o.log_end_offset), lagCell(o.lag), fmtTime(o.commit_timestamp)]), { cls: "offsets" })
        : empty("No committed offsets", "The group has not committed any offset yet."));
    if (first) { reset.replaceChildren(resetForm(g, load)); first = false; }
  };
  await load();
  ctx.every(load, 5000);
}

export async function render(main, params, ctx) {
  return params.group ? detail(main, params, ctx) : list(main, params, ctx);
}
