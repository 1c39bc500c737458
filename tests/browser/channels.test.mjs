// A connected WhatsApp number end to end in the browser, against a local fake of
// the Graph API (Meta's request and response shapes) and signed webhooks.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { OWNER, call, launch, newContext, ownerToken, screenshot, signIn, startServer, until, violations } from "./harness.mjs";

const PHONE_NUMBER_ID = "106540352242922";
const APP_SECRET = "browser-test-app-secret";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A 1×1 PNG: what a customer's photo looks like to the media endpoint. */
const PHOTO = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/** A Lead Ads submission as `GET /{leadgen_id}` returns it. */
const LEAD = {
  id: "444444444",
  created_time: "2026-11-22T05:00:00+0000",
  field_data: [
    { name: "full_name", values: ["Rosa Vega"] },
    { name: "phone_number", values: ["+4915112345678"] },
    { name: "email", values: ["rosa@example.test"] },
    { name: "budget", values: ["10k"] },
  ],
};
const PAGE_ID = "1234567890";
const BUSINESS_ACCOUNT = "102290129340398";

/**
 * The Graph API: sends (refusing the first `refuse` the way Meta does), media
 * lookups (id → URL) and downloads, each needing the channel's token.
 */
async function fakeGraph({ refuse }) {
  const sends = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const json = body ? JSON.parse(body) : {};
      response.setHeader("content-type", "application/json");
      if (request.method === "POST" && request.url.endsWith(`/${PHONE_NUMBER_ID}/messages`)) {
        if (json.status === "read") return response.end(JSON.stringify({ success: true }));
        sends.push(json);
        if (refuse > 0) {
          refuse -= 1;
          response.statusCode = 400;
          return response.end(JSON.stringify({
            error: { message: "(#131030) Recipient phone number not in allowed list", type: "OAuthException", code: 131030, fbtrace_id: "AbCdEf" },
          }));
        }
        return response.end(JSON.stringify({
          messaging_product: "whatsapp",
          contacts: [{ input: json.to, wa_id: json.to }],
          messages: [{ id: `wamid.fake${sends.length}` }],
        }));
      }
      const base = `http://127.0.0.1:${server.address().port}`;
      if (request.headers.authorization !== "Bearer EAAG-test-token") {
        response.statusCode = 401;
        return response.end(JSON.stringify({ error: { message: "Invalid OAuth access token", type: "OAuthException", code: 190 } }));
      }
      if (request.method === "GET" && request.url.startsWith(`/v21.0/${BUSINESS_ACCOUNT}/message_templates?`)) {
        return response.end(JSON.stringify({
          data: [{ name: "order_update", language: "en_US", status: "APPROVED", category: "UTILITY", id: "1",
            components: [{ type: "BODY", text: "Hi {{1}}, order {{2}} ships today." }] }],
          paging: { cursors: { before: "0", after: "1" } },
        }));
      }
      if (request.method === "GET" && request.url === `/v21.0/${LEAD.id}`) {
        return response.end(JSON.stringify(LEAD));
      }
      if (request.method === "GET" && request.url === "/v21.0/media-1") {
        return response.end(JSON.stringify({ messaging_product: "whatsapp", url: `${base}/download/media-1`, mime_type: "image/png", file_size: PHOTO.length, id: "media-1" }));
      }
      if (request.method === "GET" && request.url === "/download/media-1") {
        response.setHeader("content-type", "image/png");
        return response.end(PHOTO);
      }
      response.statusCode = 404;
      response.end(JSON.stringify({ error: { message: "Unsupported request", type: "OAuthException", code: 100 } }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, sends, close: () => server.close() };
}

async function signedWebhook(server, channelId, payload) {
  const body = JSON.stringify(payload);
  const signature = createHmac("sha256", APP_SECRET).update(body).digest("hex");
  const response = await fetch(`${server.url}/webhooks/meta/${channelId}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${signature}` },
    body,
  });
  assert.equal(response.status, 200, await response.text());
}

function customerText(from, name, wamid, text) {
  return customerMessage(from, name, { id: wamid, type: "text", text: { body: text } });
}

function customerMessage(from, name, message, at = Date.now()) {
  return {
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550783881", phone_number_id: PHONE_NUMBER_ID },
          contacts: [{ profile: { name }, wa_id: from }],
          messages: [{ from, timestamp: String(Math.floor(at / 1000)), ...message }],
        },
      }],
    }],
  };
}

/**
 * Runs `body` with a fake Graph API, a server pointed at it, a connected WhatsApp
 * channel and a browser context; stops them all after.
 */
