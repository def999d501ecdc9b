// Element building without HTML strings: every value reaches the page as text or as a
// property, never as markup, so feedback text cannot inject anything.

/** h("a", {href: "#/x", class: "link", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A <select> with [value, label] options. */
export function select(name, options, value, onchange) {
  return h(
    "select",
    { name, "aria-label": name, onchange },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

/** A labelled tile: title, big figure, a line under it. */
export function tile(title, figure, sub, attrs = {}) {
  return h("section", { class: "tile", ...attrs }, h("h3", {}, title), h("p", { class: "figure" }, figure), h("p", { class: "sub" }, sub));
}

/** A table from column definitions [{label, get, class}] and rows. */
export function table(columns, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.get(r)))))),
  );
}

/** Shows `text` as news (not an error) in a status line made with `note` (or any element). */
export function showNote(el, text) {
  el.className = "note";
  el.textContent = text;
}

/** Shows `text` as an error in a status line made with `note` (or any element). */
export function showError(el, text) {
  el.className = "note error";
  el.textContent = text;
}

/** A status line for errors and empty states. */
export function note(text, kind = "info") {
  return h("p", { class: `note ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
