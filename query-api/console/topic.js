// One topic (#/topics/<id>): how well it is defined (GET /v1/topics/{id}/quality), its
// example messages and counter-examples (list, add, remove), and applying it to past feedback
// (POST /v1/topic-reassignments: the last N days or a from/to range; the jobs' progress is read
// again every few seconds while one is open, and an open job can be cancelled).

import { api, can, get } from "./api.js";
import { fill, h, note, showError, showNote, table } from "./dom.js";
import { ago, label, localTime, num, pct, when } from "./format.js";

/** How often the jobs are read again while one is queued or running (ms). */
const POLL_MS = 3000;
const OPEN = new Set(["QUEUED", "RUNNING"]);

const lines = (s) => s.split("\n").map((l) => l.trim()).filter(Boolean);

/** Topic names by id, read once and again when an unknown id turns up. */
let catalogue = null;

/** A link to a topic's page, named once the catalogue has been read (archived topics too). */
export function topicLink(id) {
  const a = h("a", { href: `#/topics/${id}`, "data-topic": id }, id);
  catalogue = catalogue || get("/v1/topics", { include_archived: "true" }).then((all) => new Map(all.map((t) => [t.id, t.name])));
  catalogue
    .then((m) => {
      if (m.has(id)) a.textContent = m.get(id);
      else catalogue = null;
    })
    .catch(() => (catalogue = null));
  return a;
}

