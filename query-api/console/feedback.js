// Feedback search (GET /v1/feedback: range, channel, sentiment, emotion, text; keyset pages),
// search by meaning (GET /v1/feedback/similar?text=…, same filters, nearest first) and the
// export as CSV or Parquet (GET /v1/feedback/export, same filters). One message's page shows
// its topics and why each was given, lets those who manage topics correct them
// (POST /v1/feedback/{id}/topics), and lists the feedback nearest to it in meaning.

import { api, can, download, get, qs } from "./api.js";
import { fill, h, note, showError, showNote } from "./dom.js";
import { feedbackItem } from "./feed.js";
import { filterBar, rangeParams } from "./overview.js";
import { topicLink } from "./topic.js";

const EMOTIONS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"];

/** A stored message (GET /v1/feedback) in the shape of a live one, for `feedbackItem`. */
const stored = (it) => ({ ...it, sentiment: { label: it.sentiment_label, score: it.sentiment_score } });

/** A neighbour found by meaning: the stored message, its similarity and a link to it. */
function neighbour(it) {
  const li = feedbackItem(stored(it));
  li.append(h("p", { class: "meta" }, `similarity ${it.similarity.toFixed(2)} · `, h("a", { href: `#/feedback/${it.id}` }, "open")));
  return li;
}

export function render(ctx) {
  let f = { ...ctx.filter, sentiment: "", emotion: "", q: "", meaning: "" };
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
          h("label", {}, "Meaning ", h("input", { type: "search", name: "meaning", value: f.meaning, placeholder: "e.g. parcel never arrived", onchange: set("meaning") })),
          h("button", { type: "button", onclick: exportAs("csv") }, "Export CSV"),
        h("button", { type: "button", onclick: exportAs("parquet") }, "Export Parquet"),
      ],
    ),
  );

  let seq = 0;
  async function search(cursor, shown = null) {
    const mine = ++seq;
    if (f.meaning.trim()) return searchByMeaning(mine);
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
  // The 50 stored messages nearest in meaning to the text (one page, most similar first).
  async function searchByMeaning(mine) {
    try {
      const page = await get("/v1/feedback/similar", { ...params(), text: f.meaning.trim(), limit: 50 });
      if (mine !== seq) return;
      fill(out, page.items.length ? h("ol", { class: "feed", "data-list": "similar" }, page.items.map(neighbour)) : note("Nothing stored is near that meaning."));
    } catch (e) {
      if (mine === seq) fill(out, note(`Could not search: ${e.message}`, "error"));
    }
  }
  search();
}

/** Why a topic was given (`topic_reasons[i]` goes with `topic_ids[i]`: the processors' `TopicReason`). */
function reason(r) {
  if (r?.by === "keyword") return `keyword "${r.keyword}"`;
  if (r?.by === "similarity") {
    const near = r.example_cosine === undefined ? "" : `, nearest example ${r.example_cosine.toFixed(2)}`;
    return `similarity ${r.score.toFixed(2)} ≥ threshold ${r.threshold.toFixed(2)}${near}`;
  }
  return "reason not recorded";
}

/** The message's topics, and (for those who manage topics) "is / is not about" corrections. */
async function topicsOf(it, el) {
  try {
    // Only those who correct need the catalogue to choose from (active topics).
    const all = can("manage_topics") ? await get("/v1/topics") : [];
    const msg = h("p", { class: "note", role: "status", "data-note": "correction" });
    const pick = h("select", { name: "topic", "aria-label": "topic" }, all.map((t) => h("option", { value: t.id }, t.name)));
    const correct = (about) => async () => {
      try {
        await api("POST", `/v1/feedback/${it.id}/topics`, { topic_id: pick.value, about });
        const name = pick.selectedOptions[0].textContent;
        showNote(msg, `Saved as ${about ? "an example" : "a counter-example"} of ${name}: new feedback is assigned with it once the processors reload the catalogue.`);
      } catch (e) {
        showError(msg, e.message);
      }
    };
    fill(
      el,
      h("h2", {}, "Topics"),
      it.topic_ids.length
        ? h("ul", { "data-list": "topics" }, it.topic_ids.map((t, i) => h("li", {}, topicLink(t), ` · ${reason((it.topic_reasons || [])[i])}`)))
        : note("No topic."),
      all.length
        ? h("form", { class: "inline", "data-form": "correct", onsubmit: (e) => e.preventDefault() }, pick, h("button", { type: "button", "data-action": "about", onclick: correct(true) }, "Is about it"), h("button", { type: "button", "data-action": "not-about", onclick: correct(false) }, "Is not about it"))
        : null,
      msg,
    );
  } catch (e) {
    fill(el, note(`Could not load topics: ${e.message}`, "error"));
  }
}

/** The feedback nearest in meaning to a stored one (its stored embedding). */
async function similarTo(id, el) {
  try {
    const page = await get("/v1/feedback/similar", { id, limit: 10 });
    fill(el, h("h2", {}, "Similar feedback (last 30 days)"), page.items.length ? h("ol", { class: "feed", "data-list": "similar" }, page.items.map(neighbour)) : note("Nothing similar stored."));
  } catch (e) {
    fill(el, note(`Could not find similar feedback: ${e.message}`, "error"));
  }
}

/** One message (the link in alert mails and webhooks: /feedback/<id>). */
export async function renderOne(ctx, id) {
  const back = () => h("p", {}, h("a", { href: "#/feedback" }, "← search feedback"));
  fill(ctx.view, back(), note("Loading…"));
  const topics = h("section", { class: "panel", "data-panel": "topics" });
  const similar = h("section", { class: "panel", "data-panel": "similar" });
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
      h("div", { class: "grid" }, topics, similar),
    );
    topicsOf(it, topics);
    similarTo(id, similar);
  } catch (e) {
    fill(ctx.view, back(), note(e.status === 404 ? "No such feedback (or its text has expired)." : `Could not load it: ${e.message}`, "error"));
  }
}
