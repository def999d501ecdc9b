// How figures are written. The console never computes a figure: it only formats what the API
// answered.

const nf = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

export const num = (v) => (v === null || v === undefined ? "–" : nf.format(v));
export const num2 = (v) => (v === null || v === undefined ? "–" : nf2.format(v));
export const pct = (share) => (share === null || share === undefined ? "–" : `${nf.format(share * 100)} %`);

/** A `datetime-local` input's value (the browser's time zone) as RFC 3339; undefined when empty. */
export const localTime = (v) => (v ? new Date(v).toISOString() : undefined);

/** A signed change with its unit, e.g. "+4.3 %" or "−2.6". */
export function delta(v, unit = "") {
  if (v === null || v === undefined) return "no previous period";
  const sign = v > 0 ? "+" : v < 0 ? "−" : "±";
  return `${sign}${nf2.format(Math.abs(v))}${unit} vs previous period`;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function ago(iso) {
  if (!iso) return "–";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const label = (s) => (s || "").toLowerCase().replaceAll("_", " ");
