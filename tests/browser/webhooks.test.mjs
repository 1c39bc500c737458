// The webhooks page: an admin adds an endpoint with the form and copies its secret,
// a customer's message reaches the local receiver signed with that secret (checked
// here with Node's own HMAC, not the server's code), the delivery log shows it, a
// test event follows, a failed delivery is sent again with a click, and the
// endpoint is switched off from the list.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { OWNER, call, customerSays, launch, newContext, ownerToken, screenshot, signIn, startServer, until, violations } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A local receiver: answers the scripted statuses in turn, then 200; keeps every request. */
async function receiver(script = []) {
  const seen = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      seen.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(script.shift() ?? 200, { "content-type": "text/plain" });
      response.end("thanks");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hooks`, seen, close: () => server.close() };
}

/** Standard Webhooks verification, written from the specification. */
function verified(secret, { headers, body }) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body.toString()}`;
  const expected = createHmac("sha256", key).update(signed).digest();
  return headers["webhook-signature"].split(" ").some((part) => {
    const [version, signature] = part.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

test("an admin adds an endpoint, sees its deliveries and their attempts, redelivers one and switches it off", async () => {
  const hooks = await receiver([500]);
  const server = await startServer({
    SWITCHBOARD_FETCH__ALLOW_PRIVATE_ADDRESSES: "true",
    SWITCHBOARD_FETCH__ALLOW_PLAIN_HTTP: "true",
    SWITCHBOARD_WEBHOOKS__RETRY_SCHEDULE_SECS: "0",
  });
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/webhooks`);
    const form = page.getByRole("form", { name: "Webhook endpoint" });
    await form.waitFor();
    await form.getByLabel("URL").fill(hooks.url);
    await form.getByLabel("Description").fill("Our CRM");
    await form.getByLabel("message.new").check();
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const secret = await page.getByLabel("The signing secret").inputValue();
    assert.match(secret, /^whsec_/);
    const rows = page.getByRole("table", { name: "Webhook endpoints" }).locator("tbody tr");
    await rows.first().waitFor();
    assert.equal(await rows.first().locator("td:nth-child(2)").textContent(), "message.new");
    assert.equal(await rows.first().locator("td:nth-child(4)").textContent(), "healthy");

    // The first delivery is refused (one attempt only here), so it fails.
    await customerSays(server, token, "+15550001", "Is this thing on?", "Ivy");
    const [endpoint] = (await call(server, "GET", "/webhooks", undefined, token)).data;
    await until("the delivery failed", async () => {
      const log = await call(server, "GET", `/webhooks/${endpoint.id}/deliveries`, undefined, token);
      return log.data[0]?.status === "failed";
    });
    await page.getByRole("button", { name: `Deliveries for ${hooks.url}` }).click();
    const deliveries = page.getByRole("table", { name: `Deliveries to ${hooks.url}` }).locator("tbody tr");
    await deliveries.first().waitFor();
    assert.equal(await deliveries.first().locator("td:nth-child(1)").textContent(), "message.new");
    assert.equal(await deliveries.first().locator("td:nth-child(2)").textContent(), "failed");
    assert.equal(await deliveries.first().locator("td:nth-child(4)").textContent(), "500");

    // Sent again by hand: the receiver now answers 200, under the same id.
    await deliveries.first().getByRole("button", { name: /^Redeliver msg_/ }).click();
    await page.locator("#announcer", { hasText: "queued again" }).waitFor();
    await until("the redelivery", () => hooks.seen.length === 2);
    assert.equal(hooks.seen[1].headers["webhook-id"], hooks.seen[0].headers["webhook-id"]);
    assert.ok(verified(secret, hooks.seen[1]), "signed with the secret the page showed");
    assert.ok(!verified("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", hooks.seen[1]));
    const body = JSON.parse(hooks.seen[1].body.toString());
    assert.equal(body.type, "message.new");
    assert.equal(body.data.message.body, "Is this thing on?");
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.getByRole("table", { name: `Deliveries to ${hooks.url}` }).locator("tbody tr td:nth-child(2)", { hasText: "succeeded" }).waitFor();
    await deliveries.first().getByRole("button", { name: /^Attempts of msg_/ }).click();
    const attempts = page.getByRole("table", { name: /^Attempts of msg_/ }).locator("tbody tr");
    await attempts.nth(1).waitFor();
    assert.equal(await attempts.nth(0).locator("td:nth-child(3)").textContent(), "500");
    assert.equal(await attempts.nth(1).locator("td:nth-child(3)").textContent(), "200");

    // A test event goes out at once.
    await page.getByRole("button", { name: `Send a test for ${hooks.url}` }).click();
    await until("the test event", () => hooks.seen.length === 3);
    assert.equal(JSON.parse(hooks.seen[2].body.toString()).type, "webhook.test");
    assert.ok(verified(secret, hooks.seen[2]));
    await screenshot(page, "webhooks");
    assert.deepEqual(await violations(page), []);

    // Switched off from the list: the API holds it.
    await page.getByLabel(`${hooks.url} on`).uncheck();
    await page.locator("#announcer", { hasText: `${hooks.url} off` }).waitFor();
    const after = await call(server, "GET", `/webhooks/${endpoint.id}`, undefined, token);
    assert.equal(after.enabled, false);
  } finally {
    await context.close();
    await server.stop();
    hooks.close();
  }
});
