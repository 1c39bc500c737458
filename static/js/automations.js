// The automations page (admins): rules built with forms (a trigger and its options,
// conditions that must all or any hold, actions in order), switched on and off,
// their runs step by step, and the jobs that failed for good with a button to retry
// them. Conditions nested deeper than one all/any list (made over the API) are kept
// as they are and shown as such.

import { h, fill, fillGrid, longTime, announce } from "./dom.js";
import { del, get, post, put } from "./session.js";
import { field } from "./signin.js";

const STATUSES = ["open", "pending", "snoozed", "resolved", "closed"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const TEMPERATURES = ["hot", "warm", "cold"];

/** Trigger types: label, and the options each takes. */
const TRIGGERS = [
  ["message_received", "A customer's message", ["channels", "keywords", "pattern"]],
  ["conversation_created", "A new conversation", ["channels"]],
  ["contact_created", "A new contact", []],
  ["lead_captured", "A lead form came in", []],
  ["status_changed", "The status changed", ["to_status"]],
  ["assignment_changed", "The assignment changed", []],
  ["tag_added", "A tag was added", ["tag"]],
  ["tag_removed", "A tag was removed", ["tag"]],
  ["lead_temperature_changed", "The lead's temperature changed", ["to_temperature"]],
  ["negative_sentiment", "A negative message", []],
  ["no_agent_reply", "No reply from the team within…", ["minutes"]],
  ["no_customer_reply", "No answer from the customer within…", ["minutes"]],
  ["schedule", "On a schedule", ["cron", "time_zone"]],
];

/** Condition tests a row can hold: label, and what its value is. */
const CONDITIONS = [
  ["channel", "Channel is one of", "list"],
  ["status", "Status is one of", "statuses"],
  ["has_tag", "Has the tag", "text"],
  ["lacks_tag", "Does not have the tag", "text"],
  ["assigned", "Is assigned", "yesno"],
  ["temperature", "Lead temperature is one of", "temperatures"],
  ["language", "Language is one of", "list"],
  ["text_contains", "Message contains one of", "list"],
  ["text_matches", "Message matches the pattern", "text"],
  ["contact_field", "Contact field", "field"],
];

/** Action types: label, and the inputs each takes. */
const ACTIONS = [
  ["send_message", "Send a message", ["text"]],
  ["send_template", "Send a WhatsApp template", ["template"]],
  ["add_note", "Add a note", ["text"]],
  ["add_tag", "Add a tag", ["tag"]],
  ["remove_tag", "Remove a tag", ["tag"]],
  ["assign", "Assign to", ["user"]],
  ["assign_round_robin", "Assign to the next online agent", []],
  ["unassign", "Unassign", []],
  ["set_status", "Set the status", ["status"]],
  ["set_priority", "Set the priority", ["priority"]],
  ["snooze", "Snooze (minutes)", ["minutes"]],
  ["wait", "Wait", ["wait"]],
  ["wait_until", "Wait until a time of day", ["time", "offset"]],
  ["webhook", "Call a webhook", ["url"]],
  ["set_contact_field", "Set a contact field", ["field", "value"]],
  ["hand_off", "Hand to a person", ["reason"]],
  ["ai_reply", "Have the AI answer", ["mode"]],
];

const WAIT_UNITS = [["1", "seconds"], ["60", "minutes"], ["3600", "hours"], ["86400", "days"]];

function options(pairs, selected) {
  return pairs.map(([value, label]) => h("option", { value, selected: value === selected }, label ?? value));
}

function select(name, pairs, selected) {
  return h("select", { name }, options(pairs.map((p) => (Array.isArray(p) ? p : [p, p])), selected));
}

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

export async function renderAutomations(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  const table = h("table", { class: "grid automations" });
  const runs = h("section", { "aria-live": "polite" });
  const dead = h("section", {});
  let team = [];
  const refresh = async () => {
    try {
      const rules = await get("/automations");
      fillGrid(table, "Rules", ["Name", "When", "On", ""],
        rules.data.map((rule) => ruleRow(rule, { editor, error, refresh, runs })));
      await showDead(dead, error);
    } catch (err) {
      error.textContent = err.message;
    }
  };
  try {
    team = (await get("/team")).data;
  } catch (err) {
    error.textContent = err.message;
  }
  const editor = ruleForm(team, error, refresh);
  fill(body,
    h("h1", {}, "Automations"),
    h("p", { class: "muted" }, "Rules the server follows for you: when something happens, and the conditions hold, it takes the actions in order, as an agent would. Each run is recorded step by step; waits survive restarts."),
    error, table, editor.form, runs, dead);
  await refresh();
}

function triggerText(trigger) {
  const label = TRIGGERS.find(([type]) => type === trigger.type)?.[1] ?? trigger.type;
  const details = [
    trigger.keywords?.length ? `words: ${trigger.keywords.join(", ")}` : null,
    trigger.channels?.length ? `channels: ${trigger.channels.join(", ")}` : null,
    trigger.pattern ? `pattern: ${trigger.pattern}` : null,
    trigger.to ? `to ${trigger.to}` : null,
    trigger.tag ? `tag ${trigger.tag}` : null,
    trigger.minutes ? `${trigger.minutes} min` : null,
    trigger.cron ? `${trigger.cron} (${trigger.time_zone})` : null,
  ].filter(Boolean);
  return details.length ? `${label} (${details.join("; ")})` : label;
}

function ruleRow(rule, { editor, error, refresh, runs }) {
  const toggle = h("input", { type: "checkbox", checked: rule.enabled, "aria-label": `${rule.name} on` });
  toggle.addEventListener("change", async () => {
    try {
      await post(`/automations/${rule.id}/${toggle.checked ? "enable" : "disable"}`, {});
      announce(`${rule.name} ${toggle.checked ? "on" : "off"}`);
    } catch (err) {
      error.textContent = err.message;
      toggle.checked = !toggle.checked;
    }
  });
  return h("tr", {},
    h("td", {}, rule.name),
    h("td", {}, triggerText(rule.trigger)),
    h("td", {}, toggle),
    h("td", {},
      h("button", { type: "button", class: "link", "aria-label": `Runs of ${rule.name}`, onclick: () => showRuns(runs, rule, error) }, "Runs"),
      " ",
      h("button", { type: "button", class: "link", "aria-label": `Edit ${rule.name}`, onclick: () => editor.edit(rule) }, "Edit"),
      " ",
      h("button", {
        type: "button", class: "link danger", "aria-label": `Remove ${rule.name}`,
        onclick: async () => {
          if (!confirm(`Remove ${rule.name}? Its runs under way stop at their next step.`)) return;
          try {
            await del(`/automations/${rule.id}`);
            announce(`${rule.name} removed`);
            await refresh();
          } catch (err) {
            error.textContent = err.message;
          }
        },
      }, "Remove")));
}

/** The form that builds a rule; `edit` loads one into it. */
function ruleForm(team, error, refresh) {
  let editing = null;
  let keptConditions = null;
  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: true });
  const triggerType = select("trigger", TRIGGERS.map(([t, l]) => [t, l]), "message_received");
  const triggerOptions = h("div", { class: "trigger-options" });
  const match = select("match", [["all", "all of these hold"], ["any", "any of these holds"]], "all");
  const conditionRows = h("ol", { class: "rule-rows", "aria-label": "Conditions" });
  const nestedNote = h("p", { class: "muted", hidden: true }, "This rule's conditions were written over the API with nesting; they are kept as they are.");
  const actionRows = h("ol", { class: "rule-rows", "aria-label": "Actions" });
  const legend = h("legend", {}, "New rule");
  const cancel = h("button", { type: "button", class: "link", hidden: true }, "Cancel editing");
  let triggerInputs = {};

  const renderTriggerOptions = (trigger = {}) => {
    const wanted = TRIGGERS.find(([t]) => t === triggerType.value)[2];
    const make = {
      channels: () => field("Channels (comma-separated, empty for all)", h("input", { name: "channels", value: (trigger.channels ?? []).join(", ") }), "a kind such as whatsapp, messenger, sandbox"),
      keywords: () => field("Words (comma-separated, empty for any message)", h("input", { name: "keywords", value: (trigger.keywords ?? []).join(", ") })),
      pattern: () => field("Pattern (regular expression, optional)", h("input", { name: "pattern", value: trigger.pattern ?? "" })),
      to_status: () => field("To status", select("to", [["", "any"], ...STATUSES.map((s) => [s, s])], trigger.to ?? "")),
      to_temperature: () => field("To temperature", select("to", [["", "any"], ...TEMPERATURES.map((s) => [s, s])], trigger.to ?? "")),
      tag: () => field("Tag (empty for any)", h("input", { name: "tag", value: trigger.tag ?? "" })),
      minutes: () => field("Minutes", h("input", { name: "minutes", type: "number", min: 1, max: 43200, required: true, value: trigger.minutes ?? 10 })),
      cron: () => field("Cron pattern", h("input", { name: "cron", required: true, value: trigger.cron ?? "0 9 * * 1-5" }), "minute hour day month weekday, or seconds first"),
      time_zone: () => field("Time zone", h("input", { name: "time_zone", value: trigger.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone }), "such as Europe/Lisbon"),
    };
    const fields = wanted.map((key) => make[key]());
    triggerInputs = Object.fromEntries(fields.map((f) => [f.querySelector("input,select").name, f.querySelector("input,select")]));
    fill(triggerOptions, fields);
  };
  triggerType.addEventListener("change", () => renderTriggerOptions());

  const form = h("form", { class: "card settings-form", "aria-label": "Automation rule" },
    h("fieldset", {}, legend,
      field("Name", name),
      h("label", { class: "check" }, enabled, " On"),
      field("When", triggerType),
      triggerOptions),
    h("fieldset", {}, h("legend", {}, "Only if"),
      field("Conditions", match), conditionRows, nestedNote,
      h("button", { type: "button", onclick: () => conditionRows.append(conditionRow()) }, "Add a condition")),
    h("fieldset", {}, h("legend", {}, "Then"),
      actionRows,
      h("button", { type: "button", onclick: () => actionRows.append(actionRow(team)) }, "Add an action")),
    h("button", { type: "submit", class: "primary" }, "Save rule"), cancel);

  const reset = () => {
    editing = null;
    keptConditions = null;
    form.reset();
    triggerType.value = "message_received";
    renderTriggerOptions();
    conditionRows.replaceChildren();
    actionRows.replaceChildren(actionRow(team));
    nestedNote.hidden = true;
    legend.textContent = "New rule";
    cancel.hidden = true;
  };
  cancel.addEventListener("click", reset);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const rule = {
        name: name.value.trim(),
        enabled: enabled.checked,
        trigger: readTrigger(triggerType.value, triggerInputs),
        conditions: keptConditions ?? readConditions(match.value, conditionRows),
        actions: [...actionRows.children].map(readAction),
      };
      const saved = editing ? await put(`/automations/${editing}`, rule) : await post("/automations", rule);
      announce(`${saved.name} saved`);
      reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  reset();
  return {
    form,
    edit(rule) {
      editing = rule.id;
      name.value = rule.name;
      enabled.checked = rule.enabled;
      triggerType.value = rule.trigger.type;
      renderTriggerOptions(rule.trigger);
      const flat = flatConditions(rule.conditions);
      keptConditions = flat ? null : rule.conditions;
      nestedNote.hidden = Boolean(flat);
      match.value = flat?.match ?? "all";
      conditionRows.replaceChildren(...(flat?.tests ?? []).map((test) => conditionRow(test)));
      actionRows.replaceChildren(...rule.actions.map((action) => actionRow(team, action)));
      legend.textContent = `Edit ${rule.name}`;
      cancel.hidden = false;
      name.focus();
    },
  };
}

