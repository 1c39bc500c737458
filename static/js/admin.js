// Admin pages: the team and its roles, API keys (the secret is shown once),
// channels with what to paste into Meta's console and their health, replies that
// could not be delivered, the pipeline's settings (pipeline_settings.js), its
// language model (ai_settings.js), its replies (reply_settings.js) and the knowledge
// base they quote (knowledge.js), automation rules (automations.js), outbound webhooks
// (webhooks.js), custom fields, segments, imports and exports (contacts_admin.js),
// quick replies (quick_replies.js), broadcasts (broadcasts.js).
// The server enforces every permission; the page only hides what the
// role cannot use.

import { h, fill, fillGrid, longTime, announce, guarded } from "./dom.js";
import { del, get, patch, post } from "./session.js";
import { ROLES, atLeast } from "./inbox.js";
import { field } from "./signin.js";
import { renderPipelineSettings } from "./pipeline_settings.js";
import { renderAiSettings } from "./ai_settings.js";
import { renderKnowledge } from "./knowledge.js";
import { renderAutomations } from "./automations.js";
import { renderWebhooks } from "./webhooks.js";
import { renderReplySettings } from "./reply_settings.js";
import { renderContactsAdmin } from "./contacts_admin.js";
import { renderQuickReplies } from "./quick_replies.js";
import { renderBroadcasts } from "./broadcasts.js";

const SCOPES = [
  "conversations:read",
  "conversations:write",
  "contacts:read",
  "contacts:write",
  "users:read",
  "users:write",
  "audit:read",
  "channels:write",
  "settings:write",
];
const CHANNEL_KINDS = [
  ["whatsapp", "WhatsApp Cloud API number", "Phone number ID"],
  ["whatsapp_web", "WhatsApp number (link by QR code)", null],
  ["messenger", "Facebook page (Messenger)", "Page ID"],
  ["instagram", "Instagram account", "Instagram account ID"],
  ["lead_ads", "Facebook page (Lead Ads)", "Page ID"],
];

export function renderAdmin(main, me, tab) {
  const role = me.user.role;
  const tabs = [
    ["users", "Team", "manager", renderUsers],
    ["contacts", "Contacts", "manager", renderContactsAdmin],
    ["quick-replies", "Quick replies", "manager", renderQuickReplies],
    ["broadcasts", "Broadcasts", "admin", renderBroadcasts],
    ["api-keys", "API keys", "admin", renderKeys],
    ["channels", "Channels", "admin", renderChannels],
    ["dead-letters", "Dead letters", "admin", renderDeadLetters],
    ["pipeline", "Lead scoring and handoff", "admin", renderPipelineSettings],
    ["ai", "Language model", "admin", renderAiSettings],
    ["replies", "AI replies", "admin", renderReplySettings],
    ["knowledge", "Knowledge base", "admin", renderKnowledge],
    ["automations", "Automations", "admin", renderAutomations],
    ["webhooks", "Webhooks", "admin", renderWebhooks],
  ].filter(([, , minimum]) => atLeast(role, minimum));
  const current = tabs.find(([id]) => id === tab) ?? tabs[0];
  const body = h("div", { class: "admin-body" });
  fill(
    main,
    h("div", { class: "admin" },
      h("nav", { class: "admin-tabs", "aria-label": "Admin sections" },
        tabs.map(([id, label]) => h("a", { href: `#/admin/${id}`, "aria-current": id === current[0] ? "page" : null }, label))),
      body),
  );
  current[3](body, me);
  return { leave() {} };
}

/** A data table with a caption for screen readers and column headers. */
function errorLine() {
  return h("p", { class: "form-error", role: "alert" });
}

async function renderUsers(body, me) {
  const canManage = atLeast(me.user.role, "admin");
  const error = errorLine();
  const table = h("table", { class: "grid" });
  const invited = h("div", { "aria-live": "polite" });
  const refresh = async () => {
    const users = await guarded(error, () => get("/users"));
    if (!users) return;
    fillGrid(table, "Team members", ["Name", "Email", "Role", "Status", ""],
      users.data.map((u) => userRow(u, me, canManage, error, refresh)));
  };
  const form = canManage ? inviteForm(error, invited, refresh, me.user.role) : null;
  fill(body, h("h1", {}, "Team"), error, invited, table, form);
  refresh();
}

