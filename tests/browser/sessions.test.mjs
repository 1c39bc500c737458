// A WhatsApp number linked by QR code, end to end in the browser: the real server
// with its sessions on the test suite's fake WhatsApp (tests/browser/
// fake_whatsapp_server.rs), which this test drives as WhatsApp and the phone would.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { FAKE_WHATSAPP_BINARY, OWNER, call, launch, newContext, ownerToken, screenshot, signIn, startServer, violations } from "./harness.mjs";

const PHONE = "+4915112345678";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The fake WhatsApp's control routes: what WhatsApp and the phone do. */
function whatsapp(server, channel) {
  const send = async (method, route, body) => {
    const response = await fetch(`${server.control}/sessions/${channel}${route}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? null : response.json();
  };
  return {
    nextQr: () => send("POST", "/qr"),
    scan: (phone) => send("POST", "/scan", { phone }),
    drop: () => send("POST", "/drop"),
    customerWrites: (from, id, text) => send("POST", "/messages", { from, id, text }),
    report: () => send("GET", ""),
  };
}

/** An owner on the channels page of a fresh server that has added `name` as a WhatsApp number. */
async function withWhatsAppNumber(name, work, contextOptions = {}) {
  const server = await startServer(
    {
      // QR codes and reconnects at test speed; the rules are the production ones.
      SWITCHBOARD_WHATSAPP_WEB__QR_MIN_INTERVAL_MS: "50",
      SWITCHBOARD_WHATSAPP_WEB__RECONNECT_BASE_MS: "100",
    },
    { binary: FAKE_WHATSAPP_BINARY },
  );
  assert.ok(server.control, "the fake WhatsApp printed its control address");
  const context = await newContext(browser, contextOptions);
  try {
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/channels`);
    await page.getByLabel("Kind").selectOption("whatsapp_web");
    await page.getByLabel("Name").fill(name);
    await page.getByRole("button", { name: "Connect" }).click();
    const card = page.getByRole("article", { name });
    await card.waitFor();
    const token = await ownerToken(server);
    const channels = await call(server, "GET", "/channels", undefined, token);
    const channel = channels.data.find((c) => c.name === name).id;
    await work({ page, card, server, token, channel, phone: whatsapp(server, channel) });
    assert.deepEqual(context.problems, []);
  } catch (err) {
    throw new Error(`${err.stack}\nserver log:\n${server.logs()}`);
  } finally {
    await context.close();
    await server.stop();
  }
}

