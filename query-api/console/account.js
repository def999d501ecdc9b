// Account pages reached without a session: choosing a new password from the link of a
// password-reset mail (POST /v1/auth/password-reset/confirm).

import { ApiError } from "./api.js";
import { fill, h } from "./dom.js";

export function renderReset(el, token, done) {
  const password = h("input", { type: "password", name: "new_password", autocomplete: "new-password", required: true });
  const message = h("p", { class: "note error", role: "alert" });
  fill(
    el,
    h(
      "form",
      {
        class: "stack card",
        "data-form": "reset-password",
        onsubmit: async (e) => {
          e.preventDefault();
          const resp = await fetch("/v1/auth/password-reset/confirm", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ token, new_password: password.value }),
          });
          if (resp.ok) return done("Your password is changed: sign in with it.");
          const err = new ApiError(resp.status, await resp.json().catch(() => null));
          message.textContent = resp.status === 401 ? "This link has expired or was used already: ask for a new one." : err.message;
        },
      },
      h("h1", {}, "Choose a new password"),
      h("label", {}, "New password ", password),
      h("button", { type: "submit" }, "Change password"),
      message,
    ),
  );
}
