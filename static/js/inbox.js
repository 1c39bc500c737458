// What the page knows about the inbox, and the one place events change it. REST
// loads and live events meet here; both are merged by identity (conversation id,
// message id), so a replayed or re-fetched item replaces its copy instead of
// showing twice.

import { get } from "./session.js";

/** Longer than the server's repeat interval for an ongoing activity (30 s). */
const ACTIVITY_STALE_MS = 75_000;

export const ROLES = ["viewer", "agent", "manager", "admin", "owner"];

export function atLeast(role, minimum) {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

export class Inbox extends EventTarget {
  constructor(me) {
    super();
    this.me = me;
    this.conversations = new Map();
    /** Conversations events changed while the list is being fetched. */
    this.changedDuringLoad = null;
    this.threads = new Map();
    /** What the pipeline found in customer messages, by message id. */
    this.insights = new Map();
    /** The AI's latest draft reply per conversation (suggest mode), until used or dropped. */
    this.drafts = new Map();
    this.team = new Map();
    this.presence = new Map();
    this.typing = new Map();
    this.viewing = new Map();
    this.filters = { assignee: "all", status: "open", channel: "", tag: "", q: "", temperature: "" };
    this.listCursor = null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async loadTeam() {
    const page = await get("/team");
    this.team = new Map(page.data.map((member) => [member.id, member]));
    this.emit("team");
  }

  memberName(id) {
    if (!id) return "";
    if (id === this.me.id) return "you";
    return this.team.get(id)?.name ?? "a former member";
  }

  query() {
    const params = new URLSearchParams();
    const f = this.filters;
    if (f.assignee === "mine") params.set("assignee", "me");
    if (f.assignee === "unassigned") params.set("assignee", "none");
    if (f.status) params.set("status", f.status);
    if (f.channel) params.set("channel", f.channel);
    if (f.tag) params.set("tag", f.tag);
    if (f.q.trim()) params.set("q", f.q.trim());
    if (f.temperature) params.set("temperature", f.temperature);
    return params;
  }

  /** Reloads the list for the current filters (after a filter change or a reset). */
  async loadList() {
    const params = this.query();
    params.set("limit", "50");
    const wanted = params.toString();
    this.listQuery = wanted;
    // Events go on arriving during the fetch, and the page may have been read before
    // them: what they changed is carried over (a lead that came meanwhile is not lost).
    const changed = (this.changedDuringLoad = new Set());
    const page = await get(`/conversations?${wanted}`);
    if (this.listQuery !== wanted) return; // A newer filter won the race.
    this.changedDuringLoad = null;
    const fresh = new Map(page.data.map((c) => [c.id, c]));
    for (const id of changed) {
      const known = this.conversations.get(id);
      if (!known) continue;
      const fetched = fresh.get(id);
      const kept = !fetched || later(known.updated_at, fetched.updated_at) ? known : fetched;
      fresh.set(id, { ...kept, lead: known.lead ?? fetched?.lead ?? null });
    }
    this.conversations = fresh;
    this.listCursor = page.next_cursor ?? null;
    this.emit("list");
  }

  async loadMore() {
    if (!this.listCursor) return;
    const params = this.query();
    params.set("cursor", this.listCursor);
    const page = await get(`/conversations?${params}`);
    for (const c of page.data) this.conversations.set(c.id, c);
    this.listCursor = page.next_cursor ?? null;
    this.emit("list");
  }

  /** Does a conversation belong in the list under the current filters? */
  matches(c) {
    const f = this.filters;
    if (f.assignee === "mine" && c.assignee_id !== this.me.id) return false;
    if (f.assignee === "unassigned" && c.assignee_id) return false;
    if (f.status && c.status !== f.status) return false;
    if (f.channel && c.channel !== f.channel) return false;
    if (f.tag && !c.tags.includes(f.tag)) return false;
    if (f.temperature && c.lead?.temperature !== f.temperature) return false;
    const q = f.q.trim().toLowerCase();
    if (q && !c.contact.name.toLowerCase().includes(q)) return false;
    return true;
  }

  sorted() {
    return [...this.conversations.values()]
      .filter((c) => this.matches(c))
      .sort((a, b) => activity(b) - activity(a) || b.id.localeCompare(a.id));
  }

  /** Keeps the newer of two copies of a conversation, and its list preview. */
  upsert(conversation, preview) {
    const known = this.conversations.get(conversation.id);
    if (known && later(known.updated_at, conversation.updated_at)) return known;
    // Events carry the conversation without its lead: the lead has events of its own.
    const merged = { ...conversation, last_message: preview ?? known?.last_message ?? null, lead: conversation.lead ?? known?.lead ?? null };
    this.conversations.set(conversation.id, merged);
    this.changedDuringLoad?.add(conversation.id);
    return merged;
  }

  async openThread(id) {
    // Exists before the fetch, so events arriving meanwhile land in it; the fetched
    // messages then merge by seq.
    const thread = this.thread(id);
    const body = await get(`/conversations/${id}`);
    for (const m of body.recent_messages) this.putMessage(thread, m);
    this.putInsights(body.insights);
    thread.loaded = true;
    thread.complete = body.recent_messages.length === 0 || body.recent_messages[0].seq <= 1;
    const c = this.upsert(body.conversation);
    if (body.lead) c.lead = leadOf(body.lead);
    this.emit("thread", { id });
    this.emit("list");
    return body.conversation;
  }

  async loadEarlier(id) {
    const thread = this.thread(id);
    const first = Math.min(...thread.messages.keys());
    if (!Number.isFinite(first) || first <= 1) return;
    const page = await get(`/conversations/${id}/messages?before=${first}&limit=50`);
    for (const m of page.data) this.putMessage(thread, m);
    this.putInsights(page.insights);
    thread.complete = !page.next_cursor;
    this.emit("thread", { id });
  }

  thread(id) {
    if (!this.threads.has(id)) this.threads.set(id, { messages: new Map(), loaded: false, complete: false });
    return this.threads.get(id);
  }

  putInsights(found) {
    for (const [id, insights] of Object.entries(found ?? {})) this.insights.set(id, insights);
  }

  /** Keeps the most recently updated copy of a message (a fetch can be older than an event). */
  putMessage(thread, message) {
    const known = thread.messages.get(message.seq);
    if (known && later(known.updated_at, message.updated_at)) return;
    thread.messages.set(message.seq, message);
  }

  /** A stream event (live or replayed), in offset order. */
  apply(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "message.new": {
        const m = data.message;
        const preview = { direction: m.direction, type: m.type, body: m.body, author_id: m.author_id, status: m.status };
        const c = this.upsert(data.conversation, preview);
        const thread = this.threads.get(frame.conversation_id);
        if (thread) this.putMessage(thread, m);
        // A person's reply answers what the draft was for.
        if (m.direction === "outbound" && m.author_id && this.drafts.delete(frame.conversation_id)) {
          this.emit("draft", { id: frame.conversation_id });
        }
        // The server stops a writer's typing when their message lands, silently.
        if (m.author_id && this.typing.get(frame.conversation_id)?.delete(m.author_id)) {
          this.emit("typing", { id: frame.conversation_id });
        }
        this.emit("message", { conversation: c, message: m });
        break;
      }
      case "message.status": {
        const thread = this.threads.get(frame.conversation_id);
        const m = thread?.messages.get(data.seq);
        if (m && m.id === data.message_id) {
          m.status = data.status;
          m.error = data.error ?? null;
          m.updated_at = frame.at;
          if (data.provider_id) m.provider_id = data.provider_id;
        }
        const c = this.conversations.get(frame.conversation_id);
        if (c?.last_message && c.last_seq === data.seq) c.last_message.status = data.status;
        this.emit("status", { conversation_id: frame.conversation_id, seq: data.seq });
        break;
      }
      case "message.insights":
      case "conversation.lead": {
        // A customer message's insights carry the lead it left; an agent's or the idle
        // sweep's change comes as the lead alone.
        if (frame.type === "message.insights") {
          this.insights.set(data.message_id, data.insights);
          this.emit("insights", { id: frame.conversation_id });
        }
        const lead = frame.type === "message.insights" ? data.lead : data;
        const c = this.conversations.get(frame.conversation_id);
        if (!c || !lead) return;
        c.lead = leadOf(lead);
        this.changedDuringLoad?.add(frame.conversation_id);
        // Only the row's badges change; the list is redrawn only when the lead decides
        // whether the row belongs in it (never under a click for nothing).
        this.emit("lead", { id: frame.conversation_id });
        if (!this.filters.temperature) return;
        break;
      }
      case "reply.suggested":
        // Only this agent's drafts reach this socket (the assignee's, or every
        // agent's while nobody has the conversation).
        this.drafts.set(frame.conversation_id, data);
        this.emit("draft", { id: frame.conversation_id });
        return;
      case "conversation.updated":
      case "conversation.assigned":
        this.upsert(data.conversation);
        this.emit("conversation", { id: frame.conversation_id, frame });
        break;
      default:
        // contact.* and future events: the panels that show them reload on open.
        this.emit("other", { frame });
        return;
    }
    this.emit("list");
  }

  /** Typing, presence and viewing: live only, never stored. */
  signal(frame) {
    if (frame.type === "presence") {
      this.presence.set(frame.user_id, frame.status);
      this.emit("presence");
    } else if (frame.type === "typing" || frame.type === "viewing") {
      const map = frame.type === "typing" ? this.typing : this.viewing;
      const users = map.get(frame.conversation_id) ?? new Map();
      if (frame.active) users.set(frame.user_id, Date.now());
      else users.delete(frame.user_id);
      map.set(frame.conversation_id, users);
      this.emit(frame.type, { id: frame.conversation_id });
    } else if (frame.type === "notification") {
      this.emit("notification", frame);
    }
  }

  /**
   * Who is typing in, or looking at, a conversation, besides me. The server says
   * when someone stops; an entry not repeated within `ACTIVITY_STALE_MS` is
   * dropped anyway, for a node that died without saying.
   */
  active(kind, id) {
    const users = (kind === "typing" ? this.typing : this.viewing).get(id);
    if (!users) return [];
    const limit = Date.now() - ACTIVITY_STALE_MS;
    for (const [user, at] of users) if (at < limit) users.delete(user);
    return [...users.keys()].filter((user) => user !== this.me.id);
  }

  /** The order a timeline shows: by seq. */
  timeline(id) {
    const thread = this.threads.get(id);
    if (!thread) return [];
    return [...thread.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  forgetThreads(except) {
    for (const id of this.threads.keys()) if (id !== except) this.threads.delete(id);
  }
}

/**
 * Is time `a` after time `b`? Compared as instants: the server's RFC 3339 text drops
 * trailing zeros of the fraction ("…:31.5Z", "…:31Z"), so text order is not time order.
 */
function later(a, b) {
  return Date.parse(a) > Date.parse(b);
}

/** What the page keeps of a lead (an event's data, or the API's view). */
export function leadOf(lead) {
  const { score, temperature, sentiment, handoff, trigger, reasons } = lead;
  return { score, temperature, sentiment, handoff, trigger, reasons };
}

/** When a conversation last moved, as milliseconds: the list's order. */
function activity(c) {
  return Date.parse(c.last_message_at || c.created_at);
}