async function withWhatsApp(refuse, body) {
  const graph = await fakeGraph({ refuse });
  const server = await startServer({
    SWITCHBOARD_CHANNELS__GRAPH_BASE_URL: graph.url,
    SWITCHBOARD_CHANNELS__RETRY_BASE_MS: "50",
    // The fake serves media from 127.0.0.1 over http: allowed for this test only.
    SWITCHBOARD_CHANNELS__MEDIA_HOSTS: "127.0.0.1",
    SWITCHBOARD_FETCH__ALLOW_PRIVATE_ADDRESSES: "true",
    SWITCHBOARD_FETCH__ALLOW_PLAIN_HTTP: "true",
  });
  const context = await newContext(browser);
  try {
    const token = await ownerToken(server);
    const channel = await call(server, "POST", "/channels", {
      kind: "whatsapp", name: "Support line", account_id: PHONE_NUMBER_ID, access_token: "EAAG-test-token", app_secret: APP_SECRET,
    }, token);
    await body({ graph, server, context, channel });
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
    graph.close();
  }
}

test("a reply WhatsApp refuses shows the reason, and Retry sends it again until it is sent", () =>
  withWhatsApp(1, async ({ graph, server, context, channel }) => {
    await signedWebhook(server, channel.id, customerText("4915112345678", "Rosa Vega", "wamid.in1", "My order never came"));

    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.locator(".conversation", { hasText: "Rosa Vega" }).click();
    await page.getByLabel("Reply to the customer").fill("Sorry! Sending a new one today.");
    await page.keyboard.press("Enter");

    const reply = page.locator(".msg-outbound", { hasText: "Sending a new one today" });
    await page.locator('.msg-outbound[data-status="failed"]').waitFor();
    assert.equal(await reply.locator(".fail-reason").textContent(), "Not delivered: 131030 (#131030) Recipient phone number not in allowed list (400)");
    await screenshot(page, "failed-reply-with-retry");

    // Admins find it among the dead letters too, with the same reason.
    await page.getByRole("link", { name: "Admin" }).click();
    await page.getByRole("link", { name: "Dead letters" }).click();
    const letter = page.locator("tbody tr", { hasText: "Recipient phone number not in allowed list" });
    await letter.waitFor();
    assert.equal(await letter.locator("td").nth(2).textContent(), "1");
    await letter.getByRole("link", { name: "Open" }).click();

    await reply.getByRole("button", { name: "Retry" }).click();
    await page.locator('.msg-outbound[data-status="sent"]').waitFor();
    assert.equal(await reply.locator('[data-testid="ticks"]').getAttribute("aria-label"), "Sent");
    assert.equal(graph.sends.length, 2);
    assert.deepEqual(graph.sends[1].text, { body: "Sorry! Sending a new one today.", preview_url: false });
    await screenshot(page, "retried-reply-sent");
    assert.equal(graph.sends[1].to, "4915112345678");
  }));

test("a customer's photo shows inline, and after 24 hours silence the composer sends a template", () =>
  withWhatsApp(0, async ({ graph, server, context, channel }) => {
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    const photo = { id: "wamid.photo", type: "image", image: { id: "media-1", mime_type: "image/png", sha256: "x", caption: "The box arrived like this" } };
    await signedWebhook(server, channel.id, customerMessage("4915112345678", "Rosa Vega", photo, twoDaysAgo));
    const token = await ownerToken(server);
    await call(server, "PATCH", `/channels/${channel.id}`, { settings: { business_account_id: BUSINESS_ACCOUNT } }, token);
    await call(server, "POST", `/channels/${channel.id}/templates/sync`, {}, token);

    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.locator(".conversation", { hasText: "Rosa Vega" }).click();
    const image = page.getByRole("img", { name: "image from Rosa Vega" });
    await image.waitFor();
    assert.equal(await image.evaluate((img) => img.complete && img.naturalWidth), 1);
    assert.match(await image.getAttribute("src"), /^blob:/);
    await page.locator(".timeline .body", { hasText: "The box arrived like this" }).waitFor();

    const picker = page.getByRole("form", { name: "Send a WhatsApp template" });
    await picker.getByText("more than 24 hours ago").waitFor();
    // The channel's approved templates, synced from its business account, show their text.
    await picker.getByLabel("Template name").fill("order_update");
    await picker.getByLabel("Template name").press("Tab");
    await picker.getByText("Hi {{1}}, order {{2}} ships today. (2 parameters)").waitFor();
    await picker.getByLabel("Parameters").fill("Rosa\nA-1042");
    await picker.getByRole("button", { name: "Send template" }).click();
    await page.locator('.msg-outbound[data-status="sent"]').waitFor();
    assert.equal(graph.sends.length, 1);
    assert.equal(graph.sends[0].type, "template");
    assert.equal(graph.sends[0].template.name, "order_update");
    assert.deepEqual(graph.sends[0].template.language, { code: "en_US" });
    assert.deepEqual(graph.sends[0].template.components[0].parameters, [{ type: "text", text: "Rosa" }, { type: "text", text: "A-1042" }]);
    assert.equal(await picker.count(), 0, "the picker closes once the template is sent");
    await screenshot(page, "photo-and-template");
  }));

