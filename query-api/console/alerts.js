// Alerts: the list (filters, pages, refreshed live when an alert event arrives) and one alert
// with its evidence, its window on a chart, the workflow (assign, status with resolution
// notes, severity, comments) and its history. Actions a role may not take are not shown; the
// API checks them again.

import { api, can, get, user } from "./api.js";
import { alertWindow } from "./charts.js";
import { fill, h, note, showError, table } from "./dom.js";
import { ago, label, num, num2, when } from "./format.js";
import * as live from "./live.js";
import { topicLink } from "./topic.js";

const STATUSES = ["OPEN", "IN_PROGRESS", "RESOLVED", "DISMISSED"];
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const TYPES = ["SENTIMENT_SPIKE", "HIGH_VOLUME_NEGATIVE", "TRENDING_TOPIC", "CHANNEL_PERFORMANCE", "CUSTOMER_CHURN_RISK", "SYSTEM_ANOMALY"];
/** The workflow (query-api alerts::workflow::allowed). */
const NEXT = { OPEN: ["IN_PROGRESS", "RESOLVED", "DISMISSED"], IN_PROGRESS: ["OPEN", "RESOLVED", "DISMISSED"], RESOLVED: ["OPEN"], DISMISSED: ["OPEN"] };
const VERB = { OPEN: "Re-open", IN_PROGRESS: "Start work", RESOLVED: "Resolve", DISMISSED: "Dismiss" };

const sev = (s) => h("span", { class: `pill sev-${s.toLowerCase()}` }, s);
const status = (s) => h("span", { class: `pill status-${s.toLowerCase()}` }, label(s));

function choice(name, values, value, onchange, all = "any") {
  return h("label", {}, `${label(name)} `, h("select", { name, onchange }, h("option", { value: "" }, all), values.map((v) => (Array.isArray(v) ? v : [v, label(v)])).map(([v, l]) => h("option", { value: v, selected: v === value }, l))));
}

export function renderList(ctx) {
  const f = { status: "", severity: "", alert_type: "", assignee: "", q: "", ...ctx.alertFilter };
  const controls = h("form", { class: "filters", onsubmit: (e) => (e.preventDefault(), reload()) });
  const out = h("div");
  fill(ctx.view, h("h1", {}, "Alerts"), controls, out);
  const set = (k) => (e) => ((f[k] = e.target.value), (ctx.alertFilter = { ...f }), reload());
  fill(
    controls,
    choice("status", STATUSES, f.status, set("status")),
    choice("severity", SEVERITIES, f.severity, set("severity")),
    choice("alert_type", TYPES, f.alert_type, set("alert_type")),
    choice("assignee", [["me", "me"], ["none", "nobody"]], f.assignee, set("assignee"), "anyone"),
    h("label", {}, "Search ", h("input", { type: "search", name: "q", value: f.q, onchange: set("q") })),
  );
  let seq = 0;
  let pending = null;
  async function reload(cursor, rows = []) {
    const mine = ++seq;
    try {
      const page = await get("/v1/alerts", { ...f, limit: 50, cursor });
      if (mine !== seq) return;
      const all = rows.concat(page.items);
      const columns = [
        { label: "severity", get: (a) => sev(a.severity) },
        { label: "alert", get: (a) => h("a", { href: `#/alerts/${a.id}` }, a.title) },
        { label: "type", get: (a) => label(a.alert_type) },
        { label: "status", get: (a) => status(a.status) },
        { label: "raised", get: (a) => h("time", { datetime: a.created_at, title: when(a.created_at) }, ago(a.created_at)) },
      ];
      fill(out, all.length ? table(columns, all, { "data-table": "alerts" }) : note("No alert matches."), page.next_cursor ? h("button", { type: "button", onclick: () => reload(page.next_cursor, all) }, "More") : null);
    } catch (e) {
      if (mine === seq) fill(out, note(`Could not load alerts: ${e.message}`, "error"));
    }
  }
  reload();
  // Any alert event may change the list: read it again (at most twice a second).
  const off = live.on("alert", () => {
    clearTimeout(pending);
    pending = setTimeout(() => reload(), 500);
  });
  return () => (off(), clearTimeout(pending));
}

