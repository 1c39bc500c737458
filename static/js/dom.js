// Building DOM nodes without innerHTML: every piece of customer or agent text goes
// in as a text node, so a message can never become markup (and the strict CSP never
// has to forgive an inline handler).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value") {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Fills a `table` with its caption, column headers and body rows. */
export function fillGrid(table, caption, columns, rows) {
  fill(table,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows));
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const dayOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** "14:05" today, "Nov 3" before: what a list row has room for. */
export function shortTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return sameDay(at, new Date()) ? timeOnly.format(at) : dayOnly.format(at);
}

export function longTime(iso) {
  return iso ? dayAndTime.format(new Date(iso)) : "";
}

function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

/** A `<time>` element: readable text, machine-readable attribute. */
export function timeEl(iso, format = shortTime) {
  return h("time", { datetime: iso, title: iso ? new Date(iso).toLocaleString() : "" }, format(iso));
}

/** A random id for idempotent sends (the server dedupes on it per author). */
export function clientId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Announces `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh node makes screen readers read the same text twice in a row.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/**
 * Runs `work`, showing its failure's message in `errorEl` (cleared first); the
 * result, or `null` when it failed.
 */
export async function guarded(errorEl, work) {
  errorEl.textContent = "";
  try {
    return await work();
  } catch (err) {
    errorEl.textContent = err.message;
    return null;
  }
}
