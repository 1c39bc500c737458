// The conversation list: filters, search, and one row per conversation, kept in
// activity order as events arrive. Arrow keys (or j/k) move through it.

import { h, fill, timeEl } from "./dom.js";
import { get, post } from "./session.js";
import { atLeast } from "./inbox.js";
import { field } from "./signin.js";

const STATUSES = [
  ["open", "Open"],
  ["pending", "Pending"],
  ["snoozed", "Snoozed"],
  ["resolved", "Resolved"],
  ["", "Any status"],
];

const TEMPERATURES = [
  ["", "Any lead"],
  ["hot", "Hot leads"],
  ["warm", "Warm leads"],
  ["cold", "Cold leads"],
];

const TEMPERATURE_WORD = { hot: "Hot", warm: "Warm", cold: "Cold" };

/** Hot and warm leads, and a conversation waiting for a person. */
function leadBadges(lead) {
  if (!lead) return [];
  const badges = [];
  if (lead.temperature !== "cold") badges.push(leadBadge(lead));
  if (lead.handoff === "pending_human") badges.push(h("span", { class: "badge handoff lead-badge" }, "Needs a person"));
  return badges;
}

/** The lead's badge: its temperature, with the score and the reasons on hover. */
function leadBadge(lead) {
  const reasons = (lead.reasons ?? []).map((r) => `${r.points > 0 ? "+" : ""}${r.points} ${r.signal.replaceAll("_", " ")}`).join(", ");
  return h("span", {
    class: `badge temp-${lead.temperature} lead-badge`,
    "aria-label": `${TEMPERATURE_WORD[lead.temperature]} lead, score ${lead.score}`,
    title: reasons ? `Score ${lead.score}: ${reasons}` : `Score ${lead.score}`,
  }, TEMPERATURE_WORD[lead.temperature]);
}

const PREVIEW_LABEL = {
  image: "Photo",
  audio: "Voice message",
  video: "Video",
  document: "Document",
  sticker: "Sticker",
  location: "Location",
  contact: "Contact card",
  reaction: "Reaction",
  template: "Template",
  interactive: "Button reply",
  lead: "Lead form",
};

function previewText(m, inbox) {
  if (!m) return "No messages yet";
  const text = m.body || PREVIEW_LABEL[m.type] || m.type;
  if (m.direction === "inbound") return text;
  const who = !m.author_id ? "Automation" : m.author_id === inbox.me.id ? "You" : inbox.memberName(m.author_id);
  return m.direction === "note" ? `Note by ${who}: ${text}` : `${who}: ${text}`;
}

export class ConversationList {
  constructor(inbox, onOpen) {
    this.inbox = inbox;
    this.onOpen = onOpen;
    this.selected = null;
    this.el = h("section", { class: "pane list-pane", "aria-label": "Conversations" });
    this.render();
  }