export function renderOne(ctx, id) {
  const head = h("div");
  const quality = h("section", { class: "panel", "data-panel": "quality" });
  const examples = h("section", { class: "panel", "data-panel": "examples" });
  const past = h("section", { class: "panel", "data-panel": "reassignments" });
  fill(ctx.view, h("p", {}, h("a", { href: "#/topics" }, "← topics")), head, h("div", { class: "grid" }, quality, examples), past);
  const manage = can("manage_topics");
  let timer = null;

  async function loadTopic() {
    try {
      const topic = await get(`/v1/topics/${id}`);
      fill(
        head,
        h("h1", {}, topic.name, topic.archived ? " (archived)" : ""),
        h("p", { class: "meta" }, `${topic.category} · keywords: ${topic.keywords.join(", ") || "none"} · excluded: ${topic.excluded_keywords.join(", ") || "none"}`),
        topic.description ? h("p", {}, topic.description) : null,
      );
    } catch (e) {
      fill(head, note(e.status === 404 ? "No such topic." : `Could not load the topic: ${e.message}`, "error"));
    }
  }

  async function loadQuality() {
    try {
      const q = await get(`/v1/topics/${id}/quality`);
      const facts = [
        ["examples", num(q.examples)],
        ["counter-examples", num(q.counter_examples)],
        ["from corrections", num(q.corrections)],
        ["threshold", q.threshold === null ? "not loaded by the processors yet" : `${q.threshold.toFixed(2)} (${label(q.calibration)})`],
        ["estimated recall", pct(q.estimated_recall)],
        ["estimated precision", pct(q.estimated_precision)],
        ["mistaken for", q.confused_with ? [topicLink(q.confused_with), ` (${pct(q.confusion)} of its examples)`] : "–"],
        ["feedback, last 30 days", num(q.feedback_last_30_days)],
        ["measured", q.measured_at ? `${ago(q.measured_at)} with ${q.model_version}` : "–"],
      ];
      fill(
        quality,
        h("h2", {}, "Quality"),
        h("dl", { class: "facts", "data-facts": "quality" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        q.advice.length ? h("ul", { "data-list": "advice" }, q.advice.map((a) => h("li", {}, a))) : note("Nothing to improve that the examples show."),
      );
    } catch (e) {
      fill(quality, note(`Could not load its quality: ${e.message}`, "error"));
    }
  }

  async function loadExamples() {
    try {
      const items = await get(`/v1/topics/${id}/examples`);
      const columns = [
        { label: "message", get: (x) => h("q", {}, x.text) },
        { label: "kind", get: (x) => (x.positive ? "example" : "counter-example") },
        { label: "from", get: (x) => (x.feedback_id ? h("a", { href: `#/feedback/${x.feedback_id}` }, label(x.source)) : label(x.source)) },
      ];
      if (manage) {
        columns.push({
          label: "",
          get: (x) => h("button", { type: "button", "data-action": "remove-example", onclick: () => api("DELETE", `/v1/topics/${id}/examples/${x.id}`).then(refresh, fail) }, "Remove"),
        });
      }
      fill(
        examples,
        h("h2", {}, "Examples"),
        items.length ? table(columns, items, { "data-table": "examples" }) : note("No example messages yet: the topic is matched by its description and keywords."),
        manage ? exampleForm() : null,
      );
    } catch (e) {
      fill(examples, note(`Could not load the examples: ${e.message}`, "error"));
    }
  }

  const msg = h("p", { class: "note", role: "status" });
  const fail = (e) => showError(msg, e.message);
  const refresh = () => (loadExamples(), loadQuality());

  function exampleForm() {
    const text = h("textarea", { name: "examples", rows: 4, placeholder: "One message per line" });
    const counter = h("input", { type: "checkbox", name: "counter" });
    return h(
      "form",
      {
        class: "stack",
        "data-form": "examples",
        onsubmit: async (e) => {
          e.preventDefault();
          const texts = lines(text.value);
          if (!texts.length) return showError(msg, "Write at least one message.");
          try {
            await api("POST", `/v1/topics/${id}/examples`, { examples: texts.map((t) => ({ text: t, positive: !counter.checked })) });
            text.value = "";
            showNote(msg, `${texts.length} added. New feedback follows once the processors reload the catalogue; apply the topic to past feedback below.`);
            refresh();
          } catch (err) {
            fail(err);
          }
        },
      },
      h("label", {}, "Add messages about this topic ", text),
      h("label", { class: "check" }, counter, " counter-examples (messages that are not about it)"),
      h("div", { class: "buttons" }, h("button", {}, "Add")),
      msg,
    );
  }

  async function loadJobs() {
    clearTimeout(timer);
    try {
      const jobs = (await get("/v1/topic-reassignments")).filter((j) => j.topic_ids.includes(id));
      const progress = (j) => `${num(j.days_done)} of ${num(j.days_total)} days`;
      const columns = [
        { label: "range", get: (j) => `${when(j.range_from)} – ${when(j.range_to)}` },
        { label: "status", get: (j) => h("span", { "data-status": j.status }, label(j.status)) },
        { label: "progress", get: progress },
        { label: "rows read", get: (j) => num(j.rows_scanned), class: "n" },
        { label: "changed", get: (j) => num(j.rows_changed), class: "n" },
        { label: "gained / lost", get: (j) => `${num(j.topics_added)} / ${num(j.topics_removed)}`, class: "n" },
        { label: "", get: (j) => (j.error ? h("span", { class: "note error" }, j.error) : j.finished_at ? ago(j.finished_at) : "") },
      ];
      if (manage) {
        columns.push({
          label: "",
          get: (j) => (OPEN.has(j.status) ? h("button", { type: "button", "data-action": "cancel-job", onclick: () => api("POST", `/v1/topic-reassignments/${j.id}/cancel`).then(loadJobs, failJob) }, "Cancel") : ""),
        });
      }
      fill(
        past,
        h("h2", {}, "Past feedback"),
        note("A change of keywords or examples applies to new feedback at once; apply it to feedback already stored here. The topic rollups are corrected exactly once."),
        manage ? reassignForm() : null,
        jobMsg,
        jobs.length ? table(columns, jobs, { "data-table": "reassignments" }) : note("Never applied to past feedback."),
      );
      if (jobs.some((j) => OPEN.has(j.status))) timer = setTimeout(loadJobs, POLL_MS);
    } catch (e) {
      fill(past, note(`Could not load the jobs: ${e.message}`, "error"));
    }
  }

  const jobMsg = h("p", { class: "note", role: "status" });
  const failJob = (e) => showError(jobMsg, e.message);

  function reassignForm() {
    const days = h("input", { type: "number", name: "days", min: 1, max: 400, value: 30 });
    const from = h("input", { type: "datetime-local", name: "from" });
    const to = h("input", { type: "datetime-local", name: "to" });
    return h(
      "form",
      {
        class: "inline",
        "data-form": "reassign",
        onsubmit: async (e) => {
          e.preventDefault();
          // A start given: that range (to defaults to now); otherwise the last `days` days.
          const range = from.value ? { from: localTime(from.value), to: localTime(to.value) } : { days: Number(days.value) };
          try {
            await api("POST", "/v1/topic-reassignments", { ...range, topic_ids: [id] });
            showNote(jobMsg, "Queued: a processor applies it a day at a time.");
            loadJobs();
          } catch (err) {
            failJob(err);
          }
        },
      },
      h("label", {}, "Last ", days, " days"),
      h("label", {}, "or from ", from),
      h("label", {}, "to ", to),
      h("button", {}, "Apply to past feedback"),
    );
  }

  loadTopic();
  loadQuality();
  loadExamples();
  loadJobs();
  return () => clearTimeout(timer);
}