function evidence(a) {
  const ev = a.evidence || {};
  const parts = [];
  const wc = ev.what_changed;
  if (wc && (wc.key_phrases?.length || wc.topics?.length)) {
    const terms = (rows, name, show = (t) => t) => (rows?.length ? table([{ label: name, get: (c) => show(c.term) }, { label: "in the incident", get: (c) => num(c.incident), class: "n" }, { label: "expected", get: (c) => num(c.expected), class: "n" }, { label: "lift", get: (c) => `×${num2(c.lift)}`, class: "n" }], rows.slice(0, 10)) : null);
    parts.push(h("h3", {}, "What changed"), terms(wc.key_phrases, "key phrase"), terms(wc.topics, "topic", topicLink));
  }
  if (ev.most_negative?.length) {
    parts.push(h("h3", {}, "Sample feedback"), h("ul", { class: "samples" }, ev.most_negative.map((s) => h("li", {}, h("q", {}, s.text), h("span", { class: "meta" }, ` score ${num2(s.sentiment_score)} · ${when(s.occurred_at)}`)))));
  }
  const rest = Object.entries(ev).filter(([k]) => k !== "most_negative" && k !== "what_changed");
  if (rest.length) parts.push(h("h3", {}, "Figures"), h("dl", { class: "facts" }, rest.map(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])));
  return parts;
}

function history(a) {
  return h(
    "ol",
    { class: "history", "data-list": "history" },
    a.history.map((e) =>
      h("li", {}, h("p", { class: "meta" }, `${when(e.changed_at)} · ${e.changed_by_name || "rtcx"} · ${label(e.action)}${e.new_status ? ` → ${label(e.new_status)}` : ""}`), e.note ? h("p", {}, e.note) : null),
    ),
  );
}

// Active people who can be assigned: up to five pages of 100, and always the signed-in user
// (an organisation with more people still finds itself in the list).
async function assignees() {
  if (!can("read_users")) return [];
  const people = [];
  let after;
  for (let pages = 0; pages < 5; pages++) {
    const page = await get("/v1/users", { active: "true", limit: 100, after });
    people.push(...page.items.filter((u) => u.role !== "API_USER"));
    if (!page.next_after) break;
    after = page.next_after;
  }
  const me = user();
  if (me && me.role !== "API_USER" && !people.some((u) => u.id === me.id)) people.unshift(me);
  return people;
}

function actions(a, redraw, users) {
  const me = user();
  const message = h("p", { class: "note", role: "status" });
  const act = async (method, path, body) => {
    try {
      await api(method, path, body);
      await redraw();
    } catch (e) {
      showError(message, e.message);
    }
  };
  const out = [];
  if (can("handle_alerts")) {
    if (can("manage_alerts") && users.length) {
      const pick = h("select", { name: "assignee", "aria-label": "assignee" }, h("option", { value: "" }, "nobody"), users.map((u) => h("option", { value: u.id, selected: u.id === a.assignee_id }, `${u.display_name} (${u.role})`)));
      out.push(h("form", { class: "inline", "data-form": "assign", onsubmit: (e) => (e.preventDefault(), act("PUT", `/v1/alerts/${a.id}/assignee`, { assignee_id: pick.value || null })) }, h("label", {}, "Assignee ", pick), h("button", {}, "Assign")));
    } else if (a.assignee_id === me.id) {
      out.push(h("button", { type: "button", "data-action": "unassign", onclick: () => act("PUT", `/v1/alerts/${a.id}/assignee`, { assignee_id: null }) }, "Give back"));
    } else if (!a.assignee_id) {
      out.push(h("button", { type: "button", "data-action": "take", onclick: () => act("PUT", `/v1/alerts/${a.id}/assignee`, { assignee_id: me.id }) }, "Take it"));
    }
    const notes = h("textarea", { name: "notes", rows: 3, maxlength: 4000, "aria-label": "note or resolution notes", placeholder: "Note (required to resolve or dismiss)" });
    const buttons = (NEXT[a.status] || []).map((s) =>
      h("button", { type: "button", "data-status": s, onclick: () => act("POST", `/v1/alerts/${a.id}/status`, s === "RESOLVED" || s === "DISMISSED" ? { status: s, resolution_notes: notes.value } : { status: s, note: notes.value || null }) }, VERB[s]),
    );
    out.push(h("div", { class: "workflow" }, notes, h("div", { class: "buttons" }, buttons, h("button", { type: "button", "data-action": "comment", onclick: () => notes.value.trim() && act("POST", `/v1/alerts/${a.id}/comments`, { text: notes.value }) }, "Comment"))));
  }
  if (can("manage_alerts")) {
    const pick = h("select", { name: "severity", "aria-label": "severity" }, SEVERITIES.map((s) => h("option", { value: s, selected: s === a.severity }, s)));
    out.push(h("form", { class: "inline", "data-form": "severity", onsubmit: (e) => (e.preventDefault(), act("PUT", `/v1/alerts/${a.id}/severity`, { severity: pick.value })) }, h("label", {}, "Severity ", pick), h("button", {}, "Change")));
  }
  out.push(message);
  return out;
}