  render() {
    const f = this.inbox.filters;
    const tabs = h(
      "div",
      { class: "tabs", role: "radiogroup", "aria-label": "Whose conversations" },
      [
        ["mine", "Mine"],
        ["unassigned", "Unassigned"],
        ["all", "All"],
      ].map(([value, label]) =>
        h(
          "button",
          {
            type: "button",
            role: "radio",
            "aria-checked": String(f.assignee === value),
            class: "tab",
            onclick: () => this.setFilter({ assignee: value }),
          },
          label,
        ),
      ),
    );
    this.search = h("input", {
      id: "search",
      type: "search",
      placeholder: "Search name, phone, email  (/)",
      "aria-label": "Search conversations by contact name, phone or email",
      value: f.q,
    });
    let debounce;
    this.search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.setFilter({ q: this.search.value }), 250);
    });
    const status = select("Filter by status", STATUSES, f.status, (value) => this.setFilter({ status: value }));
    this.channelSelect = select("Filter by channel", [["", "All channels"]], f.channel, (value) => this.setFilter({ channel: value }));
    this.tagSelect = select("Filter by tag", [["", "All tags"]], f.tag, (value) => this.setFilter({ tag: value }));
    const temperature = select("Filter by lead temperature", TEMPERATURES, f.temperature, (value) => this.setFilter({ temperature: value }));
    this.rows = h("ul", { class: "conversations", role: "list", "aria-label": "Conversation list" });
    this.rows.addEventListener("keydown", (event) => this.keys(event));
    this.more = h("button", { type: "button", class: "link more", hidden: true, onclick: () => this.inbox.loadMore() }, "Load more");
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    // Choices for the thread's "add tag" field.
    this.tagChoices = h("datalist", { id: "tag-choices" });
    fill(
      this.el,
      h("div", { class: "list-head" }, tabs, this.search, h("div", { class: "filters" }, status, this.channelSelect, this.tagSelect, temperature), this.tagChoices),
      this.error,
      this.rows,
      this.more,
      atLeast(this.inbox.me.role, "agent") ? sandboxForm() : null,
    );
    this.loadChoices();
  }

  async loadChoices() {
    try {
      const tags = await get("/tags");
      fillOptions(this.tagSelect.querySelector("select"), [["", "All tags"], ...tags.data.map((t) => [t.name, t.name])], this.inbox.filters.tag);
      fill(this.tagChoices, tags.data.map((t) => h("option", { value: t.name })));
    } catch {
      // The filter still works for tags typed into conversations; the list is a nicety.
    }
    this.refreshChannels();
  }

  /** Channels seen in the loaded conversations (sandbox names and provider keys). */
  refreshChannels() {
    const select = this.channelSelect.querySelector("select");
    const seen = new Set([...this.inbox.conversations.values()].map((c) => c.channel));
    if (this.inbox.filters.channel) seen.add(this.inbox.filters.channel);
    const known = new Set([...select.options].map((o) => o.value));
    if ([...seen].every((c) => known.has(c))) return;
    fillOptions(select, [["", "All channels"], ...[...seen].sort().map((c) => [c, channelLabel(c)])], this.inbox.filters.channel);
  }

  async setFilter(change) {
    Object.assign(this.inbox.filters, change);
    if ("assignee" in change) {
      for (const tab of this.el.querySelectorAll(".tab")) {
        tab.setAttribute("aria-checked", String(tab.textContent.toLowerCase() === change.assignee));
      }
    }
    await this.reload();
  }

  async reload() {
    this.error.hidden = true;
    try {
      await this.inbox.loadList();
    } catch (err) {
      this.error.textContent = `Cannot load conversations: ${err.message}`;
      this.error.hidden = false;
    }
  }

  /** Redraws rows from the inbox state, keeping keyboard focus on the same row. */
  update() {
    const focused = document.activeElement?.closest?.(".conversation")?.dataset.id;
    const list = this.inbox.sorted();
    fill(
      this.rows,
      list.length
        ? list.map((c) => this.row(c))
        : h("li", { class: "empty" }, "No conversations here. New ones appear live."),
    );
    this.more.hidden = !this.inbox.listCursor;
    if (focused) this.rows.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus();
    this.refreshChannels();
  }

  /** A conversation's lead changed: swaps its row's lead badges, nothing else. */
  updateLead(id) {
    const row2 = this.rows.querySelector(`[data-id="${CSS.escape(id)}"] .row2`);
    const c = this.inbox.conversations.get(id);
    if (!row2 || !c) return;
    for (const old of row2.querySelectorAll(".lead-badge")) old.remove();
    row2.append(...leadBadges(c.lead));
  }

  row(c) {
    const me = this.inbox.me.id;
    const selected = c.id === this.selected;
    const badges = [];
    if (c.unread_count > 0) {
      badges.push(h("span", { class: "badge unread", "aria-label": `${c.unread_count} unread` }, String(c.unread_count)));
    }
    if (c.priority !== "normal") badges.push(h("span", { class: `badge prio-${c.priority}` }, c.priority));
    badges.push(...leadBadges(c.lead));
    const assignee = c.assignee_id ? (c.assignee_id === me ? "Mine" : this.inbox.memberName(c.assignee_id)) : "Unassigned";
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: `conversation${selected ? " selected" : ""}${c.unread_count > 0 ? " has-unread" : ""}`,
          "data-id": c.id,
          "aria-current": selected ? "true" : null,
          onclick: () => this.onOpen(c.id),
        },
        h("span", { class: "row1" }, h("span", { class: "name" }, c.contact.name), timeEl(c.last_message_at || c.created_at)),
        h("span", { class: "row2" }, h("span", { class: "preview" }, previewText(c.last_message, this.inbox)), ...badges),
        h(
          "span",
          { class: "row3" },
          h("span", { class: "channel" }, channelLabel(c.channel)),
          h("span", { class: `status status-${c.status}` }, c.status),
          h("span", { class: "assignee" }, assignee),
          c.tags.map((t) => h("span", { class: "tag" }, t)),
        ),
      ),
    );
  }

  select(id) {
    this.selected = id;
    for (const button of this.rows.querySelectorAll(".conversation")) {
      const on = button.dataset.id === id;
      button.classList.toggle("selected", on);
      if (on) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  keys(event) {
    const buttons = [...this.rows.querySelectorAll(".conversation")];
    const at = buttons.indexOf(document.activeElement);
    const step = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[event.key];
    if (step && at >= 0) {
      event.preventDefault();
      buttons[Math.max(0, Math.min(buttons.length - 1, at + step))].focus();
    } else if (event.key === "Home" && buttons.length) {
      event.preventDefault();
      buttons[0].focus();
    } else if (event.key === "End" && buttons.length) {
      event.preventDefault();
      buttons[buttons.length - 1].focus();
    }
  }

  focusSelected() {
    (this.rows.querySelector(".conversation.selected") || this.rows.querySelector(".conversation"))?.focus();
  }
}

export function channelLabel(key) {
  const [kind, name] = key.split(":");
  const kinds = { sandbox: "Sandbox", whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram", lead_ads: "Lead Ads", whatsapp_web: "WhatsApp" };
  // Connected channels are named by id; its start tells them apart.
  const short = /^[0-9a-f-]{36}$/.test(name ?? "") ? name.slice(0, 8) : name;
  return name ? `${kinds[kind] ?? kind} · ${short}` : key;
}

function select(label, options, value, onChange) {
  const el = h("select", { "aria-label": label });
  fillOptions(el, options, value);
  el.addEventListener("change", () => onChange(el.value));
  return h("label", { class: "inline-select" }, h("span", { class: "visually-hidden" }, label), el);
}

function fillOptions(el, options, value) {
  fill(el, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

/**
 * Plays a customer on a sandbox channel: a new team tries the inbox (and a demo
 * shows it) without connecting a real channel first.
 */
function sandboxForm() {
  const channel = h("input", { name: "channel", required: true, value: "demo" });
  const from = h("input", { name: "from", required: true, value: "alice", autocomplete: "off" });
  const name = h("input", { name: "name", value: "Alice", autocomplete: "off" });
  const text = h("textarea", { name: "text", required: true, rows: 2 });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "sandbox-form", "aria-label": "Play a customer" },
    h("p", { class: "muted" }, "Write as a customer on a sandbox channel; the message arrives like a real one."),
    h("div", { class: "row" }, field("Sandbox channel", channel), field("Customer handle", from)),
    field("Customer name", name),
    field("Customer message", text),
    error,
    h("button", { type: "submit" }, "Send as customer"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await post(`/sandbox/${encodeURIComponent(channel.value.trim())}/inbound`, {
        from: from.value.trim(),
        name: name.value.trim() || undefined,
        text: text.value,
      });
      text.value = "";
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return h("details", { class: "sandbox" }, h("summary", {}, "Try it: play a customer (sandbox)"), form);
}