function readTrigger(type, inputs) {
  const trigger = { type };
  const value = (key) => inputs[key]?.value.trim() ?? "";
  if ("channels" in inputs) trigger.channels = list(value("channels"));
  if ("keywords" in inputs) trigger.keywords = list(value("keywords"));
  if (value("pattern")) trigger.pattern = value("pattern");
  if (value("to")) trigger.to = value("to");
  if (value("tag")) trigger.tag = value("tag");
  if ("minutes" in inputs) trigger.minutes = Number(value("minutes"));
  if ("cron" in inputs) trigger.cron = value("cron");
  if (value("time_zone")) trigger.time_zone = value("time_zone");
  return trigger;
}

/** One condition test's row: what to test, and its value. */
function conditionRow(test = { kind: "channel" }) {
  const kind = select("condition", CONDITIONS.map(([k, l]) => [k, l]), test.kind);
  const value = h("span", { class: "condition-value" });
  const render = (current = {}) => {
    const shape = CONDITIONS.find(([k]) => k === kind.value)[2];
    const input = {
      list: () => h("input", { name: "value", "aria-label": "Values (comma-separated)", value: (current.values ?? []).join(", ") }),
      statuses: () => h("input", { name: "value", "aria-label": "Statuses (comma-separated)", value: (current.values ?? ["open"]).join(", ") }),
      temperatures: () => h("input", { name: "value", "aria-label": "Temperatures (comma-separated)", value: (current.values ?? ["hot"]).join(", ") }),
      text: () => h("input", { name: "value", "aria-label": "Value", value: current.text ?? "" }),
      yesno: () => select("value", [["true", "yes"], ["false", "no"]], String(current.flag ?? true)),
      field: () => h("span", {},
        h("input", { name: "field", "aria-label": "Field", value: current.field ?? "", placeholder: "name, email or a custom field" }),
        select("op", [["is", "is"], ["is_not", "is not"], ["contains", "contains"], ["exists", "is set"], ["missing", "is not set"]], current.op ?? "is"),
        h("input", { name: "value", "aria-label": "Value", value: current.value ?? "" })),
    }[shape]();
    fill(value, input);
  };
  kind.addEventListener("change", () => render());
  render(test);
  kind.setAttribute("aria-label", "Test");
  return h("li", { class: "rule-row" }, kind, value,
    h("button", { type: "button", class: "link", onclick: (e) => e.target.closest("li").remove() }, "Remove condition"));
}

