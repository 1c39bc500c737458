// Lead scoring in the inbox: the pipeline's temperature and handoff on each row,
// live, and the list filtered by temperature; what it found on each message; an
// agent taking a conversation over and handing it back; the admin settings page.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, customerSays, fakeProvider, launch, newContext, ownerToken, screenshot, signIn, startServer, violations } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("a buyer in a hurry shows as a hot lead that needs a person, and the hot filter lists only them", async () => {
  const server = await startServer();
  const context = await newContext(browser);
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    const row = (name) => page.locator(".conversation", { hasText: name });

    await customerSays(server, token, "ana", "Hi, how much is the Pro plan? Is it available? I need it today, thanks!", "Ana Buyer");
    await customerSays(server, token, "ben", "The weather is nice", "Ben Chat");
    // The message shows at once; its lead follows from the pipeline.
    const hot = row("Ana Buyer").getByLabel("Hot lead, score 95");
    await hot.waitFor();
    assert.equal(await hot.textContent(), "Hot");
    assert.match(await hot.getAttribute("title"), /^Score 95: \+30 pricing or buying, \+20 availability, /);
    assert.equal(await row("Ana Buyer").locator(".badge.handoff").textContent(), "Needs a person");
    await row("Ben Chat").waitFor();
    assert.equal(await row("Ben Chat").locator(".badge.temp-hot, .badge.temp-warm, .badge.handoff").count(), 0);

    await page.getByLabel("Filter by lead temperature").selectOption("hot");
    await row("Ben Chat").waitFor({ state: "detached" });
    assert.deepEqual(await page.locator(".conversation .name").allTextContents(), ["Ana Buyer"]);
    await screenshot(page, "hot-lead-filter");

    // After a reload the badge comes from the list itself.
    await page.reload();
    await page.locator('.conn[data-state="live"]').waitFor();
    await row("Ana Buyer").getByLabel("Hot lead, score 95").waitFor();
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("an open conversation shows what the pipeline found on each message, and an agent takes it over and hands it back", async () => {
  const server = await startServer();
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await customerSays(server, token, "ana", "Hi, how much is the Pro plan? Is it available? I need it today, thanks!", "Ana Buyer");
    await page.locator(".conversation", { hasText: "Ana Buyer" }).getByLabel("Hot lead, score 95").waitFor();
    await page.locator(".conversation", { hasText: "Ana Buyer" }).click();

    const message = page.locator(".msg-inbound", { hasText: "how much is the Pro plan" });
    await message.getByTestId("chip-intent").waitFor();
    assert.equal(await message.getByTestId("chip-intent").textContent(), "Intent: pricing");
    assert.match(await message.getByTestId("chip-intent").getAttribute("title"), /^Intent pricing, 75% sure from “how much”$/);
    assert.equal(await message.locator(".chip.sentiment-positive").textContent(), "Sentiment: positive");
    assert.equal(await message.getByTestId("chip-urgency").textContent(), "Urgency: high");
    const handoff = page.getByTestId("handoff");
    await page.getByTestId("handoff").filter({ hasText: "Waiting for a person (hot lead)" }).waitFor();

    await page.getByRole("button", { name: "Take over" }).click();
    await handoff.filter({ hasText: "A person answers (taken over by an agent)" }).waitFor();
    await page.locator(".thread-head .meta", { hasText: "Assigned to you" }).waitFor();
    await page.locator(".msg-note", { hasText: "Owner took the conversation over from the bot." }).waitFor();
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "taken-over-with-chips");

    await page.getByRole("button", { name: "Hand back to the bot" }).click();
    await handoff.filter({ hasText: /^The bot answers$/ }).waitFor();
    await page.locator(".msg-note", { hasText: "Owner handed the conversation back to the bot." }).waitFor();
    const lead = await call(server, "GET", "/conversations?handoff=bot", undefined, token);
    assert.equal(lead.data.length, 1);

    // After a reload the chips and who answers come from the API.
    await page.reload();
    await page.locator('.conn[data-state="live"]').waitFor();
    await message.getByTestId("chip-intent").waitFor();
    await handoff.filter({ hasText: /^The bot answers$/ }).waitFor();
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("an admin turns a trigger off and adds an intent; a broken pattern is refused saying why", async () => {
  const server = await startServer();
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/pipeline`);
    const form = page.getByRole("form", { name: "Pipeline settings" });
    await form.waitFor();
    assert.equal(await form.getByLabel("Negative messages in a row").inputValue(), "2");
    await form.getByLabel("A lead turns hot").uncheck();
    await form.getByLabel("Open conversations per agent, at most").fill("5");
    await form.getByRole("button", { name: "Add an intent" }).click();
    await form.getByLabel("Intent name").fill("booking");
    await form.getByLabel("Phrases, one per line").fill("book a table\nreserve");
    await form.getByLabel("Patterns, one per line").fill("(table");
    assert.deepEqual(await violations(page), []);
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByRole("alert").filter({ hasText: "pattern '(table'" }).waitFor();

    await form.getByLabel("Patterns, one per line").fill("table for \\d+");
    await form.getByRole("button", { name: "Save" }).click();
    await page.locator("#announcer", { hasText: "Settings saved" }).waitFor();
    const saved = await call(server, "GET", "/settings/pipeline", undefined, token);
    assert.equal(saved.handoff.hot_lead, false);
    assert.equal(saved.handoff.human_request, true);
    assert.deepEqual(saved.assignment, { mode: "round_robin", max_open_per_agent: 5 });
    assert.deepEqual(saved.intents, [{ intent: "booking", phrases: ["book a table", "reserve"], patterns: ["table for \\d+"] }]);
    await screenshot(page, "pipeline-settings");

    // The page shows what is saved.
    await page.reload();
    await form.getByLabel("Intent name").waitFor();
    assert.equal(await form.getByLabel("Intent name").inputValue(), "booking");
    assert.equal(await form.getByLabel("A lead turns hot").isChecked(), false);
    // The one refused save, and nothing else.
    assert.deepEqual(context.problems, ["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("an admin adds a language model provider; its key is kept but never shown, and a bad URL is refused saying why", async () => {
  const server = await startServer();
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/ai`);
    const form = page.getByRole("form", { name: "Language model settings" });
    await form.waitFor();
    assert.equal(await form.getByLabel("Ask the model about messages the rules are unsure of").isChecked(), true);
    await form.getByRole("button", { name: "Add a provider" }).click();
    await form.getByLabel("Provider name").fill("openai");
    await form.getByLabel("Base URL").fill("ftp://api.example.com/v1");
    await form.getByLabel("Model", { exact: true }).fill("gpt-4o-mini");
    await form.getByLabel("API key").fill("sk-browser-secret");
    await form.getByLabel("Unsure below this confidence (0 to 1)").fill("0.7");
    assert.deepEqual(await violations(page), []);
    // The browser's own URL check lets ftp through; the server refuses it.
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByRole("alert").filter({ hasText: "providers[0].base_url must be an http or https URL" }).waitFor();

    await form.getByLabel("Base URL").fill("https://api.example.com/v1");
    await form.getByRole("button", { name: "Save" }).click();
    await page.locator("#announcer", { hasText: "Settings saved" }).waitFor();
    const saved = await call(server, "GET", "/settings/ai", undefined, token);
    assert.deepEqual(saved, {
      providers: [{ name: "openai", kind: "openai", base_url: "https://api.example.com/v1", model: "gpt-4o-mini", timeout_ms: 10000, has_api_key: true }],
      understanding: { enabled: true, below_confidence: 0.7 },
      budget: { monthly_tokens: 0, warn_percent: 80 },
      embeddings: { provider: "", model: "" },
    });
    await screenshot(page, "ai-settings");

    // After a reload the key is not in the page; saving again keeps it.
    await page.reload();
    await form.getByLabel("Model", { exact: true }).waitFor();
    assert.equal(await form.getByLabel("API key").inputValue(), "");
    assert.equal(await form.getByLabel("API key").getAttribute("placeholder"), "Saved; leave empty to keep it");
    assert.equal((await page.content()).includes("sk-browser-secret"), false);
    await form.getByLabel("Model", { exact: true }).fill("gpt-4.1-mini");
    await form.getByRole("button", { name: "Save" }).click();
    await page.locator("#announcer", { hasText: "Settings saved" }).waitFor();
    const again = await call(server, "GET", "/settings/ai", undefined, token);
    assert.equal(again.providers[0].model, "gpt-4.1-mini");
    assert.equal(again.providers[0].has_api_key, true);

    // A second provider that speaks Anthropic's Messages API, tried after the first.
    await form.getByRole("button", { name: "Add a provider" }).click();
    const second = form.locator("li.provider").nth(1);
    await second.getByLabel("API", { exact: true }).selectOption("anthropic");
    assert.equal(await second.getByLabel("Base URL").getAttribute("placeholder"), "https://api.anthropic.com/v1");
    await second.getByLabel("Provider name").fill("claude");
    await second.getByLabel("Base URL").fill("https://api.anthropic.com/v1");
    await second.getByLabel("Model", { exact: true }).fill("claude-haiku-4-5");
    await second.getByLabel("API key").fill("sk-ant-browser");
    const put = page.waitForResponse((r) => r.url().endsWith("/settings/ai") && r.request().method() === "PUT");
    await form.getByRole("button", { name: "Save" }).click();
    assert.equal((await put).status(), 200);
    const both = await call(server, "GET", "/settings/ai", undefined, token);
    assert.deepEqual(both.providers.map((p) => [p.name, p.kind, p.has_api_key]), [["openai", "openai", true], ["claude", "anthropic", true]]);
    assert.equal(await form.locator("li.provider").nth(1).getByLabel("API", { exact: true }).inputValue(), "anthropic");
    assert.deepEqual(await violations(page), []);
    assert.deepEqual(context.problems, ["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("the language model page shows this month's answered calls and tokens by provider and model", async () => {
  const provider = await fakeProvider();
  const server = await startServer({ SWITCHBOARD_AI__ALLOW_LOCAL_MODELS: "true" });
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    await call(server, "PUT", "/settings/ai", {
      providers: [{ name: "local", kind: "openai", base_url: provider.url, model: "small-model", api_key: "" }],
    }, token);
    // Two messages the rules are unsure of go to the model.
    for (const from of ["ana", "ben"]) {
      await customerSays(server, token, from, "Hmm, and what about the thing we talked about on Tuesday?");
    }
    let usage;
    for (let tries = 0; tries < 200; tries++) {
      usage = await call(server, "GET", "/ai/usage", undefined, token);
      if (usage.total.requests === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(usage.total.requests, 2);

    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/ai`);
    const table = page.getByRole("table", { name: `Usage in ${usage.month} (UTC), as the providers counted it` });
    await table.waitFor();
    const rows = await table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.deepEqual(rows, [
      ["local", "small-model", "2", "240", "36"],
      ["Total", "2", "240", "36"],
    ]);
    assert.deepEqual(await violations(page), []);
  } finally {
    await context.close();
    await server.stop();
    await provider.close();
  }
});
