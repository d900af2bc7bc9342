/* topics.js: the topic list, create and delete. */
import { api, empty, enc, errorBox, fmtBytes, fmtNum, get, h, notify, table } from "../api.js";

/* "k=v" lines to an object; throws on a line without "=". */
export function parseKv(text) {
  const out = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    if (i <= 0) throw new Error(`"${line}" is not name=value`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/* An inline "Delete" button that asks again before acting. */
export function deleteButton(label, what, action) {
  const wrap = h("span.confirm");
  const ask = () => {
    const yes = h("button.danger", { type: "button", on: { click: async () => {
      yes.disabled = true;
      try { await action(); } catch (e) { notify(e.code + ": " + e.message, "err"); reset(); }
    } } }, "Yes, delete " + what);
    const no = h("button", { type: "button", on: { click: reset } }, "Cancel");
    wrap.replaceChildren(yes, " ", no);
    no.focus();
  };
  const reset = () => wrap.replaceChildren(h("button", { type: "button", on: { click: ask } }, label));
  reset();
  return wrap;
}

function createForm(onCreated) {
  const name = h("input", { name: "name", required: true, pattern: "[a-zA-Z0-9._-]+", maxlength: 249, placeholder: "orders", autocomplete: "off" });
  const parts = h("input", { name: "partitions", type: "number", min: 1, max: 10000, value: "1" });
  const configs = h("textarea", { name: "configs", rows: 3, placeholder: "retention.ms=86400000\ncleanup.policy=delete" });
  const err = h("div");
  const form = h("form.panel", { on: { submit: async (e) => {
    e.preventDefault();
    err.replaceChildren();
    let cfg;
    try { cfg = parseKv(configs.value); } catch (x) { err.replaceChildren(errorBox({ code: "INVALID_CONFIG", message: x.message })); return; }
    const body = { name: name.value.trim(), partitions: Number(parts.value) || 1 };
    if (Object.keys(cfg).length) body.configs = cfg;
    try {
      await api("POST", "/topics", body);
      notify(`Topic ${body.name} created`);
      form.reset();
      onCreated(body.name);
    } catch (x) { err.replaceChildren(errorBox(x, "Create")); }
  } } },
  h("h2", null, "Create a topic"),
  h("div.grid2", null,
    h("label", null, "Name", name),
    h("label", null, "Partitions", parts)),
  h("label", null, "Configs (one name=value per line, optional)", configs),
  err,
  h("button.primary", { type: "submit" }, "Create topic"));
  return form;
}

export async function render(main, params, ctx) {
  const search = h("input.search", { type: "search", placeholder: "Filter topics  ( / )", "data-search": "", "aria-label": "Filter topics" });
  const internal = h("input", { type: "checkbox" });
  const list = h("section");
  const newBtn = h("button.primary", { type: "button" }, "New topic");
  const formHolder = h("div");
  main.append(h("div.titlebar", null, h("h1", null, "Topics"), newBtn), formHolder,
    h("div.toolbar", null, search, h("label.inline", null, internal, " show internal topics")), list);

  let topics = [];
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = topics.filter((t) => (internal.checked || !t.internal) && t.name.toLowerCase().includes(q));
    if (!topics.some((t) => !t.internal) && !internal.checked) {
      list.replaceChildren(empty("No topics yet", "Create the first one with “New topic”, or produce to a name with any Kafka client."));
      return;
    }
    if (!shown.length) {
      list.replaceChildren(empty("No topic matches", `Nothing is named like “${search.value}”.`));
      return;
    }
    list.replaceChildren(table(
      [{ label: "Topic" }, { label: "Partitions", num: true }, { label: "Messages", num: true }, { label: "Size", num: true }, { label: "" }],
      shown.map((t) => [
        h("span", null, h("a", { href: "#/topics/" + enc(t.name) }, t.name), t.internal ? h("span.tag", null, "internal") : null),
        fmtNum(t.partition_count), fmtNum(t.message_count), fmtBytes(t.size_bytes),
        h("span.actions", null,
          h("a", { href: "#/messages/" + enc(t.name) }, "Messages"), " ",
          h("a", { href: "#/produce/" + enc(t.name) }, "Produce"), " ",
          t.internal ? null : deleteButton("Delete", t.name, async () => {
            await api("DELETE", "/topics/" + enc(t.name));
            notify(`Topic ${t.name} deleted`);
            await load();
          })),
      ]), { cls: "topics" }));
  };
  const load = async () => {
    try {
      topics = (await get("/topics")).topics;
      if (ctx.current()) draw();
    } catch (e) {
      if (ctx.current()) list.replaceChildren(errorBox(e, "Topics"));
    }
  };
  search.addEventListener("input", draw);
  internal.addEventListener("change", draw);
  newBtn.addEventListener("click", () => {
    if (formHolder.firstChild) { formHolder.replaceChildren(); return; }
    formHolder.append(createForm(() => { formHolder.replaceChildren(); load(); }));
    formHolder.querySelector("input").focus();
  });
  if (params.query.get("new") !== null) newBtn.click();
  await load();
  ctx.every(load, 5000);
}
