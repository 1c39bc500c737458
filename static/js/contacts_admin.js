// The contacts page (managers and admins): custom fields (admins define them),
// segments built from tests and counted before saving, a CSV import previewed and
// then followed live as the server reads it, and exports of everyone or a segment.
// The server enforces every permission; the page only hides what the role cannot use.

import { h, fill, fillGrid, announce, guarded } from "./dom.js";
import { api, blobUrl, del, get, post } from "./session.js";
import { atLeast } from "./inbox.js";
import { field } from "./signin.js";

/** The window event a `contacts.import` frame becomes (main.js dispatches it). */
export const CONTACTS_IMPORT = "switchboard:contacts-import";

const KINDS = ["text", "number", "date", "boolean", "choice", "multi_choice", "email", "phone", "url"];
const TARGETS = [["skip", "Leave out"], ["name", "Name"], ["phone", "Phone"], ["email", "Email"], ["tags", "Tags"]];

export async function renderContactsAdmin(body, me) {
  const error = h("p", { class: "form-error", role: "alert" });
  const fields = h("section", { "aria-label": "Custom fields" });
  const segments = h("section", { "aria-label": "Segments" });
  const imports = h("section", { "aria-label": "Import contacts" });
  fill(body, h("h1", {}, "Contacts"), error, fields, segments, imports);
  const admin = atLeast(me.user.role, "admin");
  const context = { error, admin, definitions: [] };
  await renderFields(fields, context);
  await renderSegments(segments, context);
  if (admin) renderImport(imports, context);
}

// Custom fields.

async function renderFields(section, context) {
  const { error, admin } = context;
  const table = h("table", { class: "grid" });
  const refresh = async () => {
    const listed = await guarded(error, () => get("/contact-fields"));
    if (!listed) return;
    context.definitions = listed.data;
    fillGrid(table, "Custom fields", ["Key", "Label", "Kind", "Options", "Required", ""],
      listed.data.map((f) => h("tr", {},
        h("td", {}, h("code", {}, f.key)),
        h("td", {}, f.label),
        h("td", {}, f.kind),
        h("td", {}, f.options.join(", ")),
        h("td", {}, f.required ? "yes" : "no"),
        h("td", {}, admin ? h("button", { type: "button", class: "link danger", "aria-label": `Remove ${f.key}`, onclick: async () => {
          if (!confirm(`Remove the field ${f.key}? Contacts keep their values as plain fields.`)) return;
          await guarded(error, () => del(`/contact-fields/${f.key}`));
          await refresh();
        } }, "Remove") : null))));
  };
  fill(section, h("h2", {}, "Custom fields"),
    h("p", { class: "muted" }, "Values under a defined field are checked on every write and stored one way."),
    table, admin ? fieldForm(error, refresh) : null);
  await refresh();
}

function fieldForm(error, refresh) {
  const key = h("input", { name: "key", required: true, pattern: "[a-z][a-z0-9_]*", maxlength: 64, placeholder: "plan" });
  const label = h("input", { name: "label", required: true, maxlength: 100, placeholder: "Plan" });
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k)));
  const options = h("input", { name: "options", placeholder: "Gold, Silver (choice kinds)" });
  const required = h("input", { type: "checkbox", name: "required" });
  const form = h("form", { class: "card inline-form", "aria-label": "New custom field" },
    h("h3", {}, "New field"), field("Key", key), field("Label", label), field("Kind", kind),
    field("Options", options), h("label", {}, required, " Required"),
    h("button", { type: "submit", class: "primary" }, "Add field"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = options.value.split(",").map((o) => o.trim()).filter(Boolean);
    const made = await guarded(error, () => post("/contact-fields", {
      key: key.value.trim(), label: label.value.trim(), kind: kind.value, options: list, required: required.checked,
    }));
    if (!made) return;
    announce(`Field ${made.key} added`);
    form.reset();
    await refresh();
  });
  return form;
}

// Segments.

const TESTS = [
  ["has_tag", "Has the tag", "vip"],
  ["field", "Field is", "plan = Gold"],
  ["channel", "Wrote on the channel", "whatsapp"],
  ["inbound_within_hours", "Wrote within (hours)", "24"],
  ["temperature", "Lead is", "hot"],
  ["opted_in", "Did not opt out", ""],
];

