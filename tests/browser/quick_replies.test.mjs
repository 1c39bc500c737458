// Quick replies: a manager adds one on its admin page, and an agent types `/` and
// part of its shortcut in the composer, picks it with the keyboard, and sends it
// filled in for the customer.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, customerSays, launch, newContext, ownerToken, signIn, startServer, until, violations } from "./harness.mjs";

let browser;
let server;
let token;
before(async () => {
  browser = await launch();
  server = await startServer();
  token = await ownerToken(server);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a quick reply added by a manager is offered after / in the composer and sent filled in", async () => {
  const said = await customerSays(server, token, "mia", "When do you open?", "Mia Sol");
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/quick-replies`);
    const form = page.getByRole("form", { name: "New quick reply" });
    for (const [shortcut, text] of [["hours", "Hi {{contact.first_name}}, we open at 9."], ["holidays", "We are closed on holidays."]]) {
      await form.getByLabel("Shortcut").fill(shortcut);
      await form.getByLabel("Text").fill(text);
      await form.getByRole("button", { name: "Add quick reply" }).click();
      await page.getByRole("table", { name: "Quick replies" }).getByText(`/${shortcut}`).waitFor();
    }
    assert.deepEqual(await violations(page), []);

    await page.goto(`${server.url}/#/inbox`);
    await page.locator(".conversation", { hasText: "Mia Sol" }).click();
    const composer = page.getByLabel("Reply to the customer");
    await composer.fill("/ho");
    const offered = page.getByRole("listbox", { name: "Quick replies" });
    await offered.getByRole("option").nth(1).waitFor();
    assert.deepEqual(await offered.getByRole("option").allTextContents(), [
      "/holidays We are closed on holidays.",
      "/hours Hi Mia, we open at 9.",
    ]);
    await composer.press("ArrowDown");
    await composer.press("Enter");
    assert.equal(await composer.inputValue(), "Hi Mia, we open at 9.");
    assert.equal(await offered.isHidden(), true);
    await composer.press("Enter");
    const conversation = said.conversation.id;
    await until("the quick reply was sent", async () => {
      const page = await call(server, "GET", `/conversations/${conversation}/messages`, undefined, token);
      return page.data.some((m) => m.direction === "outbound" && m.body === "Hi Mia, we open at 9.");
    });
  } finally {
    await context.close();
  }
});
