// The console's shell: sign-in, navigation (hash routes), the live connection and its
// status, and a notice for every new alert wherever the user is.

import * as api from "./api.js";
import { fill, h, note } from "./dom.js";
import * as live from "./live.js";
import * as overview from "./overview.js";
import * as feed from "./feed.js";
import * as alerts from "./alerts.js";
import * as topics from "./topics.js";
import * as topic from "./topic.js";
import * as feedback from "./feedback.js";
import { renderReset } from "./account.js";

const $ = (id) => document.getElementById(id);
const ctx = {
  view: $("view"),
  filter: { range: "24h", channel: "", interval: "hour" },
  alertFilter: {},
  setFilter(f) {
    ctx.filter = { ...ctx.filter, ...f };
  },
};
let cleanup = null;

const ROUTES = [
  [/^#\/overview$/, () => overview.render(ctx)],
  [/^#\/live$/, () => feed.render(ctx)],
  [/^#\/alerts$/, () => alerts.renderList(ctx)],
  [/^#\/alerts\/([0-9a-f-]{36})$/, (m) => alerts.renderOne(ctx, m[1])],
  [/^#\/topics$/, () => topics.render(ctx)],
  [/^#\/topics\/([0-9a-f-]{36})$/, (m) => topic.renderOne(ctx, m[1])],
  [/^#\/feedback$/, () => feedback.render(ctx)],
  [/^#\/feedback\/([0-9a-f-]{36})$/, (m) => feedback.renderOne(ctx, m[1])],
];

/** Ends the shown view's subscriptions and timers. */
function leaveView() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
}

function route() {
  if (!api.user()) return;
  leaveView();
  const hash = location.hash || "#/overview";
  for (const a of document.querySelectorAll("#nav a")) a.setAttribute("aria-current", hash.startsWith(a.getAttribute("href")) ? "page" : "false");
  for (const [re, show] of ROUTES) {
    const m = hash.match(re);
    if (m) {
      cleanup = show(m);
      ctx.view.focus({ preventScroll: true });
      return;
    }
  }
  fill(ctx.view, note("No such page."), h("a", { href: "#/overview" }, "Overview"));
}

function showSignIn(message) {
  $("app").hidden = true;
  $("signin").hidden = false;
  fill($("signin-message"), message || "");
  $("email").focus();
}

async function showApp() {
  const me = api.user();
  $("signin").hidden = true;
  $("app").hidden = false;
  fill($("who"), `${me.display_name} · ${me.role}`);
  live.onState((s) => {
    $("live-state").textContent = s;
    $("live-state").dataset.state = s;
  });
  live.subscribe("alerts", {});
  live.on("alert", (m) => {
    if (m.event_type !== "alert_raised" || location.hash.startsWith("#/live")) return;
    const a = m.data;
    const toast = h("p", { class: `toast sev-${a.severity.toLowerCase()}`, role: "status", "data-toast": a.id }, `New ${a.severity} alert: `, h("a", { href: `#/alerts/${a.id}` }, a.title));
    $("toasts").prepend(toast);
    setTimeout(() => toast.remove(), 15_000);
    while ($("toasts").children.length > 3) $("toasts").lastElementChild.remove();
  });
  live.on("resync", () => route());
  await live.start();
  route();
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = e.submitter;
  button.disabled = true;
  try {
    await api.login($("email").value.trim(), $("password").value);
    $("password").value = "";
    if (!location.hash) location.hash = "#/overview";
    await showApp();
  } catch (err) {
    fill($("signin-message"), err.status === 401 ? "Wrong e-mail or password." : err.message);
  } finally {
    button.disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  leaveView();
  live.stop();
  fill(ctx.view);
  await api.logout();
});

api.onSignedOut(() => {
  live.stop();
  showSignIn("You are signed out.");
});

window.addEventListener("hashchange", route);

(async () => {
  const reset = location.hash.match(/^#\/reset-password\/([A-Za-z0-9_-]+)$/);
  if (reset) {
    $("signin").hidden = true;
    $("app").hidden = true;
    const page = $("reset");
    page.hidden = false;
    renderReset(page, reset[1], (message) => {
      page.hidden = true;
      history.replaceState(null, "", "#/overview");
      showSignIn(message);
    });
  } else if (await api.resume()) await showApp();
  else showSignIn();
})();
