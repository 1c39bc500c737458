// The signed-in session: tokens, their background refresh, and the fetch wrapper
// every REST call goes through.
//
// Refresh tokens rotate, and presenting a spent one revokes the whole family (that
// is how the server detects theft). Two tabs refreshing at once would look exactly
// like that, so refreshes are serialised across tabs with a Web Lock, and a tab
// that waited adopts the tokens the other tab just stored instead of spending its
// stale copy.

const KEY = "switchboard.session";
/** Refresh when this share of the access token's life has passed. */
const REFRESH_AT = 0.8;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let current = load();
let timer = null;
/** Counts sign-outs, so a refresh that was in flight across one does not sign back in. */
let signOuts = 0;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function store(session) {
  current = session;
  if (!session) signOuts += 1;
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  schedule();
  for (const listener of listeners) listener(session);
}

function fromResponse(body) {
  return {
    access_token: body.access_token,
    expires_at: Date.now() + body.expires_in * 1000,
    lifetime_ms: body.expires_in * 1000,
    refresh_token: body.refresh_token,
    user: body.user,
  };
}

/** Called with the new session (or null when signed out) on every change. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function session() {
  return current;
}

export async function signIn(tenant, email, password) {
  const body = await request("POST", "/api/v1/auth/login", { tenant, email, password }, { anonymous: true });
  store(fromResponse(body));
}

export async function acceptInvite(token, password) {
  const body = await request("POST", "/api/v1/auth/accept-invite", { token, password }, { anonymous: true });
  store(fromResponse(body));
}

export async function signOut() {
  const ending = current;
  store(null);
  if (!ending) return;
  try {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { authorization: `Bearer ${ending.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: ending.refresh_token }),
    });
  } catch {
    // Signed out locally either way; the refresh token expires on its own.
  }
}

/** A valid access token, refreshing first when it is close to expiry. */
export async function accessToken() {
  if (!current) throw new ApiError(401, "unauthenticated", "Signed out");
  if (Date.now() < current.expires_at - 5000) return current.access_token;
  await refresh();
  return current.access_token;
}

let refreshing = null;

/** One refresh at a time in this tab, and across tabs through the lock. */
export function refresh() {
  if (!refreshing) {
    refreshing = (navigator.locks ? navigator.locks.request(KEY, rotate) : rotate()).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function rotate() {
  const stored = load();
  if (!stored) {
    store(null);
    throw new ApiError(401, "unauthenticated", "Signed out");
  }
  // Another tab rotated while this one waited for the lock: take its tokens.
  if (current && stored.refresh_token !== current.refresh_token && Date.now() < stored.expires_at - 5000) {
    current = stored;
    schedule();
    return;
  }
  const epoch = signOuts;
  let response;
  try {
    response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: stored.refresh_token }),
    });
  } catch (err) {
    // Offline: keep the session and try again later; the socket shows the state.
    schedule(10_000);
    throw new ApiError(0, "offline", "The server cannot be reached");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || {};
    if (response.status === 401) store(null);
    else schedule(10_000);
    throw new ApiError(response.status, error.code || "internal", error.message || "Refresh failed");
  }
  if (signOuts !== epoch) {
    // Signed out while the server rotated: the sign-out named the spent token, and the
    // server ended the whole sign-in with it, these new tokens included.
    throw new ApiError(401, "unauthenticated", "Signed out");
  }
  store(fromResponse(body));
}

function schedule(delay) {
  clearTimeout(timer);
  if (!current) return;
  const wait = delay ?? Math.max(1000, current.expires_at - current.lifetime_ms * (1 - REFRESH_AT) - Date.now());
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

/**
 * A REST call. Bodies are JSON; errors become `ApiError` with the server's code and
 * message. A 401 on an authenticated call refreshes once and tries again.
 */
export async function request(method, path, body, { anonymous = false, retried = false } = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (!anonymous) headers.authorization = `Bearer ${await accessToken()}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "offline", "The server cannot be reached. Check your connection.");
  }
  if (response.status === 401 && !anonymous && !retried) {
    await refresh();
    return request(method, path, body, { anonymous, retried: true });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  const parsed = text ? safeJson(text) : null;
  if (!response.ok) {
    const error = (parsed && parsed.error) || {};
    throw new ApiError(response.status, error.code || "internal", error.message || response.statusText, error.details);
  }
  return parsed;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Fetches a protected file (customer media) as a blob URL the CSP allows. */
export async function blobUrl(path) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${await accessToken()}` } });
  if (!response.ok) throw new ApiError(response.status, "media", `Media unavailable (${response.status})`);
  return URL.createObjectURL(await response.blob());
}

export function api(path) {
  return `/api/v1${path}`;
}

export const get = (path) => request("GET", api(path));
export const post = (path, body = {}) => request("POST", api(path), body);
export const patch = (path, body) => request("PATCH", api(path), body);
export const put = (path, body) => request("PUT", api(path), body);
export const del = (path) => request("DELETE", api(path));

// Another tab signed in, out, or refreshed: follow it.
window.addEventListener("storage", (event) => {
  if (event.key !== KEY) return;
  const next = load();
  if (!next) store(null);
  else if (!current || next.refresh_token !== current.refresh_token) {
    const previous = current;
    current = next;
    schedule();
    if (previous?.user?.id !== next.user?.id) for (const listener of listeners) listener(next);
  }
});
