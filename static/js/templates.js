// The WhatsApp template picker. Outside the 24-hour window WhatsApp delivers only
// pre-approved templates; the server answers a free-form reply with
// `template_required`. The channel's approved templates (synced from its business
// account) are offered with their text; templates used before are offered too (kept
// per browser).

import { h, fill } from "./dom.js";
import { get } from "./session.js";
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

/** `channelId`: the WhatsApp channel whose synced templates to offer. */
export function templatePicker(reason, onSend, onCancel, channelId) {
  const used = recent();
  let synced = [];
  const names = h("datalist", { id: "template-names" }, used.map((t) => h("option", { value: t.name })));
  const preview = h("p", { class: "muted template-preview", "aria-live": "polite" });
  const name = h("input", { name: "name", required: true, list: "template-names", autocomplete: "off", placeholder: "order_update" });
  const language = h("input", { name: "language", required: true, value: "en_US", size: 8 });
  const params = h("textarea", { name: "parameters", rows: 2, placeholder: "One parameter per line, in order ({{1}}, {{2}}, …)" });
  const error = h("p", { class: "form-error", role: "alert" });
  name.addEventListener("change", () => {
    // The language typed stays when the template has it; else its first one.
    const languages = synced.filter((t) => t.name === name.value);
    const approved = languages.find((t) => t.language === language.value) ?? languages[0];
    if (approved) {
      language.value = approved.language;
      preview.textContent = `${approved.body ?? ""} (${approved.parameters} parameters)`;
    }
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
    names,
    h("div", { class: "row" }, field("Template name", name), field("Language", language)),
    preview,
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
  if (channelId) {
    get(`/channels/${channelId}/templates`).then((listed) => {
      synced = listed.data.filter((t) => t.status === "approved");
      const offered = new Set(used.map((t) => t.name));
      for (const t of synced) {
        if (offered.has(t.name)) continue;
        offered.add(t.name);
        names.append(h("option", { value: t.name }, t.body ?? t.name));
      }
    }, () => {});
  }
  queueMicrotask(() => name.focus());
  return form;
}
