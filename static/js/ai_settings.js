// The language model page (admins): the providers the pipeline asks about messages
// its rules are unsure of, tried in order, and what their answers used this month.
// Keys are never sent back by the server: a provider saved with its key field left
// empty keeps the key it has.

import { h, fill, fillGrid, announce } from "./dom.js";
import { get, put } from "./session.js";
import { field } from "./signin.js";

export async function renderAiSettings(body) {
  const error = h("p", { class: "form-error", role: "alert" });
  fill(body, h("h1", {}, "Language model"), error, h("p", { class: "muted" }, "Loading…"));
  let saved, usage;
  try {
    [saved, usage] = await Promise.all([get("/settings/ai"), get("/ai/usage")]);
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  fill(body, h("h1", {}, "Language model"), error, settingsForm(saved, error), usageTable(usage));
}

/** Calls answered and tokens used this month (UTC), by provider and model. */
function usageTable(usage) {
  const table = h("table", { class: "grid usage" });
  const count = (n) => n.toLocaleString("en");
  const rows = usage.by_model.map((m) => h("tr", {},
    h("td", {}, m.provider), h("td", {}, m.model), h("td", {}, count(m.requests)),
    h("td", {}, count(m.input_tokens)), h("td", {}, count(m.output_tokens))));
  rows.push(h("tr", { class: "total" },
    h("th", { scope: "row", colspan: 2 }, "Total"), h("td", {}, count(usage.total.requests)),
    h("td", {}, count(usage.total.input_tokens)), h("td", {}, count(usage.total.output_tokens))));
  fillGrid(table, `Usage in ${usage.month} (UTC), as the providers counted it`, ["Provider", "Model", "Answered calls", "Input tokens", "Output tokens"], rows);
  if (!usage.budget) return table;
  const { used, monthly_tokens: limit, state } = usage.budget;
  const said = { ok: "within the budget", warning: "nearly spent", spent: "spent: no model is asked until the month turns" }[state];
  const budget = h("p", { class: `budget budget-${state}`, role: state === "ok" ? null : "status" },
    `Budget: ${count(used)} of ${count(limit)} tokens used, ${said}.`);
  return h("div", {}, budget, table);
}

function settingsForm(saved, error) {
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: saved.understanding.enabled });
  const below = h("input", { type: "number", name: "below_confidence", min: 0, max: 1, step: 0.05, value: saved.understanding.below_confidence });
  const budgetTokens = h("input", { type: "number", name: "monthly_tokens", min: 0, step: 1000, value: saved.budget.monthly_tokens });
  const warnPercent = h("input", { type: "number", name: "warn_percent", min: 1, max: 100, value: saved.budget.warn_percent });
  const embeddingProvider = h("input", { name: "embedding_provider", value: saved.embeddings.provider, pattern: "[A-Za-z0-9_\\-]{0,40}" });
  const embeddingModel = h("input", { name: "embedding_model", value: saved.embeddings.model, placeholder: "text-embedding-3-small" });
  const providers = h("ol", { class: "providers" });
  const addProvider = (provider) => providers.append(providerRow(provider));
  for (const provider of saved.providers) addProvider(provider);

  const form = h("form", { class: "card settings-form", "aria-label": "Language model settings" },
    h("p", { class: "muted" }, "Any server that speaks the OpenAI chat completions API (OpenAI, Azure OpenAI, OpenRouter, Ollama, vLLM, LM Studio) or Anthropic's Messages API. The first that answers wins; the rules decide when none does."),
    h("fieldset", {}, h("legend", {}, "Understanding"),
      h("label", { class: "check" }, enabled, " Ask the model about messages the rules are unsure of"),
      field("Unsure below this confidence (0 to 1)", below)),
    h("fieldset", {}, h("legend", {}, "Monthly token budget"),
      field("Tokens a month, input and output (0: no budget)", budgetTokens, "Once spent, no model is asked until the month turns: replies send the fallback, understanding stays with the rules."),
      field("Warn from this percentage on", warnPercent)),
    h("fieldset", {}, h("legend", {}, "Knowledge base embeddings"),
      field("Provider (empty: search by words alone)", embeddingProvider, "The name of an OpenAI-compatible provider below; its embeddings endpoint finds passages by meaning as well as by their words."),
      field("Embedding model", embeddingModel, "Changing it embeds every passage again.")),
    h("fieldset", {}, h("legend", {}, "Providers, in the order they are tried"),
      providers,
      h("button", { type: "button", class: "link", onclick: () => addProvider({ name: "", kind: "openai", base_url: "", model: "", timeout_ms: 10000, has_api_key: false }) }, "Add a provider")),
    h("button", { type: "submit", class: "primary" }, "Save"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const settings = {
      providers: [...providers.querySelectorAll(".provider")].map((row) => row.read()),
      understanding: { enabled: enabled.checked, below_confidence: Number(below.value) },
      budget: { monthly_tokens: Number(budgetTokens.value), warn_percent: Number(warnPercent.value) },
      embeddings: { provider: embeddingProvider.value.trim(), model: embeddingModel.value.trim() },
    };
    try {
      const now = await put("/settings/ai", settings);
      fill(providers, now.providers.map(providerRow));
      announce("Settings saved");
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

/** The wire formats a provider can speak, and where each usually lives. */
const KINDS = [
  ["openai", "OpenAI-compatible chat completions (OpenAI, Azure, OpenRouter, Ollama, vLLM, LM Studio)", "https://api.openai.com/v1"],
  ["anthropic", "Anthropic Messages", "https://api.anthropic.com/v1"],
];

function providerRow(provider) {
  const kind = h("select", {}, KINDS.map(([value, label]) => h("option", { value, selected: value === provider.kind }, label)));
  const name = h("input", { value: provider.name, pattern: "[A-Za-z0-9_\\-]{1,40}", required: true });
  const baseUrl = h("input", { type: "url", value: provider.base_url, required: true });
  const hint = () => { baseUrl.placeholder = KINDS.find(([value]) => value === kind.value)[2]; };
  kind.addEventListener("change", hint);
  hint();
  const model = h("input", { value: provider.model, placeholder: "gpt-4o-mini", required: true });
  const key = h("input", { type: "password", autocomplete: "off", placeholder: provider.has_api_key ? "Saved; leave empty to keep it" : "None" });
  const timeout = h("input", { type: "number", min: 100, max: 60000, value: provider.timeout_ms });
  const row = h("li", { class: "provider card" },
    field("Provider name", name, "letters, digits, - and _"),
    field("API", kind),
    field("Base URL", baseUrl),
    field("Model", model),
    field("API key", key, provider.has_api_key ? "A key is saved" : "Empty: no key"),
    field("Timeout in milliseconds", timeout),
    h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove this provider"));
  row.read = () => {
    const read = { name: name.value.trim(), kind: kind.value, base_url: baseUrl.value.trim(), model: model.value.trim(), timeout_ms: Number(timeout.value) };
    // Empty keeps a saved key; with none saved, it means "no key".
    if (key.value !== "" || !provider.has_api_key) read.api_key = key.value;
    return read;
  };
  return row;
}
