// Overview: headline tiles, sentiment trend, channels, emotions, segments, journey stages,
// trending topics and drivers for one range and channel. Every figure is an API answer
// (GET /v1/dashboard/*, /v1/topics/trending); the tiles are replaced whenever the server
// pushes new figures for the same range and channel (live room "dashboard").

import { get } from "./api.js";
import { bars, mix, sentimentTrend } from "./charts.js";
import { fill, h, note, table, tile } from "./dom.js";
import { delta, localTime, num, num2, pct } from "./format.js";
import * as live from "./live.js";

export const RANGES = [["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["90d", "last 90 days"], ["custom", "from … to"]];
export const CHANNELS = ["web", "mobile_app", "email", "chat", "social", "survey", "call_center"];
const INTERVALS = [["hour", "by hour"], ["day", "by day"], ["week", "by week"]];

/** The range as query parameters: a preset, or from/to (datetime-local inputs, local time). */
export function rangeParams(f) {
  if (f.range !== "custom") return { range: f.range };
  return { from: localTime(f.from), to: localTime(f.to) };
}

/** The range and channel controls, drawn once (a redraw would take the keyboard focus away);
 * `change` gets the one field that changed, e.g. {channel: "email"}. */
export function filterBar(f, change, extra = []) {
  const set = (k) => (e) => change({ [k]: e.target.value });
  const custom = h(
    "span",
    { class: "filters", hidden: f.range !== "custom" },
    h("label", {}, "From ", h("input", { type: "datetime-local", name: "from", value: f.from || "", onchange: set("from") })),
    h("label", {}, "To ", h("input", { type: "datetime-local", name: "to", value: f.to || "", onchange: set("to") })),
  );
  const range = (e) => {
    custom.hidden = e.target.value !== "custom";
    set("range")(e);
  };
  return h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    h("label", {}, "Range ", h("select", { name: "range", onchange: range }, RANGES.map(([v, l]) => h("option", { value: v, selected: v === f.range }, l)))),
    custom,
    h(
      "label",
      {},
      "Channel ",
      h("select", { name: "channel", onchange: set("channel") }, h("option", { value: "" }, "all channels"), CHANNELS.map((c) => h("option", { value: c, selected: c === f.channel }, c.replace("_", " ")))),
    ),
    extra,
  );
}

function tiles(o) {
  const c = o.current;
  // The raw figure rides along in data-value (the browser tests compare it with the API's).
  const t = (title, name, value, text, sub) => tile(title, text, sub, { "data-figure": name, "data-value": value === null ? "" : String(value) });
  return [
    t("Feedback", "volume", c.volume, num(c.volume), o.volume_change_pct === null ? "no previous period" : delta(o.volume_change_pct, " %")),
    t("Average sentiment", "average_sentiment", c.average_sentiment, num2(c.average_sentiment), delta(o.average_sentiment_change)),
    t("NPS", "nps", c.nps, num(c.nps), delta(o.nps_change)),
    t("CSAT", "csat", c.csat, c.csat === null ? "–" : `${num(c.csat)} %`, delta(o.csat_change, " pts")),
    t("Open alerts", "open_alerts", o.open_alerts, num(o.open_alerts), h("a", { href: "#/alerts" }, "see alerts")),
  ];
}

function mixBox(o) {
  const s = o.sentiment;
  return [h("h2", {}, "Sentiment mix"), mix(s), h("p", { class: "legend" }, h("span", { class: "dot positive" }), ` positive ${num(s.positive)} `, h("span", { class: "dot neutral" }), ` neutral ${num(s.neutral)} `, h("span", { class: "dot negative" }), ` negative ${num(s.negative)}`)];
}

const breakdownColumns = [
  { label: "", get: (r) => r.key.replaceAll("_", " ") },
  { label: "feedback", get: (r) => num(r.volume), class: "n" },
  { label: "negative", get: (r) => pct(r.negative_share), class: "n" },
  { label: "avg sentiment", get: (r) => num2(r.average_sentiment), class: "n" },
  { label: "NPS", get: (r) => num(r.nps), class: "n" },
  { label: "CSAT", get: (r) => num(r.csat), class: "n" },
];

function section(title, body, attrs = {}) {
  return h("section", { class: "panel", ...attrs }, h("h2", {}, title), body);
}

export function render(ctx) {
  const root = fill(ctx.view, h("h1", {}, "Overview"));
  let f = ctx.filter;
  const controls = h("div");
  const headline = h("div", { class: "tiles", "aria-live": "polite" });
  const mixEl = h("section", { class: "panel" });
  const body = h("div", { class: "grid" });
  root.append(controls, headline, mixEl, body);
  let off = null;
  let seq = 0;
  const change = (part) => {
    f = { ...f, ...part };
    ctx.setFilter(f);
    load();
  };
  const interval = h("select", { name: "interval", onchange: (e) => change({ interval: e.target.value }) }, INTERVALS.map(([v, l]) => h("option", { value: v, selected: v === f.interval }, l)));
  fill(controls, filterBar(f, change, h("label", {}, "Trend ", interval)));

  async function load() {
    const mine = ++seq;
    const p = { ...rangeParams(f), channel: f.channel || undefined };
    fill(body, note("Loading…"));
    try {
      const [o, trend, channels, emotions, segments, stages, drivers, trending] = await Promise.all([
        get("/v1/dashboard/overview", p),
        get("/v1/dashboard/sentiment-trend", { ...p, interval: f.interval }),
        get("/v1/dashboard/channels", p),
        get("/v1/dashboard/emotions", p),
        get("/v1/dashboard/segments", p),
        get("/v1/dashboard/journey-stages", p),
        get("/v1/dashboard/drivers", p),
        get("/v1/topics/trending", rangeParams(f)),
      ]);
      if (mine !== seq) return;
      fill(headline, tiles(o));
      fill(mixEl, mixBox(o));
      // The first meaningful paint (measured by query-api/examples/console_bench.rs).
      if (!performance.getEntriesByName("rtcx:overview").length) performance.mark("rtcx:overview");
      const trendBox = h("div", { class: "chart", "data-chart": "sentiment-trend" });
      fill(
        body,
        section("Sentiment trend", trend.length ? trendBox : note("No feedback in this range."), { class: "panel wide" }),
        section("Channels", table(breakdownColumns, channels, { "data-table": "channels" })),
        section("Emotions", bars(emotions.map((e) => ({ label: e.emotion, value: e.dominant, text: num(e.dominant), tone: e.emotion })), { "data-table": "emotions" })),
        section("Segments", table(breakdownColumns, segments, { "data-table": "segments" })),
        section("Journey stages", table(breakdownColumns, stages, { "data-table": "journey-stages" })),
        section("Trending topics", trending.length ? table([{ label: "topic", get: (t) => t.name }, { label: "now", get: (t) => num(t.current), class: "n" }, { label: "before", get: (t) => num(t.previous), class: "n" }, { label: "growth", get: (t) => (t.growth === null ? "new" : `×${num2(t.growth)}`), class: "n" }], trending, { "data-table": "trending" }) : note("No topic grew in this range.")),
        section("Sentiment drivers", drivers.length ? bars(drivers.map((d) => ({ label: d.name, value: d.effect, text: `${d.effect > 0 ? "+" : ""}${num2(d.effect)} (${pct(d.share)} of feedback)`, tone: d.effect < 0 ? "negative" : "positive" })), { "data-table": "drivers" }) : note("No topic moves sentiment in this range.")),
      );
      if (trend.length) sentimentTrend(trendBox, trend);
    } catch (e) {
      if (mine === seq) fill(body, note(`Could not load the overview: ${e.message}`, "error"));
    }
    // Live figures for presets (the room takes a preset range and a channel).
    if (off) off();
    off = null;
    if (f.range !== "custom") {
      const filter = { range: f.range, ...(f.channel ? { channel: f.channel } : {}) };
      live.subscribe("dashboard", filter);
      off = live.on("dashboard", (m) => {
        if (mine === seq && m.data && m.data.channel === (f.channel || null)) {
          fill(headline, tiles(m.data));
          fill(mixEl, mixBox(m.data));
        }
      });
    } else {
      live.unsubscribe("dashboard");
    }
  }
  load();
  return () => {
    seq++;
    if (off) off();
    live.unsubscribe("dashboard");
  };
}
