// The WhatsApp template picker. Outside the 24-hour window WhatsApp delivers only
// pre-approved templates; the server answers a free-form reply with
// `template_required`. Templates used before are offered again (kept per browser).

import { h, fill } from "./dom.js";
import { field } from "./signin.js";

const RECENT = "switchboard.templates";
const WINDOW_MS = 24 * 3600 * 1000;

/** True when a WhatsApp conversation is outside the customer-service window. */
export function needsTemplate(conversation) {
  if (!conversation?.channel.startsWith("whatsapp:")) return false;
  const last = conversation.last_inbound_at ? Date.parse(conversation.last_inbound_at) : 0;
  return Date.now() - last > WINDOW_MS;
}

function recent() {
  try {
    return JSON.parse(localStorage.getItem(RECENT)) ?? [];
  } catch {
    return [];
  }
}

function remember(template) {
  const list = [template, ...recent().filter((t) => t.name !== template.name || t.language !== template.language)];
  localStorage.setItem(RECENT, JSON.stringify(list.slice(0, 20)));
}

export function templatePicker(reason, onSend, onCancel) {
  const used = recent();
  const name = h("input", { name: "name", required: true, list: "template-names", autocomplete: "off", placeholder: "order_update" });
  const language = h("input", { name: "language", required: true, value: "en_US", size: 8 });
  const params = h("textarea", { name: "parameters", rows: 2, placeholder: "One parameter per line, in order ({{1}}, {{2}}, …)" });
  const error = h("p", { class: "form-error", role: "alert" });
  name.addEventListener("change", () => {
    const picked = used.find((t) => t.name === name.value);
    if (picked) {
      language.value = picked.language;
      params.value = picked.parameters.join("\n");
    }
  });
  const form = h(
    "form",
    { class: "template-picker", "aria-label": "Send a WhatsApp template" },
    h("p", { class: "notice" }, reason ?? "Send an approved WhatsApp template."),
    h("datalist", { id: "template-names" }, used.map((t) => h("option", { value: t.name }))),
    h("div", { class: "row" }, field("Template name", name), field("Language", language)),
    field("Parameters", params),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Send template"), h("button", { type: "button", class: "link", onclick: onCancel }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const template = {
      name: name.value.trim(),
      language: language.value.trim(),
      parameters: params.value.split("\n").map((p) => p.trim()).filter(Boolean),
    };
    try {
      await onSend(template);
      remember(template);
    } catch (err) {
      fill(error, err.message);
    }
  });
  queueMicrotask(() => name.focus());
  return form;
}
