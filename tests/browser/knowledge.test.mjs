// The knowledge base page: an admin adds a document from a file and one by pasting,
// tries a question and sees the passage that answers it, edits and removes documents.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, fakeProvider, launch, newContext, ownerToken, screenshot, signIn, startServer, until, violations } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const FAQ = "# Shipping\nDelivery to Lisboa takes 2 working days.\n\n# Returns\nRefunds are paid within 14 days.\n";

test("an admin adds documents from a file and by pasting, finds the passage a question needs, edits and removes them", async () => {
  const server = await startServer();
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/knowledge`);
    const form = page.getByRole("form", { name: "Knowledge document" });
    await form.waitFor();
    const rows = page.getByRole("table", { name: "Documents" }).locator("tbody tr");

    // A Markdown file: its name gives the title and the format.
    await form.getByLabel("Read from a file").setInputFiles({ name: "faq.md", mimeType: "text/markdown", buffer: Buffer.from(FAQ) });
    await page.waitForFunction(() => document.querySelector("textarea[name=content]").value.includes("Lisboa"));
    assert.equal(await form.getByLabel("Title").inputValue(), "faq");
    assert.equal(await form.getByLabel("Format").inputValue(), "markdown");
    await form.getByRole("button", { name: "Save document" }).click();
    await page.locator("#announcer", { hasText: "faq saved: 2 passages" }).waitFor();
    await rows.first().waitFor();

    // A pasted price list.
    await form.getByLabel("Title").fill("Plans");
    await form.getByLabel("Format").selectOption("csv");
    await form.getByLabel("Text").fill("Plan,Price\nPro,49 EUR\n");
    await form.getByRole("button", { name: "Save document" }).click();
    await page.locator("#announcer", { hasText: "Plans saved: 1 passage" }).waitFor();
    await rows.nth(1).waitFor();
    assert.deepEqual(await rows.locator("td:nth-child(1)").allTextContents(), ["Plans", "faq"]);
    assert.deepEqual(await rows.locator("td:nth-child(4)").allTextContents(), ["1", "2"]);

    // A question finds the passage that answers it.
    const search = page.getByRole("search", { name: "Try a question" });
    await search.getByLabel("Try a customer's question").fill("How long is delivery to Lisboa?");
    await search.getByRole("button", { name: "Search" }).click();
    const found = page.getByRole("list", { name: "Passages found" }).locator("li");
    await found.first().waitFor();
    assert.deepEqual(await found.allTextContents(), ["faqShipping\nDelivery to Lisboa takes 2 working days."]);
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "knowledge-base");

    // Editing replaces the text: the old fact is no longer found.
    await page.getByRole("button", { name: "Edit faq" }).click();
    await page.waitForFunction(() => document.querySelector("textarea[name=content]").value.includes("Lisboa"));
    await form.getByLabel("Text").fill("Delivery to Lisboa takes 1 working day.");
    await form.getByLabel("Format").selectOption("text");
    await form.getByRole("button", { name: "Save document" }).click();
    await page.locator("#announcer", { hasText: "faq saved: 1 passage" }).waitFor();
    await search.getByRole("button", { name: "Search" }).click();
    await found.filter({ hasText: "1 working day" }).waitFor();
    assert.equal(await found.count(), 1);

    // Removing asks first, then the document is gone for search too.
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByRole("button", { name: "Remove Plans" }).click();
    await page.locator("#announcer", { hasText: "Plans removed" }).waitFor();
    const left = await call(server, "GET", "/ai/knowledge", undefined, token);
    assert.deepEqual(left.data.map((d) => [d.title, d.format, d.passages]), [["faq", "text", 1]]);
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("an admin names an embedding model and a question finds the passage that means it with no word in common", async () => {
  const provider = await fakeProvider();
  const server = await startServer({ SWITCHBOARD_AI__ALLOW_LOCAL_MODELS: "true" });
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    await call(server, "PUT", "/settings/ai", {
      providers: [{ name: "local", kind: "openai", base_url: provider.url, model: "small-model", api_key: "" }],
    }, token);
    await call(server, "POST", "/ai/knowledge", { title: "Help", format: "markdown", content: "# Delivery\nParcels arrive within 2 working days.\n\n# Refunds\nMoney goes back within 14 days." }, token);
    const page = await context.newPage();
    await signIn(page, server, OWNER);

    await page.goto(`${server.url}/#/admin/ai`);
    const form = page.getByRole("form", { name: "Language model settings" });
    await form.waitFor();
    await form.getByLabel("Provider (empty: search by words alone)").fill("local");
    await form.getByLabel("Embedding model").fill("embed-small");
    assert.deepEqual(await violations(page), []);
    await form.getByRole("button", { name: "Save" }).click();
    await page.locator("#announcer", { hasText: "Settings saved" }).waitFor();
    const saved = await call(server, "GET", "/settings/ai", undefined, token);
    assert.deepEqual(saved.embeddings, { provider: "local", model: "embed-small" });

    // The passages are embedded in the background; the table says how many.
    await until("both passages embedded", async () =>
      (await call(server, "GET", "/ai/knowledge", undefined, token)).data[0].embedded === 2);
    await page.goto(`${server.url}/#/admin/knowledge`);
    const rows = page.getByRole("table", { name: "Documents" }).locator("tbody tr");
    await rows.first().waitFor();
    assert.deepEqual(await rows.locator("td:nth-child(4)").allTextContents(), ["2 (2 embedded)"]);

    const search = page.getByRole("search", { name: "Try a question" });
    await search.getByLabel("Try a customer's question").fill("When will my order be shipped?");
    await search.getByRole("button", { name: "Search" }).click();
    const found = page.getByRole("list", { name: "Passages found" }).locator("li");
    await found.first().waitFor();
    assert.deepEqual(await found.allTextContents(), [
      "HelpDelivery\nParcels arrive within 2 working days.",
      "HelpRefunds\nMoney goes back within 14 days.",
    ]);
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
    await provider.close();
  }
});
