// The API reference: Swagger UI served by the server itself (no CDN; the browser runs
// with background networking off and the page's policy allows only this origin)
// renders every operation of /api/v1/openapi.json, and an integrator authorizes with
// a token and calls the API from it.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newContext, ownerToken, screenshot, startServer } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the reference shows every operation and calls the API with the token an integrator gives it", async () => {
  const server = await startServer();
  const context = await newContext(browser);
  try {
    const token = await ownerToken(server);
    const document = await (await fetch(`${server.url}/api/v1/openapi.json`)).json();
    const operations = Object.values(document.paths).flatMap((item) =>
      ["get", "post", "put", "patch", "delete"].filter((method) => item[method]),
    ).length;

    const page = await context.newPage();
    const foreign = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith("data:")) foreign.push(request.url());
    });
    await page.goto(`${server.url}/api/v1/docs/`);
    await page.getByText("Switchboard REST API").first().waitFor();
    await assert.doesNotReject(page.locator(".opblock").nth(operations - 1).waitFor());
    assert.equal(await page.locator(".opblock").count(), operations);

    await page.getByRole("button", { name: "Authorize" }).first().click();
    await page.locator(".modal-ux input").fill(token);
    await page.locator(".modal-ux .auth-btn-wrapper .authorize").click();
    await page.locator(".modal-ux .btn-done").click();

    const me = page.locator(".opblock-get", { has: page.locator('[data-path="/api/v1/auth/me"]') });
    await me.locator(".opblock-summary").click();
    await me.getByRole("button", { name: "Try it out" }).click();
    await me.getByRole("button", { name: "Execute" }).click();
    const answer = me.locator(".live-responses-table .response .response-col_status").first();
    await answer.waitFor();
    assert.equal((await answer.textContent()).trim(), "200");
    assert.match(await me.locator(".live-responses-table .microlight").first().textContent(), /owner@switchboard\.local/);
    await screenshot(page, "api-reference");

    assert.deepEqual(foreign, []);
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
