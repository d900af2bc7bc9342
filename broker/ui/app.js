/*
 * app.js: the hash router, navigation and keyboard shortcuts.
 *
 * Routes (location.hash):
 *   #/                      overview          pages/overview.js
 *   #/topics                topic list        pages/topics.js
 *   #/topics/NAME           topic detail      pages/topic.js
 *   #/messages[/NAME]       message browser   pages/messages.js
 *   #/produce[/NAME]        produce form      pages/produce.js
 *   #/groups[/ID]           consumer groups   pages/groups.js
 *   #/functions[?new]       stream functions  pages/functions.js
 *   #/functions/NAME        one function      pages/functions.js
 * Query parameters after the route (#/messages/t?partition=0) reach the
 * page as params.query.
 *
 * A page module exports render(main, params, ctx); ctx.every(fn, ms)
 * repeats fn while the page is shown and ctx.onLeave(fn) runs fn when
 * the user navigates away (both stop timers and event sources).
 */
import { errorBox, h } from "./api.js";

const ROUTES = [
  [/^\/?$/, "overview", "./pages/overview.js", []],
  [/^\/topics\/?$/, "topics", "./pages/topics.js", []],
  [/^\/topics\/([^/]+)$/, "topics", "./pages/topic.js", ["topic"]],
  [/^\/messages(?:\/([^/]+))?$/, "messages", "./pages/messages.js", ["topic"]],
  [/^\/produce(?:\/([^/]+))?$/, "produce", "./pages/produce.js", ["topic"]],
  [/^\/groups\/?$/, "groups", "./pages/groups.js", []],
  [/^\/groups\/([^/]+)$/, "groups", "./pages/groups.js", ["group"]],
  [/^\/functions\/?$/, "functions", "./pages/functions.js", []],
  [/^\/functions\/([^/]+)$/, "functions", "./pages/functions.js", ["fn"]],
];

let leaving = [];
let generation = 0;

function leave() {
  for (const fn of leaving) {
    try { fn(); } catch (e) { console.warn("cleanup failed", e); }
  }
  leaving = [];
}

async function route() {
  leave();
  const gen = ++generation;
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?", 2);
  const main = document.getElementById("main");
  let hit = null;
  for (const [re, nav, mod, names] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const params = { query: new URLSearchParams(qs || "") };
    names.forEach((n, i) => { if (m[i + 1] !== undefined) params[n] = decodeURIComponent(m[i + 1]); });
    hit = { nav, mod, params };
    break;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", hit !== null && a.dataset.nav === hit.nav);
    if (hit && a.dataset.nav === hit.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!hit) {
    main.replaceChildren(h("div.empty", null, h("h3", null, "Page not found"),
      h("p", null, "Nothing lives at #" + path + ". "), h("a", { href: "#/" }, "Back to the overview")));
    return;
  }
  const ctx = {
    every(fn, ms) {
      const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
      leaving.push(() => clearInterval(id));
    },
    onLeave(fn) { leaving.push(fn); },
    current: () => gen === generation,
  };
  try {
    const page = await import(hit.mod);
    if (gen !== generation) return;
    main.replaceChildren();
    await page.render(main, hit.params, ctx);
  } catch (e) {
    if (gen !== generation) return;
    console.warn(e);
    main.replaceChildren(errorBox(e, "This page failed"));
  }
  if (gen === generation) {
    const title = main.querySelector("h1");
    document.title = (title ? title.textContent + " · " : "") + "runnel";
  }
}

function typing(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape" && typing(document.activeElement)) {
    document.activeElement.blur();
    return;
  }
  if (typing(e.target) || document.querySelector("dialog[open]")) return;
  const nav = [...document.querySelectorAll("#nav a")];
  if (/^[1-9]$/.test(e.key) && nav[Number(e.key) - 1]) {
    e.preventDefault();
    location.hash = nav[Number(e.key) - 1].getAttribute("href");
  } else if (e.key === "/") {
    const f = document.querySelector("#main [data-search]");
    if (f) { e.preventDefault(); f.focus(); f.select && f.select(); }
  } else if (e.key === "r") {
    e.preventDefault();
    route();
  } else if (e.key === "?") {
    e.preventDefault();
    document.getElementById("help").showModal();
  }
});

window.addEventListener("hashchange", route);
route();