function userRow(u, me, canManage, error, refresh) {
  const self = u.id === me.user.id;
  const editable = canManage && !self && (me.user.role === "owner" || ROLES.indexOf(u.role) < ROLES.indexOf(me.user.role));
  const role = editable
    ? h("select", { "aria-label": `Role of ${u.name}` }, ROLES.filter((r) => me.user.role === "owner" || ROLES.indexOf(r) < ROLES.indexOf(me.user.role)).map((r) => h("option", { value: r, selected: r === u.role }, r)))
    : u.role;
  if (editable) role.addEventListener("change", () => guarded(error, () => patch(`/users/${u.id}`, { role: role.value })).then(refresh));
  const toggle = editable
    ? h("button", { type: "button", class: "link", onclick: () => guarded(error, () => patch(`/users/${u.id}`, { status: u.status === "active" ? "deactivated" : "active" })).then(refresh) },
        u.status === "active" ? "Deactivate" : "Reactivate")
    : null;
  return h("tr", {}, h("td", {}, u.name, self ? " (you)" : ""), h("td", {}, u.email), h("td", {}, role), h("td", {}, u.status), h("td", {}, toggle));
}

function inviteForm(error, invited, refresh, myRole) {
  const name = h("input", { name: "name", required: true });
  const email = h("input", { name: "email", type: "email", required: true });
  const role = h("select", { name: "role" }, ROLES.filter((r) => myRole === "owner" || ROLES.indexOf(r) < ROLES.indexOf(myRole)).map((r) => h("option", { value: r, selected: r === "agent" }, r)));
  const form = h("form", { class: "card inline-form", "aria-label": "Invite a team member" },
    h("h2", {}, "Invite someone"), field("Name", name), field("Email", email), field("Role", role), h("button", { type: "submit", class: "primary" }, "Invite"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await guarded(error, () => post("/users", { name: name.value.trim(), email: email.value.trim(), role: role.value }));
    if (!result) return;
    const link = `${location.origin}/#/invite/${encodeURIComponent(result.invitation.token)}`;
    fill(invited, h("div", { class: "card secret" },
      h("p", {}, `Send this link to ${result.user.name}. It works once, until ${longTime(result.invitation.expires_at)}:`),
      h("input", { type: "text", readonly: true, value: link, "aria-label": "Invitation link", class: "secret-value", onfocus: (e) => e.target.select() })));
    form.reset();
    refresh();
  });
  return form;
}

async function renderKeys(body) {
  const error = errorLine();
  const table = h("table", { class: "grid" });
  const shown = h("div", { "aria-live": "polite" });
  const refresh = async () => {
    const keys = await guarded(error, () => get("/api-keys"));
    if (!keys) return;
    fillGrid(table, "API keys", ["Name", "Key", "Scopes", "Created", "Expires", ""], keys.data.map((k) => h("tr", { class: k.revoked_at ? "revoked" : "" },
        h("td", {}, k.name), h("td", {}, h("code", {}, k.hint)), h("td", {}, k.scopes.join(", ")),
        h("td", {}, longTime(k.created_at)), h("td", {}, k.revoked_at ? `revoked ${longTime(k.revoked_at)}` : k.expires_at ? longTime(k.expires_at) : "never"),
        h("td", {}, k.revoked_at ? "" : h("button", { type: "button", class: "link", onclick: async () => {
          if (!confirm(`Revoke ${k.name}? Integrations using it stop working at once.`)) return;
          await guarded(error, () => del(`/api-keys/${k.id}`));
          refresh();
        } }, "Revoke")))));
  };
  const name = h("input", { name: "name", required: true });
  const days = h("input", { name: "days", type: "number", min: 1, max: 3650, placeholder: "never" });
  const scopes = h("fieldset", { class: "scopes" }, h("legend", {}, "Scopes"),
    SCOPES.map((s) => h("label", {}, h("input", { type: "checkbox", value: s }), ` ${s}`)));
  const form = h("form", { class: "card inline-form", "aria-label": "Create an API key" },
    h("h2", {}, "New API key"), field("Name", name), field("Expires after (days)", days), scopes, h("button", { type: "submit", class: "primary" }, "Create key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...scopes.querySelectorAll("input:checked")].map((i) => i.value);
    const request = { name: name.value.trim(), scopes: chosen };
    if (days.value) request.expires_in_days = Number(days.value);
    const result = await guarded(error, () => post("/api-keys", request));
    if (!result) return;
    fill(shown, h("div", { class: "card secret", role: "alert" },
      h("p", {}, h("strong", {}, "Copy this key now: it is shown only once.")),
      h("input", { type: "text", readonly: true, value: result.key, "aria-label": "The new API key", class: "secret-value", onfocus: (e) => e.target.select() })));
    form.reset();
    refresh();
  });
  fill(body, h("h1", {}, "API keys"), error, shown, table, form);
  refresh();
}