test("an admin sends a template broadcast to a pasted list, follows its totals live and reads why a recipient was skipped", () =>
  withWhatsApp(0, async ({ graph, server, context, channel }) => {
    await signedWebhook(server, channel.id, customerText("4915112345678", "Rosa Vega", "wamid.in1", "Hello"));
    const token = await ownerToken(server);
    await call(server, "PATCH", `/channels/${channel.id}`, { settings: { business_account_id: BUSINESS_ACCOUNT } }, token);
    await call(server, "POST", `/channels/${channel.id}/templates/sync`, {}, token);

    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/broadcasts`);
    const form = page.getByRole("form", { name: "New broadcast" });
    await form.getByLabel("Name").fill("Order news");
    await form.getByLabel("Recipients").selectOption({ label: "A list of phones" });
    await form.getByLabel("Phones").fill("+4915112345678\n+4915187654321");
    await form.getByLabel("Template").selectOption({ label: "order_update (en_US)" });
    await form.getByLabel("Parameter 1").fill("{{contact.first_name}}");
    await form.getByLabel("Parameter 2").fill("A-1042");
    await form.getByRole("button", { name: "Send broadcast" }).click();

    // The row follows the broadcast live to its end.
    const row = page.locator("tr", { hasText: "Order news" });
    await row.locator(".broadcast-status", { hasText: "done" }).waitFor();
    assert.equal(await row.locator(".broadcast-totals").textContent(), "1 sent, 1 skipped (of 2)");
    assert.equal(graph.sends.length, 1);
    assert.equal(graph.sends[0].to, "4915112345678");
    assert.deepEqual(graph.sends[0].template.components[0].parameters, [{ type: "text", text: "Rosa" }, { type: "text", text: "A-1042" }]);
    // The phone nobody knows has no first name to fill in: skipped, and the page says why.
    await row.getByRole("button", { name: "Recipients of Order news" }).click();
    const skipped = page.locator("tr", { hasText: "+4915187654321" });
    await skipped.getByText("template parameter 1 ({{contact.first_name}}) is empty for this contact").waitFor();
    await screenshot(page, "broadcast-done");
    // The page passes the WCAG checks (axe needs a context without the page's CSP).
    const checked = await newContext(browser, { bypassCSP: true });
    try {
      const axePage = await checked.newPage();
      await signIn(axePage, server, OWNER);
      await axePage.goto(`${server.url}/#/admin/broadcasts`);
      await axePage.locator("tr", { hasText: "Order news" }).waitFor();
      await axePage.getByLabel("Parameter 1").waitFor();
      assert.deepEqual(await violations(axePage), []);
    } finally {
      await checked.close();
    }
  }));

test("a lead from a Lead Ads form joins the WhatsApp customer with that phone, and the contact panel shows it and its source", () =>
  withWhatsApp(0, async ({ server, context, channel }) => {
    await signedWebhook(server, channel.id, customerText("4915112345678", "Rosa Vega", "wamid.in1", "Hi, I filled in your form"));
    const token = await ownerToken(server);
    const leads = await call(server, "POST", "/channels", {
      kind: "lead_ads", name: "Spring campaign", account_id: PAGE_ID, access_token: "EAAG-test-token", app_secret: APP_SECRET,
    }, token);
    await signedWebhook(server, leads.id, {
      object: "page",
      entry: [{
        id: PAGE_ID,
        time: Math.floor(Date.now() / 1000),
        changes: [{ field: "leadgen", value: { ad_id: "555", form_id: "666", leadgen_id: LEAD.id, created_time: Math.floor(Date.now() / 1000), page_id: PAGE_ID } }],
      }],
    });

    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.locator(".conversation", { hasText: "Hi, I filled in your form" }).click();
    const panel = page.getByRole("complementary", { name: "Contact details" });
    await panel.getByText("Lead Ads form 666").waitFor();
    assert.match(await panel.locator(".lead").textContent(), /Lead Ads form 666 · ad 555/);
    assert.match(await panel.locator(".lead-fields").textContent(), /budget: 10k/);
    await panel.getByRole("link", { name: "rosa@example.test" }).waitFor();
    await panel.getByRole("link", { name: "+4915112345678" }).waitFor();
    await screenshot(page, "contact-with-lead");
  }));

