// The knowledge base page (admins): documents the AI's replies are grounded in, added
// by pasting or choosing a file (text, Markdown, HTML, CSV), edited, removed, and a
// search box to see which passages a customer's question would find.

import { h, fill, fillGrid, longTime, announce } from "./dom.js";
import { del, get, post, put } from "./session.js";
import { field } from "./signin.js";

const FORMATS = [
  ["text", "Plain text"],
  ["markdown", "Markdown (a passage per heading)"],
  ["html", "HTML (tags and scripts dropped)"],
  ["csv", "CSV with a header row"],
];

/** The format a chosen file's name suggests. */
function formatOf(fileName) {
  const ext = fileName.toLowerCase().split(".").pop();
  return { md: "markdown", markdown: "markdown", html: "html", htm: "html", csv: "csv" }[ext] ?? "text";
}

export async function renderKnowledge(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  const table = h("table", { class: "grid knowledge" });
  const refresh = async () => {
    try {
      const documents = await get("/ai/knowledge");
      fillGrid(table, "Documents", ["Title", "Format", "Size", "Passages", "Updated", ""],
        documents.data.map((d) => documentRow(d, editor, error, refresh)));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const editor = documentForm(error, refresh);
  fill(body,
    h("h1", {}, "Knowledge base"),
    h("p", { class: "muted" }, "Replies written by the language model quote these documents. Each is cut into passages of a few paragraphs; a customer's question finds the passages that share its words, and with an embedding model (Admin → Language model) the passages that mean the same."),
    error, table, searchBox(), editor.form);
  await refresh();
}

function documentForm(error, refresh) {
  let editing = null;
  const title = h("input", { name: "title", required: true, maxlength: 200 });
  const format = h("select", { name: "format" }, FORMATS.map(([value, label]) => h("option", { value }, label)));
  const content = h("textarea", { name: "content", rows: 10, required: true });
  const file = h("input", { type: "file", accept: ".txt,.md,.markdown,.html,.htm,.csv,text/*" });
  const legend = h("legend", {}, "Add a document");
  const cancel = h("button", { type: "button", class: "link", hidden: true }, "Cancel editing");
  const form = h("form", { class: "card settings-form", "aria-label": "Knowledge document" },
    h("fieldset", {}, legend,
      field("Title", title),
      field("Format", format),
      field("Read from a file", file, "or paste the text below"),
      field("Text", content)),
    h("button", { type: "submit", class: "primary" }, "Save document"), cancel);

  const reset = () => {
    editing = null;
    form.reset();
    legend.textContent = "Add a document";
    cancel.hidden = true;
  };
  cancel.addEventListener("click", reset);
  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    content.value = await chosen.text();
    format.value = formatOf(chosen.name);
    if (!title.value) title.value = chosen.name.replace(/\.[^.]+$/, "");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const doc = { title: title.value.trim(), format: format.value, content: content.value };
    try {
      const saved = editing ? await put(`/ai/knowledge/${editing}`, doc) : await post("/ai/knowledge", doc);
      const n = saved.passages.length;
      announce(`${saved.title} saved: ${n} passage${n === 1 ? "" : "s"}`);
      reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return {
    form,
    async edit(id) {
      const doc = await get(`/ai/knowledge/${id}`);
      editing = id;
      title.value = doc.title;
      format.value = doc.format;
      content.value = doc.content;
      legend.textContent = `Edit ${doc.title}`;
      cancel.hidden = false;
      title.focus();
    },
  };
}

function documentRow(doc, editor, error, refresh) {
  const size = doc.bytes < 1024 ? `${doc.bytes} B` : `${(doc.bytes / 1024).toFixed(1)} KB`;
  return h("tr", {},
    h("td", {}, doc.title),
    h("td", {}, doc.format),
    h("td", {}, size),
    h("td", {}, doc.embedded > 0 ? `${doc.passages} (${doc.embedded} embedded)` : String(doc.passages)),
    h("td", {}, longTime(doc.updated_at)),
    h("td", {},
      h("button", { type: "button", class: "link", "aria-label": `Edit ${doc.title}`, onclick: () => editor.edit(doc.id).catch((err) => { error.textContent = err.message; }) }, "Edit"),
      " ",
      h("button", {
        type: "button", class: "link danger", "aria-label": `Remove ${doc.title}`,
        onclick: async () => {
          if (!confirm(`Remove ${doc.title}? Replies stop quoting it at once.`)) return;
          try {
            await del(`/ai/knowledge/${doc.id}`);
            announce(`${doc.title} removed`);
            await refresh();
          } catch (err) {
            error.textContent = err.message;
          }
        },
      }, "Remove")));
}

/** Which passages a question finds, best first, as the replies would get them. */
function searchBox() {
  const question = h("input", { type: "search", name: "q", required: true });
  const results = h("ol", { class: "passages", "aria-label": "Passages found", "aria-live": "polite" });
  const form = h("form", { class: "card", role: "search", "aria-label": "Try a question" },
    field("Try a customer's question", question),
    h("button", { type: "submit" }, "Search"), results);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const found = await get(`/ai/knowledge/search?q=${encodeURIComponent(question.value)}`);
      fill(results, found.data.length
        ? found.data.map((p) => h("li", { class: "passage" }, h("strong", {}, p.title), h("pre", {}, p.text)))
        : h("li", { class: "muted" }, "No passage holds these words."));
    } catch (err) {
      fill(results, h("li", { class: "form-error" }, err.message));
    }
  });
  return form;
}
