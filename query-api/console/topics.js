// Topics: the catalogue (create, edit, archive for roles that manage topics) and the
// suggestions the processors make from unassigned feedback (accept or reject). Each topic's
// name opens its page (topic.js): quality, examples, applying it to past feedback.

import { api, can, get } from "./api.js";
import { fill, h, note, showError, table } from "./dom.js";
import { ago, num } from "./format.js";

const words = (s) => s.split(",").map((w) => w.trim()).filter(Boolean);

function topicForm(topic, done) {
  const t = topic || { name: "", category: "", description: "", keywords: [] };
  const f = {
    name: h("input", { name: "name", required: true, maxlength: 120, value: t.name }),
    category: h("input", { name: "category", maxlength: 60, value: t.category }),
    description: h("textarea", { name: "description", maxlength: 2000, rows: 2 }, t.description),
    keywords: h("input", { name: "keywords", value: t.keywords.join(", "), placeholder: "refund, money back" }),
  };
  const msg = h("p", { class: "note", role: "status" });
  return h(
    "form",
    {
      class: "stack",
      "data-form": topic ? "edit-topic" : "new-topic",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = { name: f.name.value.trim(), description: f.description.value.trim(), keywords: words(f.keywords.value) };
        // No category: the API's default ("general") on creation, unchanged on an edit.
        if (f.category.value.trim()) body.category = f.category.value.trim();
        try {
          if (topic) await api("PATCH", `/v1/topics/${topic.id}`, body);
          else await api("POST", "/v1/topics", body);
          done();
        } catch (err) {
          showError(msg, err.message);
        }
      },
    },
    h("label", {}, "Name ", f.name),
    h("label", {}, "Category ", f.category),
    h("label", {}, "Description ", f.description),
    h("label", {}, "Keywords (comma-separated) ", f.keywords),
    h("div", { class: "buttons" }, h("button", {}, topic ? "Save" : "Create topic"), topic ? h("button", { type: "button", onclick: done }, "Cancel") : null),
    msg,
  );
}

export function render(ctx) {
  const list = h("section", { class: "panel" });
  const side = h("section", { class: "panel" });
  const sugg = h("section", { class: "panel" });
  fill(ctx.view, h("h1", {}, "Topics"), h("div", { class: "grid" }, list, can("manage_topics") ? side : null), can("manage_topics") ? sugg : null);
  let archived = false;

  async function load() {
    try {
      const topics = await get("/v1/topics", { include_archived: archived ? "true" : undefined });
      const columns = [
        { label: "topic", get: (t) => h("a", { href: `#/topics/${t.id}`, "data-topic": t.id }, h("strong", {}, t.name)) },
        { label: "category", get: (t) => t.category },
        { label: "keywords", get: (t) => t.keywords.join(", ") },
        { label: "", get: (t) => (t.archived ? "archived" : "") },
      ];
      if (can("manage_topics")) {
        columns.push({
          label: "",
          get: (t) =>
            h(
              "span",
              { class: "buttons" },
              h("button", { type: "button", onclick: () => fill(side, h("h2", {}, `Edit ${t.name}`), topicForm(t, () => (newForm(), load()))) }, "Edit"),
              h("button", { type: "button", onclick: () => api("PATCH", `/v1/topics/${t.id}`, { archived: !t.archived }).then(load) }, t.archived ? "Restore" : "Archive"),
            ),
        });
      }
      fill(
        list,
        h("h2", {}, "Catalogue"),
        h("label", {}, h("input", { type: "checkbox", checked: archived, onchange: (e) => ((archived = e.target.checked), load()) }), " show archived"),
        topics.length ? table(columns, topics, { "data-table": "topics" }) : note("No topics yet."),
      );
    } catch (e) {
      fill(list, note(`Could not load topics: ${e.message}`, "error"));
    }
    if (can("manage_topics")) loadSuggestions();
  }

  async function loadSuggestions() {
    try {
      const items = (await get("/v1/topics/suggestions")).filter((s) => s.status === "PENDING");
      const decide = (s, verb) => api("POST", `/v1/topics/suggestions/${s.id}/${verb}`, verb === "accept" ? {} : undefined).then(load);
      fill(
        sugg,
        h("h2", {}, "Suggested topics"),
        items.length
          ? h(
              "ul",
              { class: "cards", "data-list": "suggestions" },
              items.map((s) =>
                h(
                  "li",
                  { class: "card" },
                  h("h3", {}, s.label),
                  h("p", { class: "meta" }, `${num(s.size)} messages · ${s.key_phrases.join(", ")} · ${ago(s.created_at)}`),
                  h("ul", {}, s.examples.slice(0, 3).map((x) => h("li", {}, h("q", {}, x.text)))),
                  h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => decide(s, "accept") }, "Accept"), h("button", { type: "button", onclick: () => decide(s, "reject") }, "Reject")),
                ),
              ),
            )
          : note("No pending suggestions."),
      );
    } catch (e) {
      fill(sugg, note(`Could not load suggestions: ${e.message}`, "error"));
    }
  }

  const newForm = () => fill(side, h("h2", {}, "New topic"), topicForm(null, () => (newForm(), load())));
  if (can("manage_topics")) newForm();
  load();
}