test("admin pages: an invited member's role is changed and they join, an API key is shown once, a channel shows its webhook URL and verify token", async () => {
  const server = await startServer();
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.getByRole("link", { name: "Admin" }).click();

    // Invite an agent; the link signs them in once they pick a password. Each form is
    // found by its name first, so nothing is typed while the previous page still shows.
    const invite = page.getByRole("form", { name: "Invite a team member" });
    await invite.getByLabel("Name", { exact: true }).fill("Sam Reed");
    await invite.getByLabel("Email").fill("sam@example.test");
    await invite.getByRole("button", { name: "Invite" }).click();
    const link = await page.getByLabel("Invitation link").inputValue();
    assert.match(link, new RegExp(`^${server.url}/#/invite/`));
    // Promoted before accepting: Sam arrives as a manager.
    await page.getByLabel("Role of Sam Reed").selectOption("manager");
    const ownerApi = await ownerToken(server);
    const samsRole = async () => (await call(server, "GET", "/users", undefined, ownerApi)).data.find((u) => u.email === "sam@example.test").role;
    await until("the role change to reach the server", async () => (await samsRole()) === "manager");

    await page.getByRole("link", { name: "API keys" }).click();
    const newKey = page.getByRole("form", { name: "Create an API key" });
    await newKey.getByLabel("Name", { exact: true }).fill("CRM sync");
    await newKey.getByLabel("conversations:read").check();
    await newKey.getByRole("button", { name: "Create key" }).click();
    const key = await page.getByLabel("The new API key").inputValue();
    assert.match(key, /^sbk_/);
    await page.locator("td", { hasText: "CRM sync" }).waitFor();
    assert.equal(await page.locator("table").getByText(key).count(), 0, "the list never shows the whole key");
    await page.reload();
    await page.locator("td", { hasText: "CRM sync" }).waitFor();
    assert.equal(await page.getByLabel("The new API key").count(), 0, "the key is not shown again");

    await page.getByRole("link", { name: "Channels" }).click();
    const connect = page.getByRole("form", { name: "Connect a channel" });
    await connect.getByLabel("Name", { exact: true }).fill("Sales WhatsApp");
    await connect.getByLabel("Phone number ID").fill(PHONE_NUMBER_ID);
    await connect.getByLabel("Access token").fill("EAAG-test-token");
    await connect.getByLabel("App secret").fill(APP_SECRET);
    await connect.getByRole("button", { name: "Connect" }).click();
    const card = page.getByRole("article", { name: "Sales WhatsApp" });
    const url = await card.getByLabel("Callback URL").inputValue();
    assert.match(url, new RegExp(`^${server.url}/webhooks/meta/[0-9a-f-]{36}$`));
    const verify = await card.getByLabel("Verify token").inputValue();
    // The values pasted into Meta's console pass Meta's handshake.
    const handshake = await fetch(`${url}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(verify)}&hub.challenge=1158201444`);
    assert.equal(await handshake.text(), "1158201444");
    await card.locator(".health-ok").waitFor();
    await screenshot(page, "admin-channels");

    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByText("Nothing waiting.").waitFor();
    context.problems = context.problems.filter((p) => !p.includes("favicon"));
    assert.deepEqual(context.problems, []);

    // The invited agent follows the link and lands in the inbox.
    const agentContext = await newContext(browser);
    const agentPage = await agentContext.newPage();
    await agentPage.goto(link);
    await agentPage.getByLabel("Password").fill("sam-password-123");
    await agentPage.getByRole("button", { name: "Activate and sign in" }).click();
    await agentPage.locator('.conn[data-state="live"]').waitFor();
    assert.match(await agentPage.locator(".who").textContent(), /Sam Reed \(manager\)/);
    await agentPage.getByRole("link", { name: "Admin" }).waitFor();
    await screenshot(agentPage, "invited-agent-signed-in");
    assert.deepEqual(agentContext.problems, []);
    await agentContext.close();
  } finally {
    await context.close();
    await server.stop();
  }
});