function readConditionRow(row) {
  const kind = row.querySelector("select[name=condition]").value;
  const value = row.querySelector("[name=value]")?.value.trim() ?? "";
  switch (kind) {
    case "channel": case "status": case "temperature": case "language": case "text_contains":
      return { [kind]: list(value) };
    case "has_tag": return { has_tag: value };
    case "lacks_tag": return { not: { has_tag: value } };
    case "assigned": return { assigned: value === "true" };
    case "text_matches": return { text_matches: value };
    case "contact_field": {
      const op = row.querySelector("select[name=op]").value;
      const test = { field: row.querySelector("input[name=field]").value.trim(), op };
      if (!["exists", "missing"].includes(op)) test.value = value;
      return { contact_field: test };
    }
    default: throw new Error(`unknown condition ${kind}`);
  }
}

function readConditions(match, rows) {
  const tests = [...rows.children].map(readConditionRow);
  return tests.length ? { [match]: tests } : null;
}

/** A rule's conditions as one all/any list of tests the form can show, or null. */
function flatConditions(conditions) {
  if (!conditions) return { match: "all", tests: [] };
  const [match, tests] = Object.entries(conditions)[0];
  if (!["all", "any"].includes(match)) return flatConditions({ all: [conditions] });
  const rows = tests.map((test) => {
    const [kind, value] = Object.entries(test)[0];
    if (["channel", "status", "temperature", "language", "text_contains"].includes(kind)) return { kind, values: value };
    if (kind === "has_tag" || kind === "text_matches") return { kind, text: value };
    if (kind === "not" && value.has_tag) return { kind: "lacks_tag", text: value.has_tag };
    if (kind === "assigned") return { kind, flag: value };
    if (kind === "contact_field") return { kind, ...value };
    return null;
  });
  return rows.every(Boolean) ? { match, tests: rows } : null;
}

