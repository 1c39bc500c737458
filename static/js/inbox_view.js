// The inbox screen: list, open conversation and contact panel side by side (one at a
// time on a phone), wired to the inbox state's events.

import { h, fill, announce } from "./dom.js";
import { ConversationList } from "./list.js";
import { Thread } from "./thread.js";
import { ContactPanel } from "./contact.js";

/** How often an open conversation tells the team it is still being looked at. */
const VIEWING_REPEAT_MS = 10_000;

export class InboxView {
  constructor(main, inbox, me, openId) {
    this.main = main;
    this.inbox = inbox;
    this.me = me;
    this.list = new ConversationList(inbox, (id) => this.open(id));
    this.threadSlot = h("div", { class: "thread-slot" }, h("section", { class: "pane thread-pane empty-thread" }, h("p", { class: "muted pad" }, "Pick a conversation.")));
    this.contactSlot = h("div", { class: "contact-slot" });
    this.layout = h("div", { class: "inbox" }, this.list.el, this.threadSlot, this.contactSlot);
    fill(main, this.layout);
    this.handlers = {
      list: () => this.list.update(),
      lead: (e) => {
        this.list.updateLead(e.detail.id);
        if (e.detail.id === this.thread?.id) this.thread.updateHeader();
      },
      insights: (e) => e.detail.id === this.thread?.id && this.thread.updateTimeline(),
      draft: (e) => e.detail.id === this.thread?.id && this.thread.updateDraft(),
      team: () => {
        this.list.update();
        this.thread?.updateActions();
        this.thread?.updateHeader();
      },
      message: (e) => this.onMessage(e.detail),
      status: (e) => e.detail.conversation_id === this.thread?.id && this.thread.updateTimeline(),
      conversation: (e) => {
        if (e.detail.id !== this.thread?.id) return;
        this.thread.updateHeader();
        this.thread.updateActions();
      },
      typing: (e) => e.detail.id === this.thread?.id && this.thread.updateTyping(),
      viewing: (e) => e.detail.id === this.thread?.id && this.thread.updateHeader(),
      notification: (e) => {
        const c = this.inbox.conversations.get(e.detail.conversation_id);
        announce(`Assigned to you: ${c?.contact.name ?? "a conversation"}`);
      },
    };
    for (const [type, handler] of Object.entries(this.handlers)) inbox.addEventListener(type, handler);
    this.onVisible = () => document.visibilityState === "visible" && this.thread?.markRead();
    document.addEventListener("visibilitychange", this.onVisible);
    this.list.reload();
    if (openId) this.open(openId, { focus: false });
  }

  onMessage({ conversation, message }) {
    if (conversation.id === this.thread?.id) {
      this.thread.updateTimeline();
      if (message.direction === "inbound") this.thread.markRead();
    } else if (message.direction === "inbound") {
      announce(`New message from ${conversation.contact.name}`);
    }
  }

  open(id, { focus = true } = {}) {
    if (this.thread?.id === id) return;
    this.stopViewing();
    this.thread?.leave();
    this.inbox.forgetThreads(id);
    this.list.select(id);
    if (location.hash !== `#/inbox/${id}`) history.replaceState(null, "", `#/inbox/${id}`);
    this.thread = new Thread(this.inbox, id, {
      onBack: (opts) => this.back(opts),
      onContact: () => this.toggleContact(),
    });
    fill(this.threadSlot, this.thread.el);
    this.layout.classList.add("has-thread");
    this.thread.load().then(() => {
      if (focus) this.thread.focusComposer();
      this.showContact();
      this.startViewing(id);
    });
  }

  back({ focusList = false } = {}) {
    this.layout.classList.remove("has-thread", "has-contact");
    if (focusList || matchMedia("(max-width: 800px)").matches) this.list.focusSelected();
  }

  toggleContact() {
    this.showContact(!this.layout.classList.contains("has-contact"), true);
  }

  /** The contact panel is open by default where there is room for it. */
  showContact(open = matchMedia("(min-width: 1100px)").matches, focus = false) {
    const c = this.thread && this.inbox.conversations.get(this.thread.id);
    if (!open || !c) {
      this.layout.classList.remove("has-contact");
      fill(this.contactSlot);
      return;
    }
    const panel = new ContactPanel(this.inbox, c.contact.id, () => this.showContact(false));
    fill(this.contactSlot, panel.el);
    this.layout.classList.add("has-contact");
    if (focus) panel.el.setAttribute("tabindex", "-1"), panel.el.focus();
  }

  /** Presence in one conversation: the server forgets a viewer who stops repeating. */
  startViewing(id) {
    const say = () => this.inbox.live.signal({ type: "viewing.start", conversation_id: id });
    say();
    this.viewingTimer = setInterval(say, VIEWING_REPEAT_MS);
    this.viewingId = id;
  }

  stopViewing() {
    clearInterval(this.viewingTimer);
    if (this.viewingId) this.inbox.live.signal({ type: "viewing.stop", conversation_id: this.viewingId });
    this.viewingId = null;
  }

  /** After `reset`: what is shown may be stale or incomplete; load it again. */
  reload(reason) {
    this.list.reload();
    if (reason !== "fresh") announce("Reloaded the inbox after a long disconnection");
    if (this.thread) {
      this.inbox.threads.delete(this.thread.id);
      this.thread.load();
    }
  }

  leave() {
    this.stopViewing();
    this.thread?.leave();
    for (const [type, handler] of Object.entries(this.handlers)) this.inbox.removeEventListener(type, handler);
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}
