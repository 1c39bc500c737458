// One conversation: its timeline, who is typing or looking at it, the team's
// actions on it, and the composer. Replies go over the socket when it is live and
// over REST otherwise, always with a client id, so a retry can never send twice.

import { h, fill, timeEl, longTime, clientId, announce } from "./dom.js";
import { blobUrl, del, get, patch, post, put } from "./session.js";
import { atLeast, leadOf } from "./inbox.js";
import { channelLabel } from "./list.js";
import { templatePicker, needsTemplate } from "./templates.js";

const TICKS = {
  pending: ["🕓", "Sending"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["!", "Failed"],
};
const MEDIA = new Set(["image", "sticker", "audio", "video", "document"]);
const HANDOFF = { bot: "The bot answers", pending_human: "Waiting for a person", human: "A person answers" };
const TRIGGER = {
  human_request: "asked for a person",
  negative_streak: "negative messages",
  critical_urgency: "urgent and upset",
  low_confidence: "unclear request",
  hot_lead: "hot lead",
  repeated_question: "repeated message",
  guardrail_hit: "flagged by the guardrail",
  legal_keywords: "legal words",
  vip_contact: "VIP contact",
  agent_took_over: "taken over by an agent",
  ai_handoff: "the AI asked for a person",
  ai_could_not_answer: "the AI could not answer",
};
/** What an AI message records of the call that made it, for its badge's tooltip. */
function aiTitle(ai) {
  if (ai.fallback) return `The fallback: the AI could not answer (${ai.fallback})`;
  const tokens = ai.cached ? "from the answer cache" : `${ai.input_tokens ?? 0} + ${ai.output_tokens ?? 0} tokens, ${ai.latency_ms ?? 0} ms`;
  return `Written by ${ai.provider}/${ai.model}, ${tokens}`;
}

const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 5000;
// Quick replies are looked up once typing after `/` pauses this long.
const QUICK_REPLY_DELAY_MS = 150;

export class Thread {
  constructor(inbox, id, { onBack, onContact }) {
    this.inbox = inbox;
    this.id = id;
    this.onBack = onBack;
    this.onContact = onContact;
    this.me = inbox.me;
    this.canWork = atLeast(this.me.role, "agent");
    this.unsent = new Map();
    this.media = new Map();
    this.el = h("section", { class: "pane thread-pane", "aria-label": "Conversation" });
    this.el.append(h("p", { class: "muted pad" }, "Loading the conversation…"));
  }

  get conversation() {
    return this.inbox.conversations.get(this.id);
  }

  async load() {
    try {
      await this.inbox.openThread(this.id);
      // Reloading (after a reset) keeps the composer and its draft.
      if (this.log) {
        this.updateHeader();
        this.updateActions();
        this.updateTimeline();
      } else {
        this.render();
      }
      this.markRead();
    } catch (err) {
      fill(this.el, h("p", { class: "form-error pad", role: "alert" }, `Cannot open this conversation: ${err.message}`));
    }
  }

  render() {
    const c = this.conversation;
    if (!c) return;
    this.header = h("div", { class: "thread-head" });
    this.log = h("ol", { class: "timeline" });
    this.typingLine = h("p", { class: "typing", "aria-live": "polite" });
    this.earlier = h("button", { type: "button", class: "link earlier", onclick: () => this.loadEarlier() }, "Load earlier messages");
    const parts = [this.header];
    if (this.canWork) {
      this.actions = h("div", { class: "actions", role: "toolbar", "aria-label": "Conversation actions" });
      parts.push(this.actions);
    }
    parts.push(
      h("div", { class: "scroller", role: "log", "aria-label": `Messages with ${c.contact.name}`, tabindex: "0" }, this.earlier, this.log),
      this.typingLine,
    );
    if (this.canWork) parts.push(this.composer());
    fill(this.el, ...parts);
    this.updateHeader();
    this.updateActions();
    this.updateTimeline(true);
    this.updateTyping();
  }

  updateHeader() {
    const c = this.conversation;
    if (!c || !this.header) return;
    const viewers = this.inbox.active("viewing", this.id);
    fill(
      this.header,
      h("button", { type: "button", class: "back", onclick: this.onBack, "aria-label": "Back to the list" }, "←"),
      h(
        "div",
        { class: "title" },
        h("h2", {}, h("button", { type: "button", class: "link contact-link", onclick: this.onContact, title: "Show contact details" }, c.contact.name)),
        h(
          "p",
          { class: "meta" },
          channelLabel(c.channel),
          " · ",
          h("span", { class: `status status-${c.status}`, "data-testid": "status" }, c.status),
          c.snoozed_until ? ` until ${longTime(c.snoozed_until)}` : "",
          " · ",
          c.assignee_id ? `Assigned to ${this.inbox.memberName(c.assignee_id)}` : "Unassigned",
        ),
        this.handoffLine(c),
      ),
      h(
        "p",
        { class: "viewers", "aria-live": "polite", "data-testid": "viewers" },
        viewers.length ? `Also viewing: ${viewers.map((u) => this.inbox.memberName(u)).join(", ")}` : "",
      ),
    );
  }

  /** Who answers the customer, why, and the agent's way to change it. */
  handoffLine(c) {
    const state = c.lead?.handoff ?? "bot";
    const why = state !== "bot" && TRIGGER[c.lead?.trigger] ? ` (${TRIGGER[c.lead.trigger]})` : "";
    const said = h("span", { "data-testid": "handoff" }, `${HANDOFF[state] ?? state}${why}`);
    if (!this.canWork) return h("p", { class: "meta handoff-line" }, said);
    const to = state === "human" ? "bot" : "human";
    const label = to === "human" ? "Take over" : "Hand back to the bot";
    return h("p", { class: "meta handoff-line" }, said, " ",
      h("button", { type: "button", class: "link", onclick: () => this.handoff(to) }, label));
  }

  async handoff(to) {
    try {
      const lead = await post(`/conversations/${this.id}/handoff`, { to });
      const c = this.conversation;
      if (c) c.lead = leadOf(lead);
      announce(to === "human" ? "You took the conversation over" : "Handed back to the bot");
      this.updateHeader();
      this.inbox.emit("lead", { id: this.id });
    } catch (err) {
      if (this.actionError) this.actionError.textContent = err.message;
      announce(`Could not change who answers: ${err.message}`);
    }
  }

  /** Builds the toolbar's controls once; updates only change their values, so a
   *  live event never wipes a tag being typed or closes an open menu. */
  buildActions() {
    const assign = h("select", { "aria-label": "Assignee" });
    assign.addEventListener("change", () => this.act(() => put(`/conversations/${this.id}/assignment`, { user_id: assign.value || null }), "Assignment changed"));

    const status = h("select", { "aria-label": "Status" },
      ["open", "pending", "snoozed", "resolved"].map((s) => h("option", { value: s }, s[0].toUpperCase() + s.slice(1))));
    const until = h("input", { type: "datetime-local", "aria-label": "Snooze until", hidden: true });
    const snooze = h("button", { type: "button", hidden: true }, "Snooze");
    status.addEventListener("change", () => {
      const snoozing = status.value === "snoozed";
      until.hidden = !snoozing;
      snooze.hidden = !snoozing;
      if (snoozing) {
        const tomorrow = new Date(Date.now() + 86_400_000);
        tomorrow.setHours(9, 0, 0, 0);
        until.value = localInput(tomorrow);
        until.focus();
      } else {
        this.act(() => patch(`/conversations/${this.id}`, { status: status.value }), `Status: ${status.value}`);
      }
    });
    snooze.addEventListener("click", () => {
      const at = new Date(until.value);
      until.hidden = true;
      snooze.hidden = true;
      this.act(() => patch(`/conversations/${this.id}`, { status: "snoozed", snoozed_until: at.toISOString() }), "Snoozed");
    });

    const priority = h("select", { "aria-label": "Priority" },
      ["low", "normal", "high", "urgent"].map((p) => h("option", { value: p }, `${p[0].toUpperCase()}${p.slice(1)} priority`)));
    priority.addEventListener("change", () => this.act(() => patch(`/conversations/${this.id}`, { priority: priority.value }), `Priority: ${priority.value}`));

    const tagInput = h("input", { type: "text", "aria-label": "Add a tag", placeholder: "Add tag", list: "tag-choices", size: 10 });
    tagInput.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || !tagInput.value.trim()) return;
      event.preventDefault();
      const tag = tagInput.value.trim().toLowerCase();
      tagInput.value = "";
      this.act(() => post(`/conversations/${this.id}/tags`, { tag }), `Tagged ${tag}`);
    });
    const tags = h("span", { class: "tags" });
    this.actionError = h("span", { class: "form-error", role: "alert" });
    this.controls = { assign, status, until, priority, tags };
    fill(this.actions, assign, status, until, snooze, priority, tags, tagInput, this.actionError);
  }

  updateActions() {
    const c = this.conversation;
    if (!c || !this.actions) return;
    if (!this.controls) this.buildActions();
    const { assign, status, until, priority, tags } = this.controls;
    const team = [...this.inbox.team.values()].filter((m) => atLeast(m.role, "agent") && m.id !== this.me.id);
    fill(assign,
      h("option", { value: "" }, "Unassigned"),
      h("option", { value: this.me.id }, "Me"),
      team.map((m) => h("option", { value: m.id }, m.name)),
      // Someone no longer on the team keeps their name here until reassigned.
      c.assignee_id && c.assignee_id !== this.me.id && !this.inbox.team.has(c.assignee_id)
        ? h("option", { value: c.assignee_id }, this.inbox.memberName(c.assignee_id))
        : null);
    assign.value = c.assignee_id ?? "";
    if (until.hidden) status.value = c.status === "closed" ? "resolved" : c.status;
    priority.value = c.priority;
    fill(tags, c.tags.map((t) =>
      h("span", { class: "tag" }, t,
        h("button", { type: "button", class: "untag", "aria-label": `Remove tag ${t}`, onclick: () => this.act(() => del(`/conversations/${this.id}/tags/${encodeURIComponent(t)}`), `Removed tag ${t}`) }, "×"))));
  }

  async act(call, done) {
    this.actionError.textContent = "";
    try {
      const conversation = await call();
      if (conversation?.id) this.inbox.upsert(conversation);
      announce(done);
      this.updateActions();
      this.updateHeader();
      this.inbox.emit("list");
    } catch (err) {
      this.actionError.textContent = err.message;
      this.updateActions();
    }
  }

  updateTimeline(scroll = false) {
    if (!this.log) return;
    const scroller = this.log.parentElement;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const messages = this.inbox.timeline(this.id);
    // A reply the server has stored replaces its local stand-in.
    for (const m of messages) if (m.client_id) this.unsent.delete(m.client_id);
    // Unchanged messages keep their elements, so a voice note keeps playing and a
    // photo is not re-created when something else in the thread changes.
    const kept = new Map();
    const items = messages.map((m) => {
      const key = `${m.id}|${m.status}|${m.updated_at}|${this.inbox.memberName(m.author_id)}|${this.inbox.insights.has(m.id)}`;
      const known = this.rendered?.get(m.id);
      const el = known?.key === key ? known.el : this.messageEl(m);
      kept.set(m.id, { key, el });
      return el;
    });
    this.rendered = kept;
    fill(this.log, items, [...this.unsent.values()].map((u) => this.unsentEl(u)));
    this.earlier.hidden = this.inbox.thread(this.id).complete;
    if (scroll || atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  messageEl(m) {
    const mine = m.direction !== "inbound";
    const ai = m.direction === "outbound" ? m.attachment?.ai : null;
    const who = m.direction === "inbound" ? this.conversation?.contact.name : m.author_id ? this.inbox.memberName(m.author_id) : ai ? "AI assistant" : "Automation";
    const classes = `msg msg-${m.direction}`;
    return h(
      "li",
      { class: classes, "data-seq": m.seq, "data-id": m.id, "data-status": m.status },
      h("div", { class: "msg-meta" },
        h("span", { class: "author" }, m.direction === "note" ? `Internal note · ${who}` : who),
        ai ? h("span", { class: "badge ai", title: aiTitle(ai) }, "AI") : null,
        timeEl(m.created_at, longTime)),
      this.content(m),
      m.direction === "inbound" ? this.insightChips(m) : null,
      mine && m.direction === "outbound" ? this.ticks(m) : null,
    );
  }

  /** What the pipeline found in a customer's message: intent, sentiment, urgency, flags. */
  insightChips(m) {
    const found = this.inbox.insights.get(m.id);
    if (!found) return null;
    const u = found.understanding ?? {};
    const s = found.sentiment ?? {};
    const chip = (kind, label, value, title) =>
      h("span", { class: `chip chip-${kind}`, title, "data-testid": `chip-${kind}` }, h("span", { class: "visually-hidden" }, `${label}: `), value);
    const chips = [];
    if (u.intent) {
      const evidence = u.signals?.[0]?.evidence ? ` from “${u.signals[0].evidence}”` : "";
      chips.push(chip("intent", "Intent", u.intent.replaceAll("_", " "), `Intent ${u.intent}, ${Math.round((u.confidence ?? 0) * 100)}% sure${evidence}`));
    }
    if (s.label) chips.push(chip(`sentiment sentiment-${s.label}`, "Sentiment", s.label, `Sentiment ${Number(s.score ?? 0).toFixed(2)} (${s.lexicon ?? "rules"})`));
    if (u.urgency === "high" || u.urgency === "critical") chips.push(chip("urgency", "Urgency", u.urgency, u.urgent_words ? `Urgent words: ${u.urgent_words}` : "Urgent"));
    if (found.guard && !found.guard.passed) {
      chips.push(chip("flag", "Guardrail", "flagged", (found.guard.flags ?? []).map((f) => f.kind ?? f).join(", ")));
    }
    return h("div", { class: "chips" }, chips);
  }

  content(m) {
    const parts = [];
    if (MEDIA.has(m.type) && m.direction === "inbound") parts.push(this.mediaEl(m));
    if (m.type === "template" && m.attachment) parts.push(h("p", { class: "muted" }, `Template ${m.attachment.name ?? ""}`));
    if (m.type === "location" && m.attachment) {
      parts.push(h("p", {}, `📍 ${m.attachment.name ?? ""} ${m.attachment.latitude ?? ""}, ${m.attachment.longitude ?? ""}`));
    }
    if (m.type === "lead" && m.attachment) {
      const ad = m.attachment.ad_id ? ` · ad ${m.attachment.ad_id}` : "";
      parts.push(h("p", { class: "muted" }, `Lead Ads form ${m.attachment.form_id ?? "?"}${ad}`));
    }
    if (m.body) parts.push(h("p", { class: "body" }, m.body));
    if (!parts.length) parts.push(h("p", { class: "muted" }, `[${m.type}]`));
    return h("div", { class: "msg-content" }, parts);
  }

  mediaEl(m) {
    const holder = h("div", { class: "media" }, h("span", { class: "muted" }, `Loading ${m.type}…`));
    const show = (url) => {
      const label = `${m.type} from ${this.conversation?.contact.name ?? "the customer"}`;
      const el =
        m.type === "image" || m.type === "sticker" ? h("img", { src: url, alt: label })
        : m.type === "audio" ? h("audio", { src: url, controls: true, "aria-label": label })
        : m.type === "video" ? h("video", { src: url, controls: true, "aria-label": label })
        : h("a", { href: url, download: m.attachment?.filename ?? "document" }, `Download ${m.attachment?.filename ?? "document"}`);
      fill(holder, el);
    };
    const cached = this.media.get(m.id);
    if (cached) show(cached);
    else {
      blobUrl(`/api/v1/messages/${m.id}/media`).then(
        (url) => {
          this.media.set(m.id, url);
          show(url);
        },
        (err) => fill(holder, h("span", { class: "muted" }, err.message)),
      );
    }
    return holder;
  }

  ticks(m) {
    const [symbol, label] = TICKS[m.status] ?? ["", m.status];
    const tick = h("span", { class: `ticks tick-${m.status}`, title: label, "aria-label": label, "data-testid": "ticks" }, symbol);
    if (m.status !== "failed") return h("div", { class: "msg-foot" }, tick);
    return h(
      "div",
      { class: "msg-foot failed" },
      tick,
      h("span", { class: "fail-reason" }, `Not delivered: ${m.error ?? "unknown reason"}`),
      this.canWork ? h("button", { type: "button", class: "link", onclick: () => this.retry(m) }, "Retry") : null,
    );
  }

  async retry(m) {
    try {
      await post(`/messages/${m.id}/retry`);
      announce("Sending again");
    } catch (err) {
      announce(`Retry failed: ${err.message}`);
      this.composerError.textContent = `Retry failed: ${err.message}`;
    }
  }

  unsentEl(u) {
    return h(
      "li",
      { class: `msg msg-${u.note ? "note" : "outbound"} unsent`, "data-client-id": u.client_id },
      h("div", { class: "msg-meta" }, h("span", { class: "author" }, u.note ? "Internal note · you" : "you")),
      h("div", { class: "msg-content" }, h("p", { class: "body" }, u.body)),
      h(
        "div",
        { class: "msg-foot" },
        u.error
          ? [h("span", { class: "fail-reason" }, `Not sent: ${u.error}`), h("button", { type: "button", class: "link", onclick: () => this.deliver(u) }, "Send again")]
          : u.note
            ? h("span", { class: "muted" }, "Saving…")
            : h("span", { class: "ticks tick-pending", "aria-label": "Sending", "data-testid": "ticks" }, TICKS.pending[0]),
      ),
    );
  }

  composer() {
    this.mode = "reply";
    this.input = h("textarea", { rows: 3, "aria-label": "Reply to the customer", placeholder: "Reply… (Enter sends, Shift+Enter for a new line)" });
    this.composerError = h("p", { class: "form-error", role: "alert" });
    const modes = h("div", { class: "modes", role: "radiogroup", "aria-label": "Message kind" },
      [["reply", "Reply"], ["note", "Internal note"]].map(([value, label]) =>
        h("button", { type: "button", role: "radio", "aria-checked": String(value === "reply"), class: `mode mode-${value}`, onclick: (e) => this.setMode(value, e.currentTarget) }, label)));
    this.input.addEventListener("keydown", (event) => {
      if (this.quickKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      } else if (event.key === "Escape") {
        this.onBack?.({ focusList: true });
      }
    });
    this.input.addEventListener("input", () => {
      this.typed();
      this.offerQuickReplies();
    });
    this.input.addEventListener("blur", () => this.stopTyping());
    const send = h("button", { type: "button", class: "primary", onclick: () => this.submit() }, "Send");
    const whatsapp = this.conversation.channel.startsWith("whatsapp:");
    const templates = whatsapp ? h("button", { type: "button", class: "link", onclick: () => this.pickTemplate() }, "Template…") : h("span");
    this.picker = h("div", { class: "template-slot" });
    this.draftSlot = h("div", { class: "draft-slot", "aria-live": "polite" });
    this.quickList = h("ul", { class: "quick-replies", role: "listbox", id: `quick-${this.id}`, "aria-label": "Quick replies", hidden: true });
    this.input.setAttribute("aria-controls", this.quickList.id);
    this.form = h("div", { class: `composer composer-${this.mode}` }, this.draftSlot, modes, this.input, this.quickList, h("div", { class: "composer-foot" }, templates, this.composerError, send), this.picker);
    this.updateDraft();
    if (needsTemplate(this.conversation)) this.pickTemplate("This customer last wrote more than 24 hours ago: WhatsApp only lets a template through.");
    return this.form;
  }

  /** After `/` at the start of the composer: the quick replies whose shortcut holds
   *  what follows, filled in for this conversation by the server. */
  offerQuickReplies() {
    const typed = this.input.value.match(/^\/([\p{L}\p{N}_-]*)$/u);
    clearTimeout(this.quickTimer);
    if (!typed) return this.closeQuickReplies();
    this.quickTimer = setTimeout(async () => {
      try {
        const found = await get(`/conversations/${this.id}/quick-replies?q=${encodeURIComponent(typed[1])}`);
        if (!this.input.value.startsWith("/")) return;
        this.showQuickReplies(found.data);
      } catch (err) {
        this.composerError.textContent = `Quick replies unavailable: ${err.message}`;
      }
    }, QUICK_REPLY_DELAY_MS);
  }

  showQuickReplies(replies) {
    if (!replies.length) return this.closeQuickReplies();
    fill(this.quickList, replies.map((reply, i) => h("li", {
      role: "option", id: `${this.quickList.id}-${i}`, "aria-selected": String(i === 0), class: "quick-reply",
      onmousedown: (event) => {
        // Before the textarea loses focus.
        event.preventDefault();
        this.useQuickReply(reply);
      },
    }, h("strong", {}, `/${reply.shortcut}`), " ", h("span", { class: "muted" }, reply.text))));
    this.quickReplies = replies;
    this.quickList.hidden = false;
    this.input.setAttribute("aria-activedescendant", `${this.quickList.id}-0`);
  }

  closeQuickReplies() {
    this.quickReplies = null;
    if (!this.quickList) return;
    this.quickList.hidden = true;
    fill(this.quickList);
    this.input.removeAttribute("aria-activedescendant");
  }

  useQuickReply(reply) {
    this.input.value = reply.text;
    this.closeQuickReplies();
    this.input.focus();
    announce(`Quick reply /${reply.shortcut} in the composer`);
  }

  /** Arrows move through the offered quick replies, Enter or Tab takes one, Escape
   *  closes them; true when the key was theirs. */
  quickKey(event) {
    if (!this.quickReplies) return false;
    const options = [...this.quickList.querySelectorAll("[role=option]")];
    const current = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
    const select = (index) => {
      options.forEach((o, i) => o.setAttribute("aria-selected", String(i === index)));
      this.input.setAttribute("aria-activedescendant", options[index].id);
    };
    switch (event.key) {
      case "ArrowDown": select((current + 1) % options.length); break;
      case "ArrowUp": select((current - 1 + options.length) % options.length); break;
      case "Enter":
      case "Tab": this.useQuickReply(this.quickReplies[Math.max(current, 0)]); break;
      case "Escape": this.closeQuickReplies(); break;
      default: return false;
    }
    event.preventDefault();
    return true;
  }

  /** The AI's draft for this conversation, to use (into the composer, to edit and
   *  send) or to discard. */
  updateDraft() {
    if (!this.draftSlot) return;
    const draft = this.inbox.drafts.get(this.id);
    if (!draft) {
      fill(this.draftSlot);
      return;
    }
    const discard = () => {
      this.inbox.drafts.delete(this.id);
      this.updateDraft();
    };
    const use = () => {
      this.setMode("reply", this.form.querySelector(".mode-reply"));
      this.input.value = draft.reply;
      discard();
      this.input.focus();
    };
    const sources = (draft.cited ?? []).map((c) => c.title);
    const about = draft.refused
      ? `The AI could not answer (${draft.refused}). The fallback:`
      : `AI draft, ${Math.round((draft.confidence ?? 0) * 100)}% sure${sources.length ? `, from ${[...new Set(sources)].join(", ")}` : ""}${draft.action && draft.action !== "none" ? `; it suggests: ${draft.action}` : ""}`;
    fill(this.draftSlot, h("div", { class: "draft", role: "region", "aria-label": "AI draft" },
      h("p", { class: "draft-about muted" }, about),
      draft.reply ? h("p", { class: "draft-text" }, draft.reply) : null,
      h("div", { class: "draft-actions" },
        draft.reply ? h("button", { type: "button", class: "primary", onclick: use }, "Use draft") : null,
        h("button", { type: "button", class: "link", onclick: discard }, "Discard"))));
  }

  setMode(mode, button) {
    this.mode = mode;
    for (const b of this.form.querySelectorAll(".mode")) b.setAttribute("aria-checked", String(b === button));
    this.form.className = `composer composer-${mode}`;
    this.input.setAttribute("aria-label", mode === "note" ? "Internal note for the team" : "Reply to the customer");
    this.input.placeholder = mode === "note" ? "Note for the team (the customer never sees it)…" : "Reply… (Enter sends, Shift+Enter for a new line)";
    this.input.focus();
  }

  typed() {
    if (this.mode !== "reply" || !this.input.value.trim()) return this.stopTyping();
    const now = Date.now();
    if (now - (this.typingSentAt ?? 0) > TYPING_REPEAT_MS) {
      this.typingSentAt = now;
      this.inbox.live.signal({ type: "typing.start", conversation_id: this.id });
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingIdle);
    if (!this.typingSentAt) return;
    this.typingSentAt = 0;
    this.inbox.live.signal({ type: "typing.stop", conversation_id: this.id });
  }

  submit() {
    const body = this.input.value.trim();
    if (!body) return;
    this.closeQuickReplies();
    this.composerError.textContent = "";
    const u = { client_id: clientId("web"), body, note: this.mode === "note", error: null };
    this.unsent.set(u.client_id, u);
    this.input.value = "";
    this.stopTyping();
    this.updateTimeline(true);
    this.deliver(u);
  }

  /** Over the socket when live, else REST; the client id makes either safe to repeat. */
  async deliver(u) {
    u.error = null;
    this.updateTimeline();
    let message;
    try {
      try {
        const result = await this.inbox.live.call({ type: "message.send", conversation_id: this.id, client_id: u.client_id, body: u.body, note: u.note });
        message = result.message;
      } catch (err) {
        if (err.code !== "offline" && err.code !== "timeout") throw err;
        message = await post(`/conversations/${this.id}/${u.note ? "notes" : "messages"}`, { body: u.body, client_id: u.client_id });
      }
      this.inbox.putMessage(this.inbox.thread(this.id), message);
      this.unsent.delete(u.client_id);
    } catch (err) {
      if (err.code === "template_required") {
        this.unsent.delete(u.client_id);
        this.input.value = u.body;
        this.pickTemplate(err.message);
      } else {
        u.error = err.message;
      }
    }
    this.updateTimeline(true);
  }

  pickTemplate(reason) {
    fill(this.picker, templatePicker(reason, async (template) => {
      const message = await post(`/conversations/${this.id}/messages`, { template, client_id: clientId("tpl") });
      this.inbox.putMessage(this.inbox.thread(this.id), message);
      fill(this.picker);
      this.updateTimeline(true);
    }, () => fill(this.picker), this.conversation.channel.split(":")[1]));
  }

  updateTyping() {
    if (!this.typingLine) return;
    const names = this.inbox.active("typing", this.id).map((u) => this.inbox.memberName(u));
    this.typingLine.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  async loadEarlier() {
    const scroller = this.log.parentElement;
    const before = scroller.scrollHeight;
    await this.inbox.loadEarlier(this.id);
    scroller.scrollTop = scroller.scrollHeight - before;
  }

  /** Agents read what they look at; the server then zeroes the unread count. */
  markRead() {
    const c = this.conversation;
    if (!this.canWork || !c || c.unread_count === 0 || document.visibilityState !== "visible") return;
    this.inbox.live.call({ type: "conversation.read", conversation_id: this.id }).catch(() => {
      post(`/conversations/${this.id}/read`).then((conversation) => {
        this.inbox.upsert(conversation);
        this.inbox.emit("list");
      }, () => {});
    });
  }

  leave() {
    this.stopTyping();
    for (const url of this.media.values()) URL.revokeObjectURL(url);
  }

  focusComposer() {
    (this.input ?? this.log?.parentElement)?.focus();
  }
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