/** One action's row: its type and the inputs it takes. */
function actionRow(team, action = { type: "add_tag", tag: "" }) {
  const type = select("action", ACTIONS.map(([t, l]) => [t, l]), action.type);
  type.setAttribute("aria-label", "Action");
  const inputs = h("span", { class: "action-inputs" });
  const render = (current = {}) => {
    const wanted = ACTIONS.find(([t]) => t === type.value)[2];
    const waitUnit = WAIT_UNITS.slice().reverse().find(([n]) => (current.seconds ?? 60) % Number(n) === 0) ?? WAIT_UNITS[0];
    const make = {
      text: () => h("textarea", { name: "text", rows: 2, "aria-label": "Text", required: true, value: current.text ?? "" }),
      tag: () => h("input", { name: "tag", "aria-label": "Tag", required: true, value: current.tag ?? "" }),
      template: () => h("span", {},
        h("input", { name: "name", "aria-label": "Template name", required: true, value: current.name ?? "" }),
        h("input", { name: "language", "aria-label": "Template language", required: true, value: current.language ?? "en_US" }),
        h("input", { name: "parameters", "aria-label": "Parameters (comma-separated)", value: (current.parameters ?? []).join(", ") })),
      user: () => select("user_id", team.map((m) => [m.id, `${m.name} (${m.role})`]), current.user_id),
      status: () => select("status", STATUSES.map((s) => [s, s]), current.status),
      priority: () => select("priority", PRIORITIES.map((s) => [s, s]), current.priority ?? "high"),
      minutes: () => h("input", { name: "minutes", type: "number", min: 1, "aria-label": "Minutes", value: current.minutes ?? 60 }),
      wait: () => h("span", {},
        h("input", { name: "amount", type: "number", min: 1, "aria-label": "How long", value: (current.seconds ?? 60) / Number(waitUnit[0]) }),
        select("unit", WAIT_UNITS, waitUnit[0])),
      time: () => h("input", { name: "time", type: "time", "aria-label": "Time", value: current.time ?? "09:00" }),
      offset: () => h("input", { name: "utc_offset_minutes", type: "number", "aria-label": "Minutes east of UTC", value: current.utc_offset_minutes ?? -new Date().getTimezoneOffset() }),
      url: () => h("input", { name: "url", type: "url", "aria-label": "URL", required: true, value: current.url ?? "" }),
      field: () => h("input", { name: "field", "aria-label": "Field", required: true, value: current.field ?? "" }),
      value: () => h("input", { name: "value", "aria-label": "Value", value: current.value ?? "" }),
      reason: () => h("input", { name: "reason", "aria-label": "Why (optional)", value: current.reason ?? "" }),
      mode: () => select("mode", [["suggest", "as a draft for the agents"], ["auto", "sent to the customer"]], current.mode ?? "suggest"),
    };
    fill(inputs, wanted.map((key) => make[key]()));
  };
  type.addEventListener("change", () => render());
  render(action);
  const move = (e) => {
    const row = e.target.closest("li");
    if (row.previousElementSibling) row.parentElement.insertBefore(row, row.previousElementSibling);
  };
  return h("li", { class: "rule-row" }, type, inputs,
    h("button", { type: "button", class: "link", onclick: move }, "Move up"),
    h("button", { type: "button", class: "link", onclick: (e) => e.target.closest("li").remove() }, "Remove action"));
}

