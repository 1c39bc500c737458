// The AI replies page (admins): whether the language model drafts replies for agents
// (suggest) or sends them (auto), for every channel or one by one, and what it must
// hold to: the business's voice and rules, the fallback when no usable answer comes,
// the hosts it may link to. The server checks the whole document and says what is
// wrong.

import { h, fill, announce } from "./dom.js";
import { get, put } from "./session.js";
import { field } from "./signin.js";

const MODES = [
  ["off", "Off"],
  ["suggest", "Suggest: a draft for the agent"],
  ["auto", "Auto: sent to the customer"],
];

const AUTO_WHEN = [
  ["always", "At any time"],
  ["open", "Only while the business is open"],
  ["closed", "Only while the business is closed"],
];
const DAYS = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];

export async function renderReplySettings(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  fill(body, h("h1", {}, "AI replies"), error, h("p", { class: "muted" }, "Loading…"));
  let saved, channels;
  try {
    [saved, channels] = await Promise.all([get("/settings/replies"), get("/channels")]);
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  fill(body, h("h1", {}, "AI replies"), error, settingsForm(saved, channels.data, error));
}

function modeSelect(value, inherit) {
  const options = inherit ? [["", "Like every channel"], ...MODES] : MODES;
  return h("select", {}, options.map(([v, label]) => h("option", { value: v, selected: v === (value ?? "") }, label)));
}

function settingsForm(saved, channels, error) {
  const mode = modeSelect(saved.mode, false);
  // Connected channels, and any channel saved with a mode of its own (a sandbox).
  const keys = new Map(channels.map((c) => [`${c.kind}:${c.id}`, `${c.name} (${c.kind.replace("_", " ")})`]));
  for (const key of Object.keys(saved.channels)) if (!keys.has(key)) keys.set(key, key);
  const perChannel = [...keys].map(([key, label]) => [key, modeSelect(saved.channels[key], true), label]);
  const voice = h("textarea", { name: "brand_voice", rows: 2, maxlength: 2000 }, saved.brand_voice);
  const rules = h("textarea", { name: "rules", rows: 3 }, saved.rules.join("\n"));
  const fallback = h("textarea", { name: "fallback", rows: 2, maxlength: 1000 }, saved.fallback);
  const confidence = h("input", { type: "number", name: "min_confidence", min: 0, max: 1, step: 0.05, value: saved.min_confidence });
  const hosts = h("input", { name: "link_hosts", value: saved.link_hosts.join(" ") });
  const history = h("input", { type: "number", name: "history", min: 1, max: 50, value: saved.history });
  const passages = h("input", { type: "number", name: "passages", min: 0, max: 10, value: saved.passages });
  const maxAge = h("input", { type: "number", name: "max_age_secs", min: 10, max: 86400, value: saved.max_age_secs });
  const cacheTtl = h("input", { type: "number", name: "cache_ttl_secs", min: 0, max: 604800, value: saved.cache_ttl_secs });
  const hours = saved.hours ?? { utc_offset_minutes: 0, days: ["mon", "tue", "wed", "thu", "fri"], open: "09:00", close: "18:00" };
  const autoWhen = h("select", {}, AUTO_WHEN.map(([v, label]) => h("option", { value: v, selected: v === saved.auto_when }, label)));
  const offset = h("input", { type: "number", name: "utc_offset_minutes", min: -840, max: 840, step: 15, value: hours.utc_offset_minutes });
  const opens = h("input", { type: "time", name: "open", value: hours.open });
  const closes = h("input", { name: "close", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]|24:00", value: hours.close });
  const days = DAYS.map(([day, label]) => [day, h("input", { type: "checkbox", name: day, checked: hours.days.includes(day) }), label]);

  const form = h("form", { class: "card settings-form", "aria-label": "AI reply settings" },
    h("p", { class: "muted" }, "Replies come from the providers on the Language model page, grounded in the Knowledge base. The bot answers only conversations it has: a handoff, or a person's reply, stops it there until the conversation is handed back."),
    h("fieldset", {}, h("legend", {}, "Mode"),
      field("Every channel", mode),
      perChannel.map(([key, select, label]) => field(label, select))),
    h("fieldset", {}, h("legend", {}, "Business hours"),
      field("Auto mode sends", autoWhen, "At other times it drafts for the agents instead"),
      field("Minutes from UTC", offset, "60 for Lisbon in summer, -180 for São Paulo; change it when the clocks change"),
      h("div", { class: "days", role: "group", "aria-label": "Open on" },
        days.map(([day, box, label]) => h("label", { class: "check inline" }, box, ` ${label}`))),
      field("Opens at", opens),
      field("Closes at (24:00 for midnight)", closes)),
    h("fieldset", {}, h("legend", {}, "What the replies hold to"),
      field("Brand voice", voice, "How the business speaks: tone, name, what it sells"),
      field("Rules of your own, one per line", rules, "Added to the built-in ones (no prices that the knowledge base does not state, no internal information, the customer's language…)"),
      field("Fallback", fallback, "Sent when no usable answer comes, and the conversation goes to a person. Empty: it only goes to a person."),
      field("Least confidence to use an answer (0 to 1)", confidence),
      field("Hosts replies may link to", hosts, "Separated by spaces, such as example.com (its subdomains too); any other link is refused")),
    h("fieldset", {}, h("legend", {}, "Context and timing"),
      field("Earlier messages in the prompt", history),
      field("Knowledge-base passages in the prompt", passages),
      field("Answer messages at most this old (seconds)", maxAge),
      field("Reuse an answer to the same question for (seconds, 0: never)", cacheTtl)),
    h("button", { type: "submit", class: "primary" }, "Save"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const settings = {
      mode: mode.value,
      channels: Object.fromEntries(perChannel.filter(([, select]) => select.value).map(([key, select]) => [key, select.value])),
      brand_voice: voice.value,
      rules: rules.value.split("\n").map((r) => r.trim()).filter(Boolean),
      fallback: fallback.value,
      min_confidence: Number(confidence.value),
      link_hosts: hosts.value.split(/[\s,]+/).filter(Boolean),
      history: Number(history.value),
      passages: Number(passages.value),
      max_age_secs: Number(maxAge.value),
      cache_ttl_secs: Number(cacheTtl.value),
      auto_when: autoWhen.value,
      // Hours are kept once set, or when auto mode depends on them.
      hours: saved.hours || autoWhen.value !== "always"
        ? { utc_offset_minutes: Number(offset.value), days: days.filter(([, box]) => box.checked).map(([day]) => day), open: opens.value, close: closes.value }
        : null,
    };
    try {
      await put("/settings/replies", settings);
      announce("Reply settings saved");
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}
