// Feedback search (GET /v1/feedback: range, channel, sentiment, emotion, text; keyset pages)
// and its export as CSV or Parquet (GET /v1/feedback/export, same filters).

import { download, get, qs } from "./api.js";
import { fill, h, note, showError } from "./dom.js";
import { feedbackItem } from "./feed.js";
import { filterBar, rangeParams } from "./overview.js";

const EMOTIONS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"];

/** A stored message (GET /v1/feedback) in the shape of a live one, for `feedbackItem`. */
const stored = (it) => ({ ...it, sentiment: { label: it.sentiment_label, score: it.sentiment_score } });

export function render(ctx) {
  let f = { ...ctx.filter, sentiment: "", emotion: "", q: "" };
  const controls = h("div");
  const out = h("div");
  const msg = h("p", { class: "note", role: "status" });
  fill(ctx.view, h("h1", {}, "Feedback"), controls, msg, out);

  const params = () => ({ ...rangeParams(f), channel: f.channel || undefined, sentiment: f.sentiment || undefined, emotion: f.emotion || undefined, q: f.q || undefined });
  const exportAs = (format) => () => download(`/v1/feedback/export${qs({ ...params(), format })}`, `rtcx-feedback.${format}`).catch((e) => showError(msg, `Export failed: ${e.message}`));
  const change = (part) => {
    f = { ...f, ...part };
    search();
  };
  const set = (k) => (e) => change({ [k]: e.target.value });
  // The range and channel carry over to the other views; sentiment, emotion and text do not.
  fill(
    controls,
    filterBar(
      f,
      (part) => (ctx.setFilter(part), change(part)),
      [
          h("label", {}, "Sentiment ", h("select", { name: "sentiment", onchange: set("sentiment") }, h("option", { value: "" }, "any"), ["negative", "neutral", "positive"].map((s) => h("option", { value: s, selected: s === f.sentiment }, s)))),
          h("label", {}, "Emotion ", h("select", { name: "emotion", onchange: set("emotion") }, h("option", { value: "" }, "any"), EMOTIONS.map((s) => h("option", { value: s, selected: s === f.emotion }, s)))),
          h("label", {}, "Text ", h("input", { type: "search", name: "q", value: f.q, onchange: set("q") })),
          h("button", { type: "button", onclick: exportAs("csv") }, "Export CSV"),
        h("button", { type: "button", onclick: exportAs("parquet") }, "Export Parquet"),
      ],
    ),
  );

  let seq = 0;
  async function search(cursor, shown = null) {
    const mine = ++seq;
    try {
      const page = await get("/v1/feedback", { ...params(), limit: 50, cursor });
      if (mine !== seq) return;
      const list = shown || h("ol", { class: "feed", "data-list": "feedback" });
      for (const it of page.items) {
        list.append(feedbackItem(stored(it)));
      }
      fill(out, list.children.length ? list : note("No feedback matches."), page.next_cursor ? h("button", { type: "button", onclick: () => search(page.next_cursor, list) }, "More") : null);
    } catch (e) {
      if (mine === seq) fill(out, note(`Could not search: ${e.message}`, "error"));
    }
  }
  search();
}

/** One message (the link in alert mails and webhooks: /feedback/<id>). */
export async function renderOne(ctx, id) {
  const back = () => h("p", {}, h("a", { href: "#/feedback" }, "← search feedback"));
  fill(ctx.view, back(), note("Loading…"));
  try {
    const it = await get(`/v1/feedback/${id}`);
    fill(
      ctx.view,
      back(),
      h("h1", {}, "Feedback"),
      h("ol", { class: "feed", "data-list": "feedback" }, feedbackItem(stored(it))),
      h(
        "dl",
        { class: "facts" },
        [["customer", it.customer_id], ["segment", it.segment], ["journey stage", it.journey_stage], ["language", it.language], ["rating", it.rating], ["NPS", it.nps], ["CSAT", it.csat]]
          .filter(([, v]) => v !== null && v !== undefined && v !== "")
          .map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]),
      ),
    );
  } catch (e) {
    fill(ctx.view, back(), note(e.status === 404 ? "No such feedback (or its text has expired)." : `Could not load it: ${e.message}`, "error"));
  }
}