function readAction(row) {
  const type = row.querySelector("select[name=action]").value;
  const value = (name) => row.querySelector(`[name=${name}]`)?.value ?? "";
  const action = { type };
  for (const key of ["text", "tag", "user_id", "status", "priority", "url", "field", "value", "time", "name", "language", "mode"]) {
    if (row.querySelector(`[name=${key}]`)) action[key] = key === "text" ? value(key) : value(key).trim();
  }
  if (row.querySelector("[name=parameters]")) action.parameters = list(value("parameters"));
  if (row.querySelector("[name=minutes]")) action.minutes = Number(value("minutes"));
  if (row.querySelector("[name=amount]")) action.seconds = Number(value("amount")) * Number(value("unit"));
  if (row.querySelector("[name=utc_offset_minutes]")) action.utc_offset_minutes = Number(value("utc_offset_minutes"));
  if (value("reason").trim()) action.reason = value("reason").trim();
  return action;
}

async function showRuns(section, rule, error) {
  try {
    const runs = await get(`/automations/${rule.id}/runs`);
    const table = h("table", { class: "grid runs" });
    fillGrid(table, `Runs of ${rule.name}`, ["Started", "Status", "Event", "Steps", "Why"],
      runs.data.map((run) => h("tr", {},
        h("td", {}, longTime(run.created_at)),
        h("td", {}, run.status),
        h("td", {}, run.event.trigger + (run.conversation_id ? "" : " (no conversation)")),
        h("td", {}, h("ol", {}, run.steps.map((step) => h("li", {},
          `${step.action}: ${step.status} in ${Date.parse(step.finished_at) - Date.parse(step.started_at)} ms`,
          step.attempts > 1 ? ` after ${step.attempts} tries` : "",
          step.detail ? ` (${step.detail})` : "",
          step.error ? ` — ${step.error}` : "")))),
        h("td", {}, run.reason ?? ""))));
    fill(section, h("h2", {}, `Runs of ${rule.name}`),
      runs.data.length ? table : h("p", { class: "muted" }, "No run yet."));
  } catch (err) {
    error.textContent = err.message;
  }
}

/** Jobs that used all their tries (a webhook that kept failing): retry carries on. */
async function showDead(section, error) {
  const dead = await get("/jobs?state=dead");
  const table = h("table", { class: "grid" });
  fillGrid(table, "Failed steps", ["Kind", "Tries", "Error", "Since", ""],
    dead.data.map((job) => h("tr", {},
      h("td", {}, job.kind),
      h("td", {}, String(job.attempts)),
      h("td", {}, job.last_error ?? ""),
      h("td", {}, longTime(job.updated_at)),
      h("td", {}, h("button", {
        type: "button", class: "link", "aria-label": `Retry job ${job.id}`,
        onclick: async () => {
          try {
            await post(`/jobs/${job.id}/retry`, {});
            announce("Queued again");
            await showDead(section, error);
          } catch (err) {
            error.textContent = err.message;
          }
        },
      }, "Retry")))));
  fill(section, h("h2", {}, "Failed steps"),
    dead.data.length ? table : h("p", { class: "muted" }, "None: every step either worked or is still being tried."));
}
