// The webhooks page (admins): endpoints with the event types they receive (the
// signing secret shown once, on creation and on rotation), switched on and off, a
// test event, and each endpoint's delivery log with every attempt, redelivery of one
// message and a replay of everything since a time.

import { h, fill, fillGrid, longTime, announce } from "./dom.js";
import { del, get, patch, post } from "./session.js";
import { field } from "./signin.js";

export async function renderWebhooks(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  const secret = h("div", { "aria-live": "polite" });
  const table = h("table", { class: "grid webhooks" });
  const log = h("section", { "aria-live": "polite" });
  let types = [];
  try {
    types = (await get("/webhooks/event-types")).data;
  } catch (err) {
    error.textContent = err.message;
  }
  const context = { error, secret, log, refresh: null };
  context.refresh = async () => {
    try {
      const endpoints = await get("/webhooks");
      fillGrid(table, "Webhook endpoints", ["URL", "Events", "On", "State", ""],
        endpoints.data.map((endpoint) => endpointRow(endpoint, context)));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  fill(body,
    h("h1", {}, "Webhooks"),
    h("p", { class: "muted" }, "Events are posted to your endpoints as they happen, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), and retried for about a day until the endpoint answers 2xx."),
    error, secret, table, endpointForm(types, context), log);
  await context.refresh();
}

function showSecret(target, value, what) {
  fill(target, h("div", { class: "card secret", role: "alert" },
    h("p", {}, h("strong", {}, `Copy the signing secret ${what} now: it is shown only once.`)),
    h("input", { type: "text", readonly: true, value, "aria-label": "The signing secret", class: "secret-value", onfocus: (e) => e.target.select() })));
}

function state(endpoint) {
  if (!endpoint.enabled) return endpoint.disabled_reason ? `off: ${endpoint.disabled_reason}` : "off";
  return endpoint.failing_since ? `failing since ${longTime(endpoint.failing_since)}` : "healthy";
}

function endpointRow(endpoint, context) {
  const { error, secret, log, refresh } = context;
  const toggle = h("input", { type: "checkbox", checked: endpoint.enabled, "aria-label": `${endpoint.url} on` });
  toggle.addEventListener("change", async () => {
    try {
      await patch(`/webhooks/${endpoint.id}`, { enabled: toggle.checked });
      announce(`${endpoint.url} ${toggle.checked ? "on" : "off"}`);
      await refresh();
    } catch (err) {
      error.textContent = err.message;
      toggle.checked = !toggle.checked;
    }
  });
  const act = (label, work) => h("button", { type: "button", class: "link", "aria-label": `${label} for ${endpoint.url}`, onclick: async () => {
    error.textContent = "";
    try {
      await work();
    } catch (err) {
      error.textContent = err.message;
    }
  } }, label);
  return h("tr", {},
    h("td", {}, h("code", {}, endpoint.url), endpoint.description ? h("div", { class: "muted" }, endpoint.description) : null),
    h("td", {}, endpoint.event_types.join(", ")),
    h("td", {}, toggle),
    h("td", {}, state(endpoint)),
    h("td", {},
      act("Deliveries", () => showDeliveries(log, endpoint, error)),
      " ",
      act("Send a test", async () => {
        await post(`/webhooks/${endpoint.id}/test`, {});
        announce("Test event queued");
        await showDeliveries(log, endpoint, error);
      }),
      " ",
      act("Rotate secret", async () => {
        if (!confirm("Make a new signing secret? The old one keeps signing for a day, so receivers can switch.")) return;
        const rotated = await post(`/webhooks/${endpoint.id}/rotate-secret`, {});
        showSecret(secret, rotated.secret, "for " + endpoint.url);
      }),
      " ",
      act("Delete", async () => {
        if (!confirm(`Delete the endpoint ${endpoint.url} and its delivery log?`)) return;
        await del(`/webhooks/${endpoint.id}`);
        fill(log);
        await refresh();
      })));
}

function endpointForm(types, { error, secret, refresh }) {
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://crm.example.com/hooks/switchboard" });
  const description = h("input", { name: "description", maxlength: 500 });
  const chosen = h("fieldset", { class: "scopes" }, h("legend", {}, "Events"),
    types.map((t) => h("label", {}, h("input", { type: "checkbox", value: t }), ` ${t}`)));
  const form = h("form", { class: "card inline-form", "aria-label": "Webhook endpoint" },
    h("h2", {}, "New endpoint"), field("URL", url), field("Description", description), chosen,
    h("button", { type: "submit", class: "primary" }, "Add endpoint"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const eventTypes = [...chosen.querySelectorAll("input:checked")].map((i) => i.value);
    try {
      const made = await post("/webhooks", { url: url.value.trim(), description: description.value.trim(), event_types: eventTypes });
      showSecret(secret, made.secret, "for " + made.url);
      announce(`${made.url} added`);
      form.reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

async function showDeliveries(target, endpoint, error) {
  const table = h("table", { class: "grid" });
  const attempts = h("div", {});
  const refresh = async () => {
    const found = await get(`/webhooks/${endpoint.id}/deliveries`);
    fillGrid(table, `Deliveries to ${endpoint.url}`, ["Event", "Status", "Attempts", "Answer", "Time", "Created", ""],
      found.data.map((d) => h("tr", {},
        h("td", {}, d.event_type),
        h("td", {}, d.status, d.next_attempt_at ? ` (next ${longTime(d.next_attempt_at)})` : ""),
        h("td", {}, String(d.attempts)),
        h("td", {}, d.response_status ? String(d.response_status) : (d.error ?? "")),
        h("td", {}, d.latency_ms === null ? "" : `${d.latency_ms} ms`),
        h("td", {}, longTime(d.created_at)),
        h("td", {},
          h("button", { type: "button", class: "link", "aria-label": `Attempts of ${d.webhook_id}`, onclick: () => showAttempts(attempts, endpoint, d, error) }, "Attempts"),
          " ",
          h("button", { type: "button", class: "link", "aria-label": `Redeliver ${d.webhook_id}`, onclick: async () => {
            try {
              await post(`/webhooks/${endpoint.id}/deliveries/${d.id}/redeliver`, {});
              announce(`${d.webhook_id} queued again`);
              await refresh();
            } catch (err) {
              error.textContent = err.message;
            }
          } }, "Redeliver")))));
  };
  const since = h("input", { type: "datetime-local", name: "since", required: true });
  const replay = h("form", { class: "inline-form", "aria-label": "Replay" },
    field("Send again everything since", since), h("button", { type: "submit" }, "Replay"));
  replay.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const started = await post(`/webhooks/${endpoint.id}/replay`, { since: new Date(since.value).toISOString() });
      announce(`Replay queued: events ${started.after_offset + 1} to ${started.until_offset}`);
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  fill(target,
    h("h2", {}, `Deliveries to ${endpoint.url}`),
    h("button", { type: "button", class: "link", onclick: () => refresh().catch((err) => { error.textContent = err.message; }) }, "Refresh"),
    table, replay, attempts);
  try {
    await refresh();
  } catch (err) {
    error.textContent = err.message;
  }
}

async function showAttempts(target, endpoint, delivery, error) {
  try {
    const found = await get(`/webhooks/${endpoint.id}/deliveries/${delivery.id}`);
    const table = h("table", { class: "grid" });
    fillGrid(table, `Attempts of ${delivery.webhook_id}`, ["#", "At", "Answer", "Time", "Body or error"],
      found.attempts_log.map((a) => h("tr", {},
        h("td", {}, String(a.attempt)),
        h("td", {}, longTime(a.at)),
        h("td", {}, a.response_status === null ? "" : String(a.response_status)),
        h("td", {}, `${a.latency_ms} ms`),
        h("td", {}, h("code", {}, a.error ?? a.response_body ?? "")))));
    fill(target, table, h("details", {}, h("summary", {}, "Body"), h("pre", {}, JSON.stringify(found.payload, null, 2))));
  } catch (err) {
    error.textContent = err.message;
  }
}