export function renderOne(ctx, id) {
  const back = () => h("p", {}, h("a", { href: "#/alerts" }, "← all alerts"));
  let chart = null;
  async function draw() {
    try {
      const [a, users] = await Promise.all([get(`/v1/alerts/${id}`), assignees().catch(() => [])]);
      const who = users.find((u) => u.id === a.assignee_id);
      const chartBox = h("div", { class: "chart", "data-chart": "alert-window" });
      fill(
        ctx.view,
        back(),
        h("h1", {}, a.title),
        h("p", { class: "meta", "data-alert-state": a.status }, sev(a.severity), " ", status(a.status), ` · ${label(a.alert_type)} · raised ${when(a.created_at)} · assignee: `, h("span", { "data-field": "assignee" }, a.assignee_id ? (who ? who.display_name : a.assignee_id === user().id ? user().display_name : a.assignee_id) : "nobody")),
        h("p", {}, a.description),
        h(
          "dl",
          { class: "facts" },
          a.observed === null ? null : [h("dt", {}, "measured"), h("dd", {}, `${label(a.metric)}: ${num2(a.observed)} (peak ${num2(a.peak_observed)}) against ${num2(a.baseline)} expected`)],
          h("dt", {}, "window"), h("dd", {}, `${when(a.window_start)} – ${when(a.window_end)}`),
          h("dt", {}, "about"), h("dd", {}, Object.entries(a.dimension || {}).map(([k, v]) => `${label(k)} ${v}`).join(", ") || "everything"),
          a.resolution_notes ? [h("dt", {}, "resolution"), h("dd", { "data-field": "resolution" }, a.resolution_notes)] : null,
        ),
        h("div", { class: "grid" }, h("section", { class: "panel" }, h("h2", {}, "The window"), chartBox), h("section", { class: "panel" }, h("h2", {}, "Act"), actions(a, draw, users))),
        h("section", { class: "panel" }, h("h2", {}, "Evidence"), evidence(a)),
        h("section", { class: "panel" }, h("h2", {}, "History"), history(a)),
      );
      const start = new Date(new Date(a.window_start).getTime() - 12 * 3600e3).toISOString();
      const end = new Date(Math.min(Date.now(), new Date(a.window_end).getTime() + 6 * 3600e3)).toISOString();
      const trend = await get("/v1/dashboard/sentiment-trend", { from: start, to: end, interval: "hour", channel: a.dimension?.channel });
      if (chart) chart.destroy();
      chart = trend.length ? alertWindow(chartBox, trend, a.window_start, a.window_end) : null;
    } catch (e) {
      fill(ctx.view, back(), note(e.status === 404 ? "No such alert." : `Could not load the alert: ${e.message}`, "error"));
    }
  }
  draw();
  const off = live.on("alert", (m) => m.data.id === id && draw());
  return () => off();
}
