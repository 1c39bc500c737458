// Accessibility of the main screens, checked by axe-core (WCAG 2.1 A and AA rules:
// names for every control, contrast, landmarks, ARIA use). The axe script is
// injected for the check only, so these contexts bypass the page's CSP.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, customerSays, violations, launch, newContext, ownerToken, screenshot, signIn, startServer } from "./harness.mjs";

let browser;
let server;
before(async () => {
  browser = await launch();
  server = await startServer();
  const token = await ownerToken(server);
  await customerSays(server, token, "sofia", "Do you deliver on Sundays?", "Sofia Lind");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

for (const [name, viewport] of [
  ["a desktop", { width: 1280, height: 800 }],
  ["a phone", { width: 390, height: 780 }],
]) {
  test(`sign-in, inbox, conversation and admin pages pass the WCAG A and AA checks on ${name}`, async () => {
    const context = await newContext(browser, { viewport, bypassCSP: true });
    try {
      const page = await context.newPage();
      await page.goto(server.url + "/");
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      assert.deepEqual(await violations(page), [], "sign-in");

      await signIn(page, server, OWNER);
      await page.locator(".conversation").first().waitFor();
      assert.deepEqual(await violations(page), [], "inbox list");

      await page.locator(".conversation").first().click();
      await page.locator(".timeline .body").first().waitFor();
      assert.deepEqual(await violations(page), [], "conversation");

      await page.goto(server.url + "/#/admin/users");
      await page.locator("td").first().waitFor();
      assert.deepEqual(await violations(page), [], "admin");
      await screenshot(page, `accessibility-${viewport.width}`);
    } finally {
      await context.close();
    }
  });
}
