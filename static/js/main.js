// The page: who is signed in, which screen shows (hash routes, so the server only
// ever serves index.html), and the live connection that feeds the inbox.

import { h, fill, $, announce } from "./dom.js";
import { get, onSessionChange, session, signOut } from "./session.js";
import { renderAcceptInvite, renderSignIn } from "./signin.js";
import { Live } from "./live.js";
import { Inbox, atLeast } from "./inbox.js";
import { InboxView } from "./inbox_view.js";
import { renderAdmin, SESSION_UPDATED } from "./admin.js";
import { CONTACTS_IMPORT } from "./contacts_admin.js";
import { BROADCAST_UPDATED } from "./broadcasts.js";

const STATE_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

const root = document.getElementById("app");
let app = null;

class App {
  constructor(me) {
    this.me = me;
    this.inbox = new Inbox(me.user);
    this.live = new Live({
      onState: (state) => this.showState(state),
      onEvent: (frame) => {
        // A WhatsApp session's card on the admin page listens for its own channel.
        if (frame.type === "session.updated") window.dispatchEvent(new CustomEvent(SESSION_UPDATED, { detail: frame.data }));
        else if (frame.type === "contacts.import") window.dispatchEvent(new CustomEvent(CONTACTS_IMPORT, { detail: frame.data }));
        else if (frame.type === "broadcast.updated") window.dispatchEvent(new CustomEvent(BROADCAST_UPDATED, { detail: frame.data }));
        else this.inbox.apply(frame);
      },
      onSignal: (frame) => (frame.type === "access" ? this.roleChanged(frame.role) : this.inbox.signal(frame)),
      onReset: (reason) => this.reset(reason),
      onSignedOut: () => signOut(),
    });
    this.inbox.live = this.live;
    this.renderShell();
    this.live.start();
    this.inbox.loadTeam().catch(() => {});
  }

  renderShell() {
    const user = this.me.user;
    this.stateBadge = h("span", { class: "conn conn-connecting", role: "status", "aria-live": "polite", "data-state": "connecting" }, STATE_TEXT.connecting);
    const presence = (this.presence = h(
      "select",
      { "aria-label": "Your availability", class: "presence-select" },
      ["online", "away", "busy"].map((s) => h("option", { value: s }, s[0].toUpperCase() + s.slice(1))),
    ));
    presence.addEventListener("change", () => this.live.call({ type: "presence.set", status: presence.value }).catch(() => {}));
    const nav = h(
      "nav",
      { "aria-label": "Main" },
      h("a", { href: "#/inbox", "data-route": "inbox" }, "Inbox"),
      atLeast(user.role, "manager") ? h("a", { href: "#/admin", "data-route": "admin" }, "Admin") : null,
    );
    this.main = h("main", { id: "main", tabindex: "-1" });
    fill(
      root,
      h(
        "header",
        { class: "topbar" },
        h("span", { class: "brand" }, "Switchboard"),
        h("span", { class: "tenant", title: "Workspace" }, this.me.tenant.name),
        nav,
        h("span", { class: "spacer" }),
        this.stateBadge,
        presence,
        h("span", { class: "who" }, h("span", { class: "visually-hidden" }, "Signed in as "), `${user.name} (${user.role})`),
        h("button", { type: "button", class: "link", onclick: () => signOut() }, "Sign out"),
      ),
      this.main,
    );
    root.removeAttribute("aria-busy");
  }

  showState(state) {
    // A new connection starts "online": say again what the agent chose.
    if (state === "live" && this.presence.value !== "online") {
      this.live.call({ type: "presence.set", status: this.presence.value }).catch(() => {});
    }
    this.stateBadge.textContent = STATE_TEXT[state];
    this.stateBadge.className = `conn conn-${state}`;
    this.stateBadge.dataset.state = state;
    if (state !== "connecting") announce(`Connection: ${STATE_TEXT[state]}`);
  }

  /** An admin changed this user's role: the server already acts on it; show what it allows. */
  roleChanged(role) {
    if (this.me.user.role === role) return;
    this.me.user.role = role; // the inbox holds the same user object
    const state = this.stateBadge.dataset.state;
    this.renderShell();
    this.showState(state);
    this.route();
    announce(`Your role is now ${role}.`);
  }

  /** The server could not replay what was missed: load everything shown afresh. */
  reset(reason) {
    if (this.view?.reload) this.view.reload(reason);
  }

  route() {
    const [, screen = "inbox", ...rest] = location.hash.split("/");
    for (const link of root.querySelectorAll("nav a")) {
      if (link.dataset.route === screen) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.view?.leave?.();
    if (screen === "admin" && atLeast(this.me.user.role, "manager")) {
      this.view = renderAdmin(this.main, this.me, rest[0]);
    } else {
      this.view = new InboxView(this.main, this.inbox, this.me, rest[0]);
    }
  }

  stop() {
    this.view?.leave?.();
    this.live.stop();
  }
}

async function boot() {
  const invite = location.hash.match(/^#\/invite\/([^/?]+)/);
  if (!session()) {
    app?.stop();
    app = null;
    if (invite) return renderAcceptInvite(root, decodeURIComponent(invite[1]));
    return renderSignIn(root);
  }
  if (app) return;
  let me;
  try {
    me = await get("/auth/me");
  } catch (err) {
    if (err.status === 401) return signOut();
    fill(root, h("main", { id: "main", class: "signin-page" }, h("p", { class: "card form-error", role: "alert" }, `Cannot load your account: ${err.message}`)));
    return;
  }
  app = new App(me);
  if (invite || !location.hash) location.hash = "#/inbox";
  app.route();
}

onSessionChange((next) => {
  if (!next) {
    app?.stop();
    app = null;
    renderSignIn(root, "You are signed out.");
  } else if (!app) {
    boot();
  }
});

window.addEventListener("hashchange", () => {
  if (app && !location.hash.startsWith("#/invite/")) app.route();
  else boot();
});

document.addEventListener("keydown", (event) => {
  // "/" jumps to search from anywhere but a text field, as in most inboxes.
  if (event.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName)) {
    const search = $("#search");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  }
});

boot();