/** One test of a segment's filter, from a row of the builder. */
function testOf(kind, value) {
  const v = value.trim();
  switch (kind) {
    case "has_tag": return { has_tag: v };
    case "field": {
      const [name, ...rest] = v.split("=");
      return { field: { field: name.trim(), op: "is", value: rest.join("=").trim() } };
    }
    case "channel": return { channel: v.split(",").map((c) => c.trim()).filter(Boolean) };
    case "inbound_within_hours": return { inbound_within_hours: Number(v) };
    case "temperature": return { temperature: v.split(",").map((t) => t.trim()).filter(Boolean) };
    default: return { opted_out: false };
  }
}

async function renderSegments(section, context) {
  const { error } = context;
  const table = h("table", { class: "grid" });
  const refresh = async () => {
    const listed = await guarded(error, () => get("/segments"));
    if (!listed) return;
    // Counts are live: each segment is counted when read.
    const counted = await Promise.all(listed.data.map((s) => get(`/segments/${s.id}`).catch(() => s)));
    fillGrid(table, "Segments", ["Name", "Contacts", "Export", ""],
      counted.map((s) => h("tr", {},
        h("td", {}, s.name),
        h("td", {}, s.count ?? "?"),
        h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Export ${s.name}`, onclick: () => download(error, `/contacts/export?segment_id=${s.id}`, `${s.name}.csv`) }, "CSV")),
        h("td", {}, h("button", { type: "button", class: "link danger", "aria-label": `Remove ${s.name}`, onclick: async () => {
          if (!confirm(`Remove the segment ${s.name}?`)) return;
          await guarded(error, () => del(`/segments/${s.id}`));
          await refresh();
        } }, "Remove")))));
  };
  fill(section, h("h2", {}, "Segments"),
    h("p", {}, h("button", { type: "button", onclick: () => download(error, "/contacts/export", "contacts.csv") }, "Export every contact as CSV")),
    table, segmentForm(error, refresh));
  await refresh();
}

function segmentForm(error, refresh) {
  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const tests = h("div", { class: "segment-tests" });
  const count = h("p", { role: "status", "aria-live": "polite" });
  const addTest = () => {
    const kind = h("select", { "aria-label": "Test" }, TESTS.map(([k, label]) => h("option", { value: k }, label)));
    const value = h("input", { "aria-label": "Value", placeholder: TESTS[0][2] });
    kind.addEventListener("change", () => {
      value.placeholder = TESTS.find(([k]) => k === kind.value)[2];
    });
    const row = h("div", { class: "row segment-test" }, kind, value,
      h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove test"));
    tests.append(row);
  };
  const filter = () => ({
    all: [...tests.querySelectorAll(".segment-test")].map((row) => testOf(row.querySelector("select").value, row.querySelector("input").value)),
  });
  const form = h("form", { class: "card inline-form", "aria-label": "New segment" },
    h("h3", {}, "New segment"), field("Name", name),
    h("p", { class: "muted" }, "Contacts that pass every test:"), tests,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: addTest }, "Add a test"),
      h("button", { type: "button", onclick: async () => {
        const counted = await guarded(error, () => post("/segments/count", { filter: filter() }));
        if (counted) count.textContent = `${counted.count} contacts now`;
      } }, "Count"),
      h("button", { type: "submit", class: "primary" }, "Save segment")),
    count);
  addTest();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const made = await guarded(error, () => post("/segments", { name: name.value.trim(), filter: filter() }));
    if (!made) return;
    announce(`Segment ${made.name} saved with ${made.count} contacts`);
    form.reset();
    count.textContent = "";
    fill(tests);
    addTest();
    await refresh();
  });
  return form;
}

/** Fetches a CSV with the session's token and hands it to the browser as a file. */
async function download(error, path, name) {
  await guarded(error, async () => {
    const url = await blobUrl(api(path));
    const link = h("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked once the browser has taken the file.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
}

// Import.

function renderImport(section, context) {
  const { error } = context;
  const file = h("input", { type: "file", accept: ".csv,text/csv", name: "file" });
  const country = h("input", { name: "country", maxlength: 2, placeholder: "DE", size: 3 });
  const mapping = h("div", { class: "import-mapping" });
  const preview = h("div", { "aria-live": "polite" });
  const progress = h("p", { role: "status", "aria-live": "polite" });
  let csv = "";
  let headers = [];
  const chosen = () => Object.fromEntries(
    [...mapping.querySelectorAll("select")].map((s) => [s.dataset.column, s.value]).filter(([, t]) => t !== "skip"));
  const send = (dryRun) => post("/contacts/imports", {
    csv, mapping: chosen(), default_country: country.value.trim() || null, dry_run: dryRun,
  });
  file.addEventListener("change", async () => {
    const picked = file.files[0];
    if (!picked) return;
    csv = await picked.text();
    // The server reads the header: a dry run with nothing mapped names the columns.
    const read = await guarded(error, () => post("/contacts/imports", { csv, mapping: {}, dry_run: true }));
    if (!read) return;
    headers = read.headers;
    const targets = [...TARGETS, ...context.definitions.map((d) => [`field:${d.key}`, d.label])];
    fill(mapping, headers.map((column) => {
      const select = h("select", { "data-column": column, "aria-label": `Column ${column}` },
        targets.map(([value, label]) => h("option", { value }, label)));
      select.value = guess(column, targets);
      return h("label", { class: "row" }, h("span", {}, column), select);
    }));
    fill(preview);
  });
  const previewButton = h("button", { type: "button", onclick: async () => {
    const shown = await guarded(error, () => send(true));
    if (!shown) return;
    fill(preview,
      h("p", {}, `${shown.total} rows: ${shown.valid} to import, ${shown.refused} refused.`),
      shown.rows.length ? h("ul", { "aria-label": "Rows to import" }, shown.rows.map((r) =>
        h("li", {}, `Line ${r.line}: ${r.action} ${r.name ?? r.phones[0] ?? r.emails[0]}`))) : null,
      shown.errors.length ? h("ul", { "aria-label": "Refused rows" }, shown.errors.map((e) =>
        h("li", {}, `Line ${e.line}: ${e.reason}`))) : null);
  } }, "Preview");
  const form = h("form", { class: "card inline-form", "aria-label": "Import contacts" },
    h("h2", {}, "Import contacts"),
    h("p", { class: "muted" }, "Rows are matched to contacts by phone, then email; a row needs one of them."),
    field("CSV file", file), field("Country of numbers without +", country), mapping,
    h("div", { class: "row" }, previewButton, h("button", { type: "submit", class: "primary" }, "Import")),
    preview, progress);
  const follow = (event) => {
    const data = event.detail;
    if (data.id !== form.dataset.importId) return;
    progress.textContent = `${data.processed} of ${data.total} rows read: ${data.created} created, ${data.updated} updated, ${data.failed} refused.`;
    if (data.status === "done") {
      window.removeEventListener(CONTACTS_IMPORT, follow);
      progress.textContent = `Import done: ${progress.textContent}`;
      if (data.failed) {
        progress.append(" ", h("button", { type: "button", class: "link", onclick: () => download(error, `/contacts/imports/${data.id}/errors`, "refused-rows.csv") }, "Download the refused rows"));
      }
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const queued = await guarded(error, () => send(false));
    if (!queued) return;
    form.dataset.importId = queued.id;
    progress.textContent = `Importing ${queued.total} rows…`;
    window.addEventListener(CONTACTS_IMPORT, follow);
  });
  fill(section, form);
}

/** The target a column's header suggests. */
function guess(column, targets) {
  const name = column.toLowerCase().replace(/[^a-z]/g, "");
  const byWord = [["phone", ["phone", "mobile", "tel", "telephone", "whatsapp"]], ["email", ["email", "mail"]], ["name", ["name", "fullname", "contact"]], ["tags", ["tags", "labels"]]];
  for (const [target, words] of byWord) if (words.includes(name)) return target;
  const custom = targets.find(([value, label]) => value.startsWith("field:") && (value.slice(6) === name || label.toLowerCase().replace(/[^a-z]/g, "") === name));
  return custom ? custom[0] : "skip";
}
