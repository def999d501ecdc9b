// Live: newly analysed feedback (rooms channel:<name>, filtered by sentiment on the server)
// and alerts as they are raised or change (room "alerts"). At most MAX_ITEMS are kept on the
// page, so an open tab's memory stays bounded however long it runs.

import { fill, h, note } from "./dom.js";
import { ago, label, num2, when } from "./format.js";
import { CHANNELS } from "./overview.js";
import * as live from "./live.js";

export const MAX_ITEMS = 200;
const SENTIMENTS = ["negative", "neutral", "positive"];

export function feedbackItem(d) {
  return h(
    "li",
    { class: `item ${d.sentiment.label}`, "data-id": d.id },
    h("p", { class: "meta" }, h("span", { class: `pill ${d.sentiment.label}` }, d.sentiment.label), ` ${d.channel.replace("_", " ")} · ${label(d.dominant_emotion)} · score ${num2(d.sentiment.score)} · ${when(d.occurred_at)}`),
    h("p", { class: "text" }, d.text),
    d.key_phrases.length ? h("p", { class: "phrases" }, d.key_phrases.join(" · ")) : null,
  );
}

export function alertItem(m) {
  const a = m.data;
  return h(
    "li",
    { class: `item alert sev-${a.severity.toLowerCase()}`, "data-alert": a.id },
    h("p", { class: "meta" }, h("span", { class: `pill sev-${a.severity.toLowerCase()}` }, a.severity), ` ${label(m.event_type)} · ${label(a.alert_type)} · ${ago(a.created_at)}`),
    h("p", { class: "text" }, h("a", { href: `#/alerts/${a.id}` }, a.title)),
  );
}

function prepend(list, item) {
  list.prepend(item);
  while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
}

export function render(ctx) {
  const channels = new Set(CHANNELS);
  const sentiments = new Set(SENTIMENTS);
  const feed = h("ol", { class: "feed", "data-feed": "feedback", "aria-live": "polite" });
  const alerts = h("ol", { class: "feed", "data-feed": "alerts", "aria-live": "polite" });
  const sub = (c) => live.subscribe(`channel:${c}`, { sentiment: [...sentiments] });
  const resubscribe = () => {
    for (const c of CHANNELS) {
      if (channels.has(c) && sentiments.size) sub(c);
      else live.unsubscribe(`channel:${c}`);
    }
  };
  const toggle = (set, v, after) => (e) => {
    if (e.target.checked) set.add(v);
    else set.delete(v);
    after();
  };
  fill(
    ctx.view,
    h("h1", {}, "Live"),
    h(
      "form",
      { class: "filters", onsubmit: (e) => e.preventDefault() },
      h("fieldset", {}, h("legend", {}, "Channels"), CHANNELS.map((c) => h("label", {}, h("input", { type: "checkbox", name: "channel", value: c, checked: true, onchange: toggle(channels, c, resubscribe) }), ` ${c.replace("_", " ")}`))),
      h("fieldset", {}, h("legend", {}, "Sentiment"), SENTIMENTS.map((s) => h("label", {}, h("input", { type: "checkbox", name: "sentiment", value: s, checked: true, onchange: toggle(sentiments, s, resubscribe) }), ` ${s}`))),
    ),
    h("div", { class: "grid" }, h("section", { class: "panel" }, h("h2", {}, "New feedback"), feed), h("section", { class: "panel" }, h("h2", {}, "Alerts"), alerts)),
    note(`Newest first; the last ${MAX_ITEMS} of each are kept.`),
  );
  resubscribe();
  live.subscribe("alerts", {});
  const offs = [live.on("feedback", (m) => prepend(feed, feedbackItem(m.data))), live.on("alert", (m) => prepend(alerts, alertItem(m)))];
  return () => {
    offs.forEach((f) => f());
    CHANNELS.forEach((c) => live.unsubscribe(`channel:${c}`));
  };
}
