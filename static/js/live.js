// The live connection: one WebSocket to /ws (docs/protocol.md), kept alive across
// flaky networks. It remembers the position (epoch, offset) of the last event it
// handed on, and every reconnect subscribes after it, so the server replays exactly
// what was missed. The page never reloads for a reconnect.

import { accessToken, refresh } from "./session.js";

/** Reconnect backoff: doubles from the first to the cap, with jitter. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 15_000;
/** A socket that has said nothing for this long is dead even if TCP has not noticed. */
const SILENCE_MS = 40_000;
const PING_EVERY_MS = 15_000;
/** How long an acknowledged frame may wait for its `ack`. */
const ACK_TIMEOUT_MS = 15_000;

export class Live {
  /**
   * @param handlers.onEvent(frame)    an event frame with an offset, in offset order
   * @param handlers.onSignal(frame)   typing, presence, viewing, notification, access
   * @param handlers.onReset(reason)   the view must reload over REST
   * @param handlers.onState(state)    "connecting" | "live" | "reconnecting" | "offline"
   * @param handlers.onSignedOut()     the server refused the session
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.position = null;
    this.socket = null;
    this.state = "connecting";
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map();
    this.stopped = false;
    this.lastHeard = 0;
    this.onOnline = () => this.reconnectSoon(0);
    this.onOffline = () => {
      clearTimeout(this.retryTimer);
      this.setState("offline");
      this.drop();
    };
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.watchdog = setInterval(() => this.check(), PING_EVERY_MS);
  }

  start() {
    if (!navigator.onLine) this.setState("offline");
    else this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.drop();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.handlers.onState(state);
  }

  async connect() {
    // One socket at a time, even when "online" and a retry timer fire together.
    if (this.stopped || this.socket || this.connecting) return;
    if (!navigator.onLine) return this.setState("offline");
    this.connecting = true;
    let token;
    try {
      token = await accessToken();
    } catch (err) {
      if (err.status === 401) return this.handlers.onSignedOut();
      return this.reconnectSoon();
    } finally {
      this.connecting = false;
    }
    if (this.stopped || this.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`, ["switchboard.v1", `bearer.${token}`]);
    this.socket = socket;
    this.subscribed = false;
    socket.addEventListener("message", (event) => this.receive(socket, event.data));
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  /** Closes the current socket without waiting for the server. */
  drop() {
    const socket = this.socket;
    this.socket = null;
    this.failPending("The connection was lost before the server answered.");
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.failPending("The connection was lost before the server answered.");
    if (this.stopped) return;
    if (code === 4001) return this.handlers.onSignedOut();
    if (code === 4002 || code === 4003) {
      // 4002: the access token expired under the socket. 4003: its sign-in ended
      // (signed out elsewhere, password changed, deactivated). Either way a fresh
      // token, then resume; when the refresh is refused too, the session is over.
      refresh().then(
        () => this.reconnectSoon(0),
        (err) => (err.status === 401 ? this.handlers.onSignedOut() : this.reconnectSoon()),
      );
      this.setState("reconnecting");
      return;
    }
    this.reconnectSoon();
  }

  reconnectSoon(delay) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (!navigator.onLine) return this.setState("offline");
    this.setState("reconnecting");
    const wait =
      delay ?? Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  check() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > SILENCE_MS) {
      this.drop();
      this.reconnectSoon(0);
      return;
    }
    this.sendRaw({ type: "ping" });
  }

  receive(socket, data) {
    if (socket !== this.socket) return;
    this.lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        this.sendRaw({ type: "subscribe", after: this.position });
        return;
      case "resumed":
        this.position = { epoch: frame.epoch, offset: frame.offset };
        return this.becameLive();
      case "reset":
        this.position = { epoch: frame.epoch, offset: frame.offset };
        this.handlers.onReset(frame.reason);
        return this.becameLive();
      case "ack":
      case "error":
        return this.settle(frame);
      case "pong":
        return;
      default:
        if (typeof frame.offset === "number" && frame.epoch) {
          this.position = { epoch: frame.epoch, offset: frame.offset };
          this.handlers.onEvent(frame);
        } else {
          this.handlers.onSignal(frame);
        }
    }
  }

  becameLive() {
    this.attempt = 0;
    this.subscribed = true;
    this.setState("live");
  }

  sendRaw(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame that is not worth an answer (typing); false when not live. */
  signal(frame) {
    return this.subscribed && this.sendRaw(frame);
  }

  /** Sends a frame and resolves with its `ack` result, or rejects with its error. */
  call(frame) {
    return new Promise((resolve, reject) => {
      if (!this.subscribed) return reject(Object.assign(new Error("Not connected"), { code: "offline" }));
      const ref = this.nextRef++;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(Object.assign(new Error("The server did not answer in time."), { code: "timeout" }));
      }, ACK_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      this.sendRaw({ ...frame, ref });
    });
  }

  settle(frame) {
    const waiting = this.pending.get(frame.ref);
    if (!waiting) return;
    this.pending.delete(frame.ref);
    clearTimeout(waiting.timer);
    if (frame.type === "ack") waiting.resolve(frame.result);
    else waiting.reject(Object.assign(new Error(frame.message), { code: frame.code }));
  }

  failPending(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(Object.assign(new Error(message), { code: "offline" }));
    }
    this.pending.clear();
    this.subscribed = false;
  }
}
