// The broadcasts page (admins): a new broadcast (a WhatsApp channel's approved
// template, or text, to a segment or a pasted list of phones, now or at a local time),
// the latest broadcasts with their totals moving live (`broadcast.updated`), pause,
// resume and cancel, and each one's recipients with what became of them.

import { h, fill, fillGrid, announce, longTime, guarded } from "./dom.js";
import { get, post } from "./session.js";
import { field } from "./signin.js";

/** The window event a `broadcast.updated` frame becomes (main.js dispatches it). */
export const BROADCAST_UPDATED = "switchboard:broadcast-updated";

const COUNTED = ["sent", "delivered", "read", "replied", "failed", "skipped", "queued"];

export async function renderBroadcasts(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  const table = h("table", { class: "grid" });
  const recipients = h("section", { "aria-label": "Recipients" });
  const form = h("section", { "aria-label": "New broadcast" });
  fill(body, h("h1", {}, "Broadcasts"), error, table, recipients, form);
  const shown = new Map();
  const attempt = (work) => guarded(error, work);
  const row = (b) => {
    const totals = COUNTED.filter((k) => b.totals[k] > 0).map((k) => `${b.totals[k]} ${k}`).join(", ") || "none yet";
    const act = (verb, label) => h("button", { type: "button", class: "link", "aria-label": `${label} ${b.name}`, onclick: async () => {
      const changed = await attempt(() => post(`/broadcasts/${b.id}/${verb}`, {}));
      if (changed) {
        update(changed);
        announce(`${b.name} ${changed.status}`);
      }
    } }, label);
    const actions = [];
    if (b.status === "scheduled" || b.status === "running") actions.push(act("pause", "Pause"));
    if (b.status === "paused") actions.push(act("resume", "Resume"));
    if (!["done", "cancelled"].includes(b.status)) actions.push(act("cancel", "Cancel"));
    actions.push(h("button", { type: "button", class: "link", "aria-label": `Recipients of ${b.name}`, onclick: () => showRecipients(b) }, "Recipients"));
    return h("tr", { "data-id": b.id },
      h("td", {}, b.name),
      h("td", { class: "broadcast-status" }, b.status),
      h("td", {}, longTime(b.send_at)),
      h("td", { class: "broadcast-totals" }, `${totals} (of ${b.totals.total})`),
      h("td", {}, b.note ?? ""),
      h("td", {}, actions));
  };
  const redraw = () => fillGrid(table, "Latest broadcasts", ["Name", "Status", "Starts", "Recipients", "Note", ""],
    [...shown.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)).map(row));
  const update = (b) => {
    shown.set(b.id, b);
    redraw();
  };
  const showRecipients = async (b) => {
    const page = await attempt(() => get(`/broadcasts/${b.id}/recipients?limit=500`));
    if (!page) return;
    const grid = h("table", { class: "grid" });
    fillGrid(grid, `Recipients of ${b.name}`, ["Phone", "Name", "Status", "Reason", "Sent"],
      page.data.map((r) => h("tr", {},
        h("td", {}, r.phone), h("td", {}, r.name), h("td", {}, r.status),
        h("td", {}, r.error ?? ""), h("td", {}, r.sent_at ? longTime(r.sent_at) : ""))));
    fill(recipients, h("h2", {}, `Recipients of ${b.name}`), grid);
  };
  // Live: the frame is the broadcast as the API shows it. Listening ends with the page.
  const listen = (event) => {
    if (!body.isConnected) return window.removeEventListener(BROADCAST_UPDATED, listen);
    update(event.detail);
  };
  window.addEventListener(BROADCAST_UPDATED, listen);
  await renderForm(form, attempt, update);
  const listed = await attempt(() => get("/broadcasts"));
  for (const b of listed?.data ?? []) shown.set(b.id, b);
  redraw();
}

async function renderForm(section, attempt, update) {
  const [channels, segments] = await Promise.all([
    attempt(() => get("/channels")), attempt(() => get("/segments")),
  ]);
  const whatsapp = (channels?.data ?? []).filter((c) => c.kind === "whatsapp");
  if (whatsapp.length === 0) {
    fill(section, h("p", { class: "muted" }, "Broadcasts go out on a WhatsApp Cloud API number: connect one under Channels first."));
    return;
  }
  const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: "Winter sale" });
  const channel = h("select", { name: "channel" }, whatsapp.map((c) => h("option", { value: c.id }, c.name)));
  const audience = h("select", { name: "audience" },
    (segments?.data ?? []).map((s) => h("option", { value: s.id }, `Segment: ${s.name}`)),
    h("option", { value: "list" }, "A list of phones"));
  const phones = h("textarea", { name: "phones", rows: 3, placeholder: "+4915112345678, one per line" });
  const phonesField = field("Phones", phones);
  const template = h("select", { name: "template" });
  const parameters = h("div", { class: "template-parameters" });
  const text = h("textarea", { name: "text", rows: 3, maxlength: 4096, placeholder: "Only to those who wrote in the last 24 hours" });
  const textField = field("Text", text);
  const when = h("input", { name: "send_at", type: "datetime-local" });
  const zone = h("input", { name: "time_zone", value: Intl.DateTimeFormat().resolvedOptions().timeZone });
  const rate = h("input", { name: "rate", type: "number", min: 1, max: 1000, placeholder: "the channel's" });
  let templates = [];
  const showParameters = () => {
    const picked = templates[Number(template.value)];
    const count = picked?.parameters ?? 0;
    fill(parameters, Array.from({ length: count }, (_, i) =>
      field(`Parameter ${i + 1}`, h("input", { name: `parameter-${i}`, required: true, placeholder: i === 0 ? "{{contact.first_name}}" : "" }))));
    textField.hidden = Boolean(picked);
  };
  const loadTemplates = async () => {
    const listed = await attempt(() => get(`/channels/${channel.value}/templates`));
    templates = (listed?.data ?? []).filter((t) => t.status === "approved");
    fill(template, templates.map((t, i) => h("option", { value: String(i) }, `${t.name} (${t.language})`)),
      h("option", { value: "text" }, "Text, no template"));
    showParameters();
  };
  const showAudience = () => { phonesField.hidden = audience.value !== "list"; };
  channel.addEventListener("change", loadTemplates);
  template.addEventListener("change", showParameters);
  audience.addEventListener("change", showAudience);
  const form = h("form", { class: "card inline-form", "aria-label": "New broadcast" },
    h("h2", {}, "New broadcast"),
    field("Name", name), field("Channel", channel), field("Recipients", audience), phonesField,
    field("Template", template), parameters, textField,
    field("Send at (empty: now)", when), field("Time zone", zone), field("Sends per second", rate),
    h("button", { type: "submit", class: "primary" }, "Send broadcast"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = templates[Number(template.value)];
    const request = { name: name.value, channel_id: channel.value };
    if (audience.value === "list") request.phones = phones.value.split(/[\n,;]+/).map((p) => p.trim()).filter(Boolean);
    else request.segment_id = audience.value;
    if (picked) {
      request.template = { name: picked.name, language: picked.language,
        parameters: [...parameters.querySelectorAll("input")].map((input) => input.value) };
    } else {
      request.text = text.value;
    }
    if (when.value) Object.assign(request, { send_at: when.value, time_zone: zone.value });
    if (rate.value) request.rate_per_second = Number(rate.value);
    const made = await attempt(() => post("/broadcasts", request));
    if (!made) return;
    update(made);
    announce(`${made.name} ${made.status}`);
    form.reset();
    zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone;
    showAudience();
    showParameters();
  });
  fill(section, form);
  showAudience();
  await loadTemplates();
}
