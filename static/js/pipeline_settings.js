// The pipeline settings page (admins): which handoff triggers fire, when a
// conversation goes back to the bot, how handoffs are assigned, and the tenant's own
// intents. The server checks the whole document on save and says what is wrong.

import { h, fill, announce } from "./dom.js";
import { get, put } from "./session.js";
import { field } from "./signin.js";

const SWITCHES = [
  ["human_request", "The customer asks for a person"],
  ["critical_urgency", "An urgent message from an upset customer"],
  ["hot_lead", "A lead turns hot"],
  ["guardrail_hit", "The guardrail flags a message"],
  ["legal_keywords", "The customer mentions legal steps"],
  ["vip_contact", "The conversation is tagged vip"],
];
const COUNTS = [
  ["negative_streak", "Negative messages in a row", 1, 50],
  ["repeated_question", "The same message this many times", 2, 50],
];

export async function renderPipelineSettings(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  fill(body, h("h1", {}, "Lead scoring and handoff"), error, h("p", { class: "muted" }, "Loading…"));
  let saved;
  try {
    saved = await get("/settings/pipeline");
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  const form = settingsForm(saved, error);
  fill(body, h("h1", {}, "Lead scoring and handoff"), error, form);
}

function settingsForm(saved, error) {
  const handoff = saved.handoff;
  const switches = SWITCHES.map(([key, label]) => {
    const box = h("input", { type: "checkbox", name: key, checked: handoff[key] });
    return [key, box, h("label", { class: "check" }, box, ` ${label}`)];
  });
  const counts = COUNTS.map(([key, label, min, max]) => {
    const input = h("input", { type: "number", name: key, min, max, value: handoff[key] ?? "" });
    return [key, input, field(label, input, "Empty: never")];
  });
  const confidence = h("input", { type: "number", name: "low_confidence", min: 0, max: 1, step: 0.05, value: handoff.low_confidence ?? "" });
  const idle = h("input", { type: "number", name: "idle_return_minutes", min: 1, max: 43200, value: handoff.idle_return_minutes ?? "" });
  const mode = h("select", { name: "mode" },
    [["round_robin", "The next online agent with room (round robin)"], ["unassigned", "Nobody: it waits in the queue"]].map(([value, label]) =>
      h("option", { value, selected: saved.assignment.mode === value }, label)));
  const cap = h("input", { type: "number", name: "max_open_per_agent", min: 1, max: 1000, value: saved.assignment.max_open_per_agent });
  const intents = h("div", { class: "intents" });
  const addIntent = (intent) => intents.append(intentRow(intent));
  for (const intent of saved.intents) addIntent(intent);

  const form = h("form", { class: "card settings-form", "aria-label": "Pipeline settings" },
    h("fieldset", {}, h("legend", {}, "Hand the conversation to a person when"),
      switches.map(([, , el]) => el), counts.map(([, , el]) => el),
      field("Less sure than this of what the customer wants (0 to 1)", confidence, "Empty: never")),
    h("fieldset", {}, h("legend", {}, "Assignment"),
      field("Who gets a handed-over conversation", mode),
      field("Open conversations per agent, at most", cap),
      field("Back to the bot after this many minutes without a reply", idle, "Empty: never")),
    h("fieldset", {}, h("legend", {}, "Your own intents"),
      h("p", { class: "muted" }, "Phrases match whole words in any case and accent; patterns are regular expressions."),
      intents,
      h("button", { type: "button", class: "link", onclick: () => addIntent({ intent: "", phrases: [], patterns: [] }) }, "Add an intent")),
    h("button", { type: "submit", class: "primary" }, "Save"));

  const number = (input) => (input.value === "" ? null : Number(input.value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const settings = {
      handoff: {
        ...Object.fromEntries(switches.map(([key, box]) => [key, box.checked])),
        ...Object.fromEntries(counts.map(([key, input]) => [key, number(input)])),
        low_confidence: number(confidence),
        idle_return_minutes: number(idle),
      },
      intents: [...intents.querySelectorAll(".intent")].map((row) => row.read()),
      assignment: { mode: mode.value, max_open_per_agent: Number(cap.value) },
    };
    try {
      await put("/settings/pipeline", settings);
      announce("Settings saved");
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

function intentRow(intent) {
  const name = h("input", { value: intent.intent, pattern: "[a-z0-9_]{1,40}" });
  const phrases = h("textarea", { rows: 2 }, intent.phrases.join("\n"));
  const patterns = h("textarea", { rows: 2 }, intent.patterns.join("\n"));
  const row = h("div", { class: "intent card" },
    field("Intent name", name, "a-z, 0-9 and _"),
    field("Phrases, one per line", phrases),
    field("Patterns, one per line", patterns),
    h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove this intent"));
  row.read = () => ({ intent: name.value.trim(), phrases: lines(phrases.value), patterns: lines(patterns.value) });
  return row;
}
