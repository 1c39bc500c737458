// Sign-in and invitation acceptance: the only screens a signed-out visitor sees.

import { h, fill } from "./dom.js";
import { acceptInvite, signIn } from "./session.js";

const LAST = "switchboard.last-sign-in";

const MESSAGES = {
  invalid_credentials: "Wrong tenant, email or password.",
  rate_limited: "Too many attempts from this address. Wait a minute and try again.",
  invalid_token: "This invitation link is invalid, used or expired. Ask for a new one.",
  invalid_request: null,
  offline: "The server cannot be reached. Check your connection.",
};

function explain(err) {
  return MESSAGES[err.code] ?? err.message ?? "Something went wrong.";
}

function errorBox() {
  return h("p", { class: "form-error", role: "alert", id: "signin-error", hidden: true });
}

function showError(box, err) {
  box.textContent = explain(err);
  box.hidden = false;
}

export function renderSignIn(root, notice) {
  const last = JSON.parse(localStorage.getItem(LAST) || "{}");
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title", "aria-describedby": "signin-error" },
    h("h1", { id: "signin-title" }, "Sign in to Switchboard"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    field("Workspace", h("input", { name: "tenant", required: true, autocomplete: "organization", value: last.tenant ?? "default" })),
    field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "username", value: last.email ?? "" })),
    field("Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const tenant = data.get("tenant").trim();
    const email = data.get("email").trim();
    submit.disabled = true;
    submit.textContent = "Signing in…";
    error.hidden = true;
    try {
      await signIn(tenant, email, data.get("password"));
      localStorage.setItem(LAST, JSON.stringify({ tenant, email }));
    } catch (err) {
      showError(error, err);
      form.elements.password.select();
      form.elements.password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
  fill(root, h("main", { id: "main", class: "signin-page" }, form));
  (last.email ? form.elements.password : form.elements.email).focus();
}

export function renderAcceptInvite(root, token) {
  const error = errorBox();
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "invite-title" },
    h("h1", { id: "invite-title" }, "Join your team on Switchboard"),
    h("p", {}, "Choose a password (at least 10 characters) to activate your account."),
    field("Password", h("input", { name: "password", type: "password", required: true, minlength: 10, autocomplete: "new-password" })),
    error,
    h("button", { type: "submit", class: "primary" }, "Activate and sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await acceptInvite(token, form.elements.password.value);
      location.hash = "#/inbox";
    } catch (err) {
      showError(error, err);
    }
  });
  fill(root, h("main", { id: "main", class: "signin-page" }, form));
  form.elements.password.focus();
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}
