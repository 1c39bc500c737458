// Lead scoring in the inbox: the pipeline's temperature and handoff on each row,
// live, and the list filtered by temperature.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, customerSays, launch, newContext, ownerToken, screenshot, signIn, startServer } from "./harness.mjs";

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
