// Charts: time series with uPlot (vendored, MIT, vendor/uplot/LICENSE); horizontal bars as
// plain elements. Colours come from console.css's custom properties.

import { h } from "./dom.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const seconds = (iso) => new Date(iso).getTime() / 1000;

function width(el) {
  return Math.max(Math.floor(el.getBoundingClientRect().width) - 4, 260);
}

/** Keeps a chart as wide as its box. */
function fit(el, chart) {
  const ro = new ResizeObserver(() => chart.setSize({ width: width(el), height: chart.height }));
  ro.observe(el);
  return chart;
}

/** Sentiment trend: positive, neutral and negative feedback per bucket. */
export function sentimentTrend(el, points) {
  const xs = points.map((p) => seconds(p.bucket));
  const data = [xs, points.map((p) => p.positive), points.map((p) => p.neutral), points.map((p) => p.negative)];
  const series = [
    {},
    { label: "positive", stroke: css("--positive"), width: 2 },
    { label: "neutral", stroke: css("--neutral"), width: 2 },
    { label: "negative", stroke: css("--negative"), width: 2 },
  ];
  const opts = { width: width(el), height: 220, series, axes: [{}, { label: "feedback" }], legend: { live: false } };
  return fit(el, new globalThis.uPlot(opts, data, el));
}

/** An alert's metric around its window: the negative share per bucket, the window shaded. */
export function alertWindow(el, points, windowStart, windowEnd) {
  const xs = points.map((p) => seconds(p.bucket));
  const share = points.map((p) => (p.volume ? p.negative / p.volume : null));
  const from = seconds(windowStart);
  const to = seconds(windowEnd);
  const shade = (u) => {
    const x0 = u.valToPos(from, "x", true);
    const x1 = u.valToPos(to, "x", true);
    u.ctx.save();
    u.ctx.fillStyle = css("--window");
    u.ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 2), u.bbox.height);
    u.ctx.restore();
  };
  const opts = {
    width: width(el),
    height: 180,
    series: [{}, { label: "negative share", stroke: css("--negative"), width: 2, value: (_, v) => (v === null ? "–" : `${(v * 100).toFixed(1)} %`) }],
    axes: [{}, { values: (_, ticks) => ticks.map((t) => `${Math.round(t * 100)} %`) }],
    scales: { x: { range: (_, min, max) => [Math.min(min, from), Math.max(max, to)] } },
    hooks: { drawClear: [shade] },
  };
  return fit(el, new globalThis.uPlot(opts, [xs, share], el));
}

/** Horizontal bars: rows of {label, value, text, tone}. */
export function bars(rows, attrs = {}) {
  const max = Math.max(...rows.map((r) => Math.abs(r.value)), 1e-9);
  return h(
    "ul",
    { class: "bars", ...attrs },
    rows.map((r) => {
      const bar = h("span", { class: `bar ${r.tone || ""}` });
      bar.style.width = `${(Math.abs(r.value) / max) * 100}%`;
      return h("li", {}, h("span", { class: "bar-label" }, r.label), h("span", { class: "bar-track" }, bar), h("span", { class: "bar-value" }, r.text));
    }),
  );
}

/** The sentiment mix as one stacked bar with its legend. */
export function mix(sentiment) {
  const total = sentiment.positive + sentiment.neutral + sentiment.negative;
  const part = (k) => {
    const s = h("span", { class: `seg ${k}`, title: `${k}: ${sentiment[k]}` });
    s.style.flexGrow = String(total ? sentiment[k] : 1);
    return s;
  };
  return h("div", { class: "mix", role: "img", "aria-label": `positive ${sentiment.positive}, neutral ${sentiment.neutral}, negative ${sentiment.negative}` }, part("positive"), part("neutral"), part("negative"));
}
