// The quick replies page (managers): canned responses agents insert by typing `/`
// and the shortcut in the composer, with placeholders filled for each conversation.

import { h, fill, fillGrid, announce } from "./dom.js";
import { del, get, post } from "./session.js";
import { field } from "./signin.js";

export async function renderQuickReplies(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  const table = h("table", { class: "grid" });
  const refresh = async () => {
    try {
      const listed = await get("/quick-replies");
      fillGrid(table, "Quick replies", ["Shortcut", "Text", ""],
        listed.data.map((reply) => h("tr", {},
          h("td", {}, h("code", {}, `/${reply.shortcut}`)),
          h("td", {}, reply.text),
          h("td", {}, h("button", { type: "button", class: "link danger", "aria-label": `Remove /${reply.shortcut}`, onclick: async () => {
            if (!confirm(`Remove /${reply.shortcut}?`)) return;
            try {
              await del(`/quick-replies/${reply.id}`);
              await refresh();
            } catch (err) {
              error.textContent = err.message;
            }
          } }, "Remove")))));
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const shortcut = h("input", { name: "shortcut", required: true, maxlength: 32, placeholder: "hours" });
  const text = h("textarea", { name: "text", required: true, maxlength: 4096, rows: 3, placeholder: "Hi {{contact.first_name}}, we are open 9 to 5. {{agent.name}}" });
  const form = h("form", { class: "card inline-form", "aria-label": "New quick reply" },
    h("h2", {}, "New quick reply"), field("Shortcut", shortcut), field("Text", text),
    h("button", { type: "submit", class: "primary" }, "Add quick reply"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const made = await post("/quick-replies", { shortcut: shortcut.value, text: text.value });
      announce(`/${made.shortcut} added`);
      form.reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  fill(body, h("h1", {}, "Quick replies"),
    h("p", { class: "muted" }, "Agents type / and the shortcut in the composer. {{contact.name}}, {{contact.first_name}}, {{contact.<field>}} and {{agent.name}} are filled in."),
    error, table, form);
  await refresh();
}