/** What the card's image shows for the QR code the server has now. */
async function currentQrImage(server, token, channel) {
  const session = await call(server, "GET", `/channels/${channel}/session`, undefined, token);
  assert.equal(session.state, "qr");
  return { code: session.detail.qr, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(session.qr_svg)}` };
}

function sessionState(card) {
  return card.locator(".status-list dd").first();
}

test("an admin links a WhatsApp number by QR code: each new code shows live, then the card shows the connected number and the history", () =>
  withWhatsAppNumber("Sales line", async ({ page, card, server, token, channel, phone }) => {
    await card.locator(".session-qr").waitFor();
    assert.equal(await sessionState(card).textContent(), "Scan the QR code");
    const first = await currentQrImage(server, token, channel);
    const image = card.getByRole("img", { name: "QR code to scan with WhatsApp on the phone" });
    assert.equal(await image.getAttribute("src"), first.src);
    assert.match(decodeURIComponent(first.src), /^data:image\/svg\+xml;charset=utf-8,<\?xml[^]*<svg/);

    await phone.nextQr();
    await card.locator(`img.qr:not([src="${first.src}"])`).waitFor();
    const second = await currentQrImage(server, token, channel);
    assert.notEqual(second.code, first.code);
    assert.equal(await image.getAttribute("src"), second.src);
    await screenshot(page, "whatsapp-number-qr-code");

    await phone.scan(PHONE);
    await card.locator(".session-connected").waitFor();
    assert.equal(await image.count(), 0, "a linked number shows no QR code");
    assert.equal(await card.getByRole("form", { name: "Link with a phone number" }).isHidden(), true);
    assert.deepEqual(await card.locator(".status-list dt").allTextContents(), ["Session", "Number", "Since"]);
    assert.deepEqual(
      (await card.locator(".status-list dd").allTextContents()).slice(0, 2),
      ["Connected", `${PHONE} (Ada's phone)`],
    );

    await card.getByText("History").click();
    const entries = card.locator("ol.session-history li strong");
    await card.locator("ol.session-history li").first().waitFor();
    // Newest first: the scan stores the keys and WhatsApp asks for a restart, a normal step.
    assert.deepEqual(await entries.allTextContents(), ["Connected", "Starting", "Starting", "Scan the QR code", "Scan the QR code", "Starting"]);
    const lines = await card.locator("ol.session-history li").allTextContents();
    assert.match(lines[0], /Connected · \+4915112345678 \(Ada's phone\)$/);
    assert.match(lines[2], /Starting · \+4915112345678 \(Ada's phone\) · paired; connecting with the new keys$/);
    await screenshot(page, "whatsapp-number-connected");
    const report = await phone.report();
    assert.equal(report.alive, 1, "one client of the session is alive");
  }));

test("a dropped connection, a restart and a log-out show on the card as they happen", () =>
  withWhatsAppNumber("Support line", async ({ page, card, phone }) => {
    await card.locator(".session-qr").waitFor();
    await phone.scan(PHONE);
    await card.locator(".session-connected").waitFor();

    await phone.drop();
    // The session reconnects by itself after its pause; the card follows it back.
    await card.locator(".session-reconnecting, .session-starting").waitFor();
    await card.locator(".session-connected").waitFor();
    await card.getByText("History").click();
    await card.locator("ol.session-history li", { hasText: "Reconnecting" }).waitFor();
    assert.match(
      await card.locator("ol.session-history li", { hasText: "Reconnecting" }).first().textContent(),
      /Reconnecting · \+4915112345678 · attempt 1 · connection reset by peer$/,
    );

    await card.getByRole("button", { name: "Restart" }).click();
    await page.getByText("Support line is starting again.").waitFor();
    await card.locator(".session-connected").waitFor();
    await card.locator("ol.session-history li", { hasText: /Starting · .*by Owner$/ }).waitFor();
    assert.equal((await phone.report()).alive, 1, "the old client was shut down before the new one");

    page.once("dialog", (dialog) => dialog.accept());
    await card.getByRole("button", { name: "Log out" }).click();
    await card.locator(".session-logged_out").waitFor();
    await page.getByText("Support line logged out.").waitFor();
    const report = await phone.report();
    assert.equal(report.logouts, 1);
    assert.equal(report.alive, 0);
    assert.match(await card.locator("ol.session-history li").first().textContent(), /^.+ Logged out · .*by Owner$/);
    await screenshot(page, "whatsapp-number-logged-out");
  }));

test("an admin who cannot scan asks for a pairing code and the card shows it to type on the phone", () =>
  withWhatsAppNumber("Front desk", async ({ page, card }) => {
    await card.locator(".session-qr").waitFor();
    await card.getByLabel("Or link with phone number").fill(PHONE);
    await card.getByRole("button", { name: "Get a pairing code" }).click();
    await card.getByText("Type this on the phone: ABCD-EFGH").waitFor();
    await card.locator(".session-pairing_code").waitFor();
    assert.equal(await sessionState(card).textContent(), "Type the pairing code on the phone");
    assert.equal(await card.getByRole("img", { name: "QR code to scan with WhatsApp on the phone" }).count(), 0);
    await screenshot(page, "whatsapp-number-pairing-code");
  }));

test("a customer's WhatsApp message shows in the inbox like any other, and the reply goes out through the session", () =>
  withWhatsAppNumber("Shop", async ({ page, card, phone }) => {
    await card.locator(".session-qr").waitFor();
    await phone.scan(PHONE);
    await card.locator(".session-connected").waitFor();

    await page.goto(page.url().replace(/#.*$/, "#/inbox"));
    await phone.customerWrites("+4917000000001", "3EB0CUSTOMER0001", "Is the blue one in stock?");
    const row = page.locator(".conversation", { hasText: "Grace" });
    await row.waitFor();
    assert.equal(await row.locator(".preview").textContent(), "Is the blue one in stock?");
    await row.click();
    await page.getByLabel("Reply to the customer").fill("Yes, two left.");
    await page.keyboard.press("Enter");
    await page.locator('.msg-outbound[data-status="sent"]', { hasText: "Yes, two left." }).waitFor();
    const report = await phone.report();
    assert.deepEqual(report.sent, [{ to: "4917000000001@s.whatsapp.net", body: "Yes, two left." }]);
  }));

test("the session card passes the WCAG A and AA checks with its QR code and when linked, with its history open", () =>
  withWhatsAppNumber("Sales line", async ({ page, card, phone }) => {
    await card.locator(".session-qr").waitFor();
    await card.locator("img.qr").waitFor();
    assert.deepEqual(await violations(page), [], "QR code");
    await phone.scan(PHONE);
    await card.locator(".session-connected").waitFor();
    await card.getByText("History").click();
    await card.locator("ol.session-history li").first().waitFor();
    assert.deepEqual(await violations(page), [], "linked, with history");
  }, { bypassCSP: true }));
