// The contact panel: who the customer is across channels, their custom fields,
// whether they take marketing (agents opt them out or back in), their leads, and
// merging a duplicate into them (managers and up; the server audits it and can undo
// it).

import { h, fill, longTime, announce } from "./dom.js";
import { get, patch, post } from "./session.js";
import { atLeast } from "./inbox.js";
import { channelLabel } from "./list.js";

export class ContactPanel {
  constructor(inbox, contactId, onClose) {
    this.inbox = inbox;
    this.id = contactId;
    this.onClose = onClose;
    this.el = h("aside", { class: "pane contact-pane", "aria-label": "Contact details" });
    this.load();
  }

  async load() {
    fill(this.el, h("p", { class: "muted pad" }, "Loading contact…"));
    try {
      const [contact, leads] = await Promise.all([get(`/contacts/${this.id}`), get(`/contacts/${this.id}/leads`)]);
      this.render(contact, leads.data);
    } catch (err) {
      fill(this.el, h("p", { class: "form-error pad", role: "alert" }, `Cannot load the contact: ${err.message}`));
    }
  }

  render(contact, leads) {
    const list = (items, empty) => (items.length ? h("ul", { class: "plain" }, items.map((i) => h("li", {}, i))) : h("p", { class: "muted" }, empty));
    fill(
      this.el,
      h("div", { class: "contact-head" },
        h("h2", {}, contact.name),
        h("button", { type: "button", class: "link close-contact", onclick: this.onClose, "aria-label": "Close contact details" }, "×")),
      h("h3", {}, "Phones"),
      list(contact.phones.map((p) => h("a", { href: `tel:${p}` }, p)), "No phone"),
      h("h3", {}, "Emails"),
      list(contact.emails.map((e) => h("a", { href: `mailto:${e}` }, e)), "No email"),
      h("h3", {}, "Channels"),
      list(contact.identities.map((i) => `${channelLabel(i.channel)}: ${i.external_id}`), "None"),
      h("h3", {}, "Leads"),
      list(
        leads.map((lead) =>
          h("div", { class: "lead" },
            h("strong", {}, `Lead Ads form ${lead.attachment?.form_id ?? "?"}`),
            lead.attachment?.ad_id ? ` · ad ${lead.attachment.ad_id}` : "",
            h("br"),
            h("small", {}, longTime(lead.created_at)),
            lead.body ? h("pre", { class: "lead-fields" }, lead.body) : null)),
        "No leads",
      ),
      contact.tags.length ? [h("h3", {}, "Tags"), h("p", {}, contact.tags.map((t) => h("span", { class: "tag" }, t)))] : null,
      Object.keys(contact.custom_fields).length
        ? [h("h3", {}, "Fields"), h("dl", { class: "fields" }, Object.entries(contact.custom_fields).flatMap(([key, value]) =>
          [h("dt", {}, key), h("dd", {}, Array.isArray(value) ? value.join(", ") : String(value))]))]
        : null,
      this.consent(contact),
      atLeast(this.inbox.me.role, "manager") ? this.mergeForm(contact) : null,
    );
  }

  /** Whether they take marketing, who said so and when, and the switch for agents. */
  consent(contact) {
    const error = h("p", { class: "form-error", role: "alert" });
    const said = contact.consent ? ` (${contact.consent.source}, ${longTime(contact.consent.at)})` : "";
    const toggle = atLeast(this.inbox.me.role, "agent")
      ? h("button", { type: "button", onclick: async () => {
        try {
          const changed = await patch(`/contacts/${contact.id}`, { opted_out: !contact.opted_out });
          announce(changed.opted_out ? `${changed.name} opted out of marketing` : `${changed.name} takes marketing again`);
          this.load();
        } catch (err) {
          error.textContent = err.message;
        }
      } }, contact.opted_out ? "Opt back in" : "Opt out of marketing")
      : null;
    return [h("h3", {}, "Marketing"),
      h("p", { class: "consent" }, contact.opted_out ? `Opted out${said}` : `Takes marketing${said}`, " ", toggle), error];
  }

  mergeForm(contact) {
    const input = h("input", { type: "search", "aria-label": "Find a duplicate contact", placeholder: "Name, phone or email" });
    const results = h("ul", { class: "plain merge-results", "aria-live": "polite" });
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { class: "merge" }, h("h3", {}, "Merge a duplicate"), input, error, results);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const found = await get(`/contacts?q=${encodeURIComponent(input.value.trim())}&limit=10`);
        const others = found.data.filter((c) => c.id !== contact.id);
        fill(
          results,
          others.length
            ? others.map((other) =>
                h("li", {},
                  `${other.name} ${[...other.phones, ...other.emails].join(", ")} `,
                  h("button", { type: "button", onclick: () => this.merge(contact, other, error) }, `Merge into ${contact.name}`)))
            : h("li", { class: "muted" }, "No other contact matches."),
        );
      } catch (err) {
        error.textContent = err.message;
      }
    });
    return form;
  }

  async merge(contact, other, error) {
    if (!confirm(`Merge ${other.name} into ${contact.name}? Their channels, phones, emails and conversations move here. An admin can undo it.`)) return;
    try {
      await post(`/contacts/${contact.id}/merge`, { merge_id: other.id });
      announce(`${other.name} merged into ${contact.name}`);
      this.load();
    } catch (err) {
      error.textContent = err.message;
    }
  }
}