async function renderChannels(body) {
  const error = errorLine();
  const list = h("div", { class: "channels" });
  const refresh = async () => {
    const channels = await guarded(error, () => get("/channels"));
    if (!channels) return;
    fill(list, channels.data.length ? channels.data.map((c) => channelCard(c, error, refresh)) : h("p", { class: "muted" }, "No channels yet. The sandbox channel needs none."));
  };
  fill(body, h("h1", {}, "Channels"), error, list, channelForm(error, refresh));
  refresh();
}

function channelCard(c, error, refresh) {
  if (c.kind === "whatsapp_web") return sessionCard(c, error, refresh);
  const status = h("dl", { class: "status-list" }, h("dt", {}, "Health"), h("dd", {}, "…"));
  get(`/channels/${c.id}/status`).then((s) =>
    fill(status,
      h("dt", {}, "Health"), h("dd", { class: `health health-${s.health}` }, s.health.replaceAll("_", " ")),
      h("dt", {}, "Queued replies"), h("dd", {}, String(s.queued)),
      h("dt", {}, "Dead letters"), h("dd", {}, String(s.pending_dead_letters)),
      h("dt", {}, "Last inbound"), h("dd", {}, s.last_inbound_at ? longTime(s.last_inbound_at) : "never"),
      s.last_error ? [h("dt", {}, "Last error"), h("dd", {}, `${s.last_error} (${longTime(s.last_error_at)})`)] : null),
    (err) => fill(status, h("dt", {}, "Health"), h("dd", {}, err.message)));
  const url = `${location.origin}${c.webhook.path}`;
  const copyable = (label, value) => h("div", { class: "field" }, h("label", {}, label,
    h("input", { type: "text", readonly: true, value, class: "secret-value", onfocus: (e) => e.target.select() })));
  const next = c.state === "active" ? "disabled" : "active";
  return h("article", { class: "card channel", "aria-label": c.name },
    h("h2", {}, c.name, " ", h("small", {}, `${c.kind} · ${c.account_id} · ${c.state}`)),
    h("p", {}, "In Meta's developer console, under Webhooks, set:"),
    copyable("Callback URL", url),
    c.credentials === "unreadable"
      ? h("p", { class: "form-error", role: "alert" },
        "The stored credentials cannot be opened (was the credentials key changed?). Set the access token, app secret and verify token again.")
      : copyable("Verify token", c.webhook.verify_token),
    status,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: () => guarded(error, () => patch(`/channels/${c.id}`, { state: next })).then(refresh) }, next === "disabled" ? "Disable" : "Enable"),
      h("button", { type: "button", class: "link danger", onclick: async () => {
        if (!confirm(`Delete ${c.name}? Its webhooks stop being accepted.`)) return;
        await guarded(error, () => del(`/channels/${c.id}`));
        refresh();
      } }, "Delete")));
}

/** The window event a `session.updated` frame becomes (main.js dispatches it). */
export const SESSION_UPDATED = "switchboard:session-updated";

// Frames bring every change at once; this slow read only catches up after the live
// connection was down (a resume replays the frames too, this is the safety net).
const SESSION_POLL_MS = 15_000;

const SESSION_WORDS = {
  starting: "Starting", qr: "Scan the QR code", pairing_code: "Type the pairing code on the phone",
  connected: "Connected", reconnecting: "Reconnecting", logged_out: "Logged out", conflict: "Taken over by another client",
  banned: "Banned", failed: "Failed", stopped: "Stopped",
};

/** One line of what went with a state: the number, the reason, the attempt. */
function sessionNote(s) {
  const d = s.detail || {};
  const number = d.phone || s.phone;
  return [
    number ? `${number}${d.name ? ` (${d.name})` : ""}` : null,
    d.attempt ? `attempt ${d.attempt}` : null,
    d.reason,
  ].filter(Boolean).join(" · ");
}

