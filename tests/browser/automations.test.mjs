// The automations page: an admin builds a rule with the forms (a trigger with its
// words, a condition, two actions), a customer's message runs it, the runs table
// shows each step, the rule loads back into the form and is switched off; a step
// that failed for good is listed and queued again with a click.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, customerSays, launch, newContext, ownerToken, screenshot, signIn, startServer, until, violations } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("an admin builds a rule with forms, sees its runs step by step, switches it off and retries a failed step", async () => {
  const server = await startServer();
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/automations`);
    const form = page.getByRole("form", { name: "Automation rule" });
    await form.waitFor();

    await form.getByLabel("Name").fill("Pricing questions");
    await form.getByLabel("When").selectOption("message_received");
    await form.getByLabel("Words (comma-separated, empty for any message)").fill("price, cost");
    await form.getByRole("button", { name: "Add a condition" }).click();
    const conditions = form.getByRole("list", { name: "Conditions" }).locator("li");
    await conditions.first().getByLabel("Test").selectOption("channel");
    await conditions.first().getByLabel("Values (comma-separated)").fill("sandbox");
    const actions = form.getByRole("list", { name: "Actions" }).locator("li");
    await actions.first().getByLabel("Action").selectOption("add_tag");
    await actions.first().getByLabel("Tag").fill("pricing");
    await form.getByRole("button", { name: "Add an action" }).click();
    await actions.nth(1).getByLabel("Action").selectOption("send_message");
    await actions.nth(1).getByLabel("Text").fill("Thanks {{contact.first_name}}! Plans start at 20 EUR.");
    await form.getByRole("button", { name: "Save rule" }).click();
    await page.locator("#announcer", { hasText: "Pricing questions saved" }).waitFor();
    const rows = page.getByRole("table", { name: "Rules" }).locator("tbody tr");
    await rows.first().waitFor();
    assert.equal(await rows.first().locator("td:nth-child(2)").textContent(), "A customer's message (words: price, cost)");

    // What the forms made is the rule the API holds.
    const rules = await call(server, "GET", "/automations", undefined, token);
    const rule = rules.data[0];
    assert.deepEqual(
      { trigger: rule.trigger, conditions: rule.conditions, actions: rule.actions, enabled: rule.enabled },
      {
        trigger: { type: "message_received", channels: [], keywords: ["price", "cost"], pattern: null },
        conditions: { all: [{ channel: ["sandbox"] }] },
        actions: [
          { type: "add_tag", tag: "pricing" },
          { type: "send_message", text: "Thanks {{contact.first_name}}! Plans start at 20 EUR." },
        ],
        enabled: true,
      },
    );

    // A step that can never work: a webhook to an internal address is refused.
    await call(server, "POST", "/automations", {
      name: "Internal hook",
      trigger: { type: "message_received" },
      actions: [{ type: "webhook", url: "http://127.0.0.1:9/hook" }],
    }, token);

    await customerSays(server, token, "+4915100000001", "What does it cost?", "Ana Lima");
    await until("the rule's run is done", async () => {
      const runs = await call(server, "GET", `/automations/${rule.id}/runs`, undefined, token);
      return runs.data[0]?.status === "done";
    });
    await page.getByRole("button", { name: "Runs of Pricing questions" }).click();
    const runRows = page.getByRole("table", { name: "Runs of Pricing questions" }).locator("tbody tr");
    await runRows.first().waitFor();
    assert.equal(await runRows.first().locator("td:nth-child(2)").textContent(), "done");
    assert.equal(await runRows.first().locator("td:nth-child(3)").textContent(), "message_received");
    const steps = await runRows.first().locator("td:nth-child(4) li").allTextContents();
    assert.match(steps[0], /^add_tag: done in \d+ ms$/);
    assert.match(steps[1], /^send_message: done in \d+ ms \(message [0-9a-f-]+\)$/);
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "automations");

    // The rule loads back into the form as it was built.
    await page.getByRole("button", { name: "Edit Pricing questions" }).click();
    assert.equal(await form.getByLabel("Name").inputValue(), "Pricing questions");
    assert.equal(await form.getByLabel("Words (comma-separated, empty for any message)").inputValue(), "price, cost");
    assert.equal(await conditions.first().getByLabel("Values (comma-separated)").inputValue(), "sandbox");
    assert.equal(await actions.nth(1).getByLabel("Text").inputValue(), "Thanks {{contact.first_name}}! Plans start at 20 EUR.");
    await form.getByRole("button", { name: "Cancel editing" }).click();

    // Switched off from the list.
    await page.getByLabel("Pricing questions on").uncheck();
    await page.locator("#announcer", { hasText: "Pricing questions off" }).waitFor();
    const off = await call(server, "GET", `/automations/${rule.id}`, undefined, token);
    assert.equal(off.enabled, false);

    // The refused webhook's step is listed, and Retry queues it again.
    const dead = await until("a dead step", async () => {
      const jobs = await call(server, "GET", "/jobs?state=dead", undefined, token);
      return jobs.data[0];
    });
    await page.reload();
    const failed = page.getByRole("table", { name: "Failed steps" }).locator("tbody tr");
    await failed.first().waitFor();
    assert.match(await failed.first().locator("td:nth-child(3)").textContent(), /^refused:/);
    await page.getByRole("button", { name: `Retry job ${dead.id}` }).click();
    await page.locator("#announcer", { hasText: "Queued again" }).waitFor();
    const job = await until("the retried job", async () => {
      const jobs = await call(server, "GET", "/jobs?state=dead", undefined, token);
      const again = jobs.data.find((j) => j.id === dead.id);
      // Refused again at once: dead once more, with its tries counted from zero.
      return again && again.updated_at !== dead.updated_at ? again : null;
    });
    assert.equal(job.attempts, 1);
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