function sessionCard(c, error, refresh) {
  const panel = h("div", { class: "session", "aria-live": "polite" }, h("p", { class: "muted" }, "…"));
  const code = h("p", { class: "pairing-code" });
  const phone = h("input", { name: "phone", type: "tel", placeholder: "+4915112345678", id: `pair-${c.id}` });
  const pairing = h("form", { class: "row", "aria-label": "Link with a phone number" },
    h("label", { for: `pair-${c.id}` }, "Or link with phone number"), phone,
    h("button", { type: "submit" }, "Get a pairing code"));
  pairing.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = await guarded(error, () => post(`/channels/${c.id}/session/pairing-code`, { phone: phone.value.trim() }));
    if (given) fill(code, "Type this on the phone: ", h("strong", {}, given.code));
  });
  const historyList = h("ol", { class: "session-history" });
  const history = h("details", { class: "session-history" }, h("summary", {}, "History"), historyList);
  const showHistory = async () => {
    const [events, team] = await Promise.all([get(`/channels/${c.id}/session/history`), teamNames()]);
    fill(historyList, events.data.length
      ? events.data.map((e) => h("li", {},
          h("time", { datetime: e.at }, longTime(e.at)), " ", h("strong", {}, SESSION_WORDS[e.state] ?? e.state),
          sessionNote(e) ? ` · ${sessionNote(e)}` : null,
          e.by ? ` · by ${team.get(e.by) ?? "a former team member"}` : null))
      : h("li", { class: "muted" }, "Nothing yet."));
  };
  history.addEventListener("toggle", () => {
    if (history.open) showHistory().catch((err) => fill(historyList, h("li", { class: "form-error" }, err.message)));
  });
  const show = (s) => {
    const qr = s.state === "qr" && s.qr_svg
      ? h("img", { class: "qr", alt: "QR code to scan with WhatsApp on the phone", width: 256, height: 256,
        src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(s.qr_svg)}` })
      : null;
    const d = s.detail || {};
    fill(panel,
      h("dl", { class: "status-list" },
        h("dt", {}, "Session"), h("dd", { class: `health session-${s.state}` }, SESSION_WORDS[s.state] ?? s.state),
        d.phone || s.phone ? [h("dt", {}, "Number"), h("dd", {}, `${d.phone || s.phone}${d.name ? ` (${d.name})` : ""}`)] : null,
        d.attempt ? [h("dt", {}, "Attempt"), h("dd", {}, String(d.attempt))] : null,
        d.next_try_at ? [h("dt", {}, "Next try"), h("dd", {}, longTime(d.next_try_at))] : null,
        d.reason ? [h("dt", {}, "Why"), h("dd", {}, d.reason)] : null,
        d.pairing_code ? [h("dt", {}, "Pairing code"), h("dd", {}, h("strong", {}, d.pairing_code))] : null,
        h("dt", {}, "Since"), h("dd", {}, longTime(s.updated_at))),
      qr ? h("p", {}, "On the phone: WhatsApp → Settings → Linked devices → Link a device.") : null,
      qr);
    pairing.hidden = s.state !== "qr" && s.state !== "pairing_code";
    if (s.state !== "qr" && s.state !== "pairing_code") fill(code);
  };
  // One read at a time; a change that lands during a read is read again after it.
  let reading = false;
  let again = false;
  const read = async () => {
    if (reading) return void (again = true);
    reading = true;
    try {
      show(await get(`/channels/${c.id}/session`));
      if (history.open) await showHistory();
    } catch (err) {
      fill(panel, h("p", { class: "form-error" }, err.message));
    } finally {
      reading = false;
    }
    if (again) {
      again = false;
      read();
    }
  };
  const gone = () => !card.isConnected;
  const onUpdate = (event) => {
    if (gone()) return window.removeEventListener(SESSION_UPDATED, onUpdate);
    if (event.detail?.channel_id === c.id) read();
  };
  window.addEventListener(SESSION_UPDATED, onUpdate);
  const poll = () => {
    if (gone()) return;
    read();
    setTimeout(poll, SESSION_POLL_MS);
  };
  const next = c.state === "active" ? "disabled" : "active";
  const act = (path, done) => async () => {
    const result = await guarded(error, () => post(`/channels/${c.id}/session/${path}`));
    if (result) show(result);
    if (done) announce(done);
  };
  const card = h("article", { class: "card channel", "aria-label": c.name },
    h("h2", {}, c.name, " ", h("small", {}, `WhatsApp number · ${c.state}`)),
    panel, pairing, code,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: act("restart", `${c.name} is starting again.`) }, "Restart"),
      h("button", { type: "button", onclick: async () => {
        if (!confirm(`Log ${c.name} out? The phone unlinks this device and you will need to scan again.`)) return;
        await act("logout", `${c.name} logged out.`)();
      } }, "Log out"),
      h("button", { type: "button", onclick: () => guarded(error, () => patch(`/channels/${c.id}`, { state: next })).then(refresh) }, next === "disabled" ? "Disable" : "Enable"),
      h("button", { type: "button", class: "link danger", onclick: async () => {
        if (!confirm(`Delete ${c.name}? Its session ends; its conversations stay.`)) return;
        await guarded(error, () => del(`/channels/${c.id}`));
        refresh();
      } }, "Delete")),
    history);
  read();
  setTimeout(poll, SESSION_POLL_MS);
  return card;
}

/** Team members by id, for who did what in a session's history. */
async function teamNames() {
  const users = await get("/users");
  return new Map(users.data.map((u) => [u.id, u.name]));
}

function channelForm(error, refresh) {
  const kind = h("select", { name: "kind" }, CHANNEL_KINDS.map(([v, label]) => h("option", { value: v }, label)));
  const accountLabel = h("span", {});
  const account = h("input", { name: "account_id", id: "channel-account" });
  const name = h("input", { name: "name", required: true });
  const token = h("input", { name: "access_token", type: "password", autocomplete: "off" });
  const secret = h("input", { name: "app_secret", type: "password", autocomplete: "off" });
  // A WhatsApp number linked by QR code has no provider account or secrets.
  const meta = h("div", {},
    h("div", { class: "field" }, h("label", { for: "channel-account" }, accountLabel), account),
    field("Access token", token, "A system user token with the messaging permissions."),
    field("App secret", secret, "Used to check every webhook's signature."));
  const showKind = () => {
    const [, , label] = CHANNEL_KINDS.find(([v]) => v === kind.value);
    meta.hidden = !label;
    accountLabel.textContent = label ?? "";
    for (const input of [account, token, secret]) input.required = Boolean(label);
  };
  kind.addEventListener("change", showKind);
  showKind();
  const form = h("form", { class: "card inline-form", "aria-label": "Connect a channel" },
    h("h2", {}, "Connect a channel"),
    field("Kind", kind), field("Name", name), meta,
    h("button", { type: "submit", class: "primary" }, "Connect"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const web = kind.value === "whatsapp_web";
    const body = web
      ? { kind: kind.value, name: name.value.trim() }
      : { kind: kind.value, name: name.value.trim(), account_id: account.value.trim(), access_token: token.value, app_secret: secret.value };
    const created = await guarded(error, () => post("/channels", body));
    if (!created) return;
    announce(web
      ? `${created.name} added. Scan its QR code with WhatsApp on the phone.`
      : `${created.name} connected. Paste its callback URL and verify token into Meta's console.`);
    form.reset();
    showKind();
    refresh();
  });
  return form;
}

async function renderDeadLetters(body) {
  const error = errorLine();
  const table = h("table", { class: "grid" });
  const refresh = async () => {
    const letters = await guarded(error, () => get("/dead-letters?pending=true"));
    if (!letters) return;
    fillGrid(table, "Replies that could not be delivered", ["When", "Reason", "Attempts", "Conversation", ""], letters.data.length
        ? letters.data.map((d) => h("tr", {},
            h("td", {}, longTime(d.created_at)), h("td", {}, d.error), h("td", {}, String(d.attempts)),
            h("td", {}, h("a", { href: `#/inbox/${d.conversation_id}` }, "Open")),
            h("td", {}, h("button", { type: "button", onclick: async () => {
              await guarded(error, () => post(`/dead-letters/${d.id}/retry`));
              refresh();
            } }, "Retry"))))
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Nothing waiting. Every reply was delivered or retried.")));
  };
  fill(body, h("h1", {}, "Dead letters"), error, table);
  refresh();
}
