// The web inbox end to end: a real server, Debian's Chromium, what agents see.

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  OWNER,
  addUser,
  call,
  customerSays,
  launch,
  newContext,
  ownerToken,
  screenshot,
  signIn,
  slug,
  startServer,
} from "./harness.mjs";

let browser;
let server;
let token;
let contexts = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

beforeEach(async () => {
  server = await startServer();
  token = await ownerToken(server);
  contexts = [];
});

afterEach(async (t) => {
  // Every test leaves a picture of where it ended, for a human to look at.
  const last = contexts.at(-1)?.pages()[0];
  if (last) await screenshot(last, `end-${slug(t.name)}`);
  for (const context of contexts) {
    assert.deepEqual(context.problems, [], "the page had errors or CSP violations");
    await context.close();
  }
  await server.stop();
});

async function agentPage(user, options) {
  const context = await newContext(browser, options);
  contexts.push(context);
  const page = await context.newPage();
  await signIn(page, server, user);
  return page;
}

function row(page, name) {
  return page.locator(".conversation", { hasText: name });
}

function bubbles(page) {
  return page.locator(".timeline .msg .body");
}

test("two agents see a customer's message appear live, and one's reply shows for the other with its ticks", async () => {
  const ana = await addUser(server, token, "Ana", "agent");
  const ben = await addUser(server, token, "Ben", "agent");
  const anaPage = await agentPage(ana);
  const benPage = await agentPage(ben);

  await customerSays(server, token, "alice", "Hi, where is my order?", "Alice Martin");

  for (const page of [anaPage, benPage]) {
    await row(page, "Alice Martin").waitFor();
    assert.equal(await row(page, "Alice Martin").locator(".preview").textContent(), "Hi, where is my order?");
    assert.equal(await row(page, "Alice Martin").locator(".badge.unread").textContent(), "1");
  }

  await row(anaPage, "Alice Martin").click();
  await row(benPage, "Alice Martin").click();
  await anaPage.getByLabel("Reply to the customer").fill("Let me check, one moment.");
  await anaPage.keyboard.press("Enter");

  // Ben sees Ana's reply, then the sandbox's delivery reports move its ticks to read.
  const reply = benPage.locator(".msg-outbound", { hasText: "Let me check, one moment." });
  await reply.waitFor();
  assert.equal(await reply.locator(".author").textContent(), "Ana");
  await benPage.locator('.msg-outbound[data-status="read"]').waitFor();
  assert.equal(await reply.locator('[data-testid="ticks"]').getAttribute("aria-label"), "Read");
  await anaPage.locator('.msg-outbound[data-status="read"]').waitFor();
  assert.equal(await anaPage.locator(".msg-outbound").count(), 1, "the reply shows once for its author");
  assert.deepEqual(await bubbles(benPage).allTextContents(), ["Hi, where is my order?", "Let me check, one moment."]);
  assert.equal(await row(benPage, "Alice Martin").locator(".preview").textContent(), "Ana: Let me check, one moment.");
  assert.equal(await row(anaPage, "Alice Martin").locator(".preview").textContent(), "You: Let me check, one moment.");
  await screenshot(benPage, "two-agents-reply-with-ticks");
});

test("an agent who goes offline while messages arrive sees all of them once when back, without a reload", async () => {
  const ana = await addUser(server, token, "Ana", "agent");
  const page = await agentPage(ana);
  await customerSays(server, token, "carol", "First question", "Carol Diaz");
  await row(page, "Carol Diaz").click();
  await bubbles(page).first().waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true;
  });

  await page.context().setOffline(true);
  await page.locator('.conn[data-state="offline"]').waitFor();
  for (const text of ["Second", "Third", "Fourth"]) await customerSays(server, token, "carol", text);
  await customerSays(server, token, "dave", "Hello from Dave", "Dave Kim");

  await page.context().setOffline(false);
  await page.locator('.conn[data-state="live"]').waitFor();
  await page.locator(".timeline .body", { hasText: "Fourth" }).waitFor();
  await row(page, "Dave Kim").waitFor();
  assert.deepEqual(await bubbles(page).allTextContents(), ["First question", "Second", "Third", "Fourth"]);
  assert.equal(await row(page, "Carol Diaz").count(), 1);
  assert.equal(await row(page, "Dave Kim").count(), 1);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page did not reload");
  await screenshot(page, "resumed-after-offline");
});

test("after a reset the inbox reloads cleanly and shows each missed message once", async () => {
  await server.stop();
  server = await startServer({ SWITCHBOARD_INBOX__MAX_REPLAY: "2" });
  token = await ownerToken(server);
  const page = await agentPage(OWNER);
  await customerSays(server, token, "erin", "One", "Erin Park");
  await row(page, "Erin Park").click();
  await bubbles(page).first().waitFor();
  await page.getByLabel("Reply to the customer").fill("Draft I am still writing");

  await page.context().setOffline(true);
  await page.locator('.conn[data-state="offline"]').waitFor();
  for (const text of ["Two", "Three", "Four", "Five"]) await customerSays(server, token, "erin", text);
  await page.context().setOffline(false);

  await page.locator(".timeline .body", { hasText: "Five" }).waitFor();
  assert.deepEqual(await bubbles(page).allTextContents(), ["One", "Two", "Three", "Four", "Five"]);
  assert.equal(await page.getByLabel("Reply to the customer").inputValue(), "Draft I am still writing");
});

test("a viewer follows the inbox live but has no composer and no actions", async () => {
  const vic = await addUser(server, token, "Vic", "viewer");
  const page = await agentPage(vic);
  await customerSays(server, token, "frank", "Can someone call me?", "Frank Ito");
  await row(page, "Frank Ito").click();
  await bubbles(page).first().waitFor();
  assert.equal(await page.getByLabel("Reply to the customer").count(), 0);
  assert.equal(await page.locator(".composer").count(), 0);
  assert.equal(await page.getByRole("toolbar", { name: "Conversation actions" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Admin" }).count(), 0);
  await screenshot(page, "viewer-without-composer");
});

test("an agent demoted to viewer loses the composer at once, and a deactivated one is signed out", async () => {
  const ann = await addUser(server, token, "Ann", "agent");
  const page = await agentPage(ann);
  await customerSays(server, token, "gina", "Is anyone there?", "Gina Park");
  await row(page, "Gina Park").click();
  await page.getByLabel("Reply to the customer").waitFor();
  const users = await call(server, "GET", "/users", undefined, token);
  const id = users.data.find((u) => u.email === ann.email).id;

  await call(server, "PATCH", `/users/${id}`, { role: "viewer" }, token);
  // The open socket is told; the page shows what a viewer may do without a reload.
  await page.locator(".composer").waitFor({ state: "detached" });
  assert.match(await page.locator(".who").textContent(), /\(viewer\)/);
  await bubbles(page).first().waitFor();
  assert.equal(await page.locator(".conn").getAttribute("data-state"), "live");
  await screenshot(page, "demoted-to-viewer");

  await call(server, "PATCH", `/users/${id}`, { status: "deactivated" }, token);
  // The socket closes with 4003, the refresh is refused, the page signs out.
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem("switchboard.session")), null);
  // That refused refresh is the one error Chromium logs here, and it is expected.
  const context = contexts.at(-1);
  context.problems = context.problems.filter((p) => !p.includes("status of 401"));
});

test("a wrong password shows a clear error and keeps the visitor on the sign-in form", async () => {
  const context = await newContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  // The failed sign-in's 401 is expected here, not a page problem.
  context.problems = [];
  await page.goto(server.url + "/");
  await page.getByLabel("Workspace").fill("default");
  await page.getByLabel("Email").fill(OWNER.email);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.textContent(), "Wrong tenant, email or password.");
  assert.equal(await page.getByLabel("Password").evaluate((el) => el === document.activeElement), true);
  await screenshot(page, "wrong-password");
  context.problems = context.problems.filter((p) => !p.includes("401"));
});

test("agents see who else has the conversation open, and who is typing", async () => {
  const ana = await addUser(server, token, "Ana", "agent");
  const ben = await addUser(server, token, "Ben", "agent");
  await customerSays(server, token, "gina", "Is anyone there?", "Gina Rossi");
  const anaPage = await agentPage(ana);
  await row(anaPage, "Gina Rossi").click();
  await bubbles(anaPage).first().waitFor();
  const benPage = await agentPage(ben);
  await row(benPage, "Gina Rossi").click();

  await anaPage.getByText("Also viewing: Ben").waitFor();
  await benPage.getByText("Also viewing: Ana").waitFor();
  await benPage.getByLabel("Reply to the customer").pressSequentially("Hel");
  await anaPage.getByText("Ben is typing…").waitFor();
  await screenshot(anaPage, "viewing-and-typing");

  await benPage.getByRole("button", { name: "Sign out" }).click();
  await anaPage.waitForFunction(() => document.querySelector('[data-testid="viewers"]').textContent === "");
});

test("keyboard only: arrows move through the list, Enter opens, Enter sends and Shift+Enter makes a new line", async () => {
  await customerSays(server, token, "hank", "First customer", "Hank Lee");
  await customerSays(server, token, "ivy", "Second customer", "Ivy Chen");
  const page = await agentPage(OWNER);
  await row(page, "Hank Lee").waitFor();
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "search");
  await page.locator(".conversation").first().focus();
  await page.keyboard.press("ArrowDown");
  assert.match(await page.evaluate(() => document.activeElement.textContent), /Hank Lee/);
  await page.keyboard.press("Enter");
  const composer = page.getByLabel("Reply to the customer");
  await composer.waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === "TEXTAREA");
  await page.keyboard.type("Line one");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("Line two");
  await page.keyboard.press("Enter");
  await page.locator(".msg-outbound .body").waitFor();
  assert.equal(await page.locator(".msg-outbound .body").textContent(), "Line one\nLine two");
  assert.equal(await composer.inputValue(), "");
});

test("an internal note looks different from a reply and gets no delivery ticks", async () => {
  await customerSays(server, token, "jack", "Refund please", "Jack Moss");
  const page = await agentPage(OWNER);
  await row(page, "Jack Moss").click();
  await page.getByRole("radio", { name: "Internal note" }).click();
  await page.getByLabel("Internal note for the team").fill("Check the order in the ERP first");
  await page.keyboard.press("Enter");
  const note = page.locator(".msg-note:not(.unsent)");
  await note.waitFor();
  assert.match(await note.locator(".author").textContent(), /^Internal note · you$/);
  assert.equal(await note.locator('[data-testid="ticks"]').count(), 0);
  assert.notEqual(
    await note.evaluate((el) => getComputedStyle(el).backgroundColor),
    await page.locator(".msg-inbound").evaluate((el) => getComputedStyle(el).backgroundColor),
  );
});

test("assigning, tagging, prioritising and resolving show in the other agent's list live", async () => {
  const ana = await addUser(server, token, "Ana", "agent");
  await customerSays(server, token, "kim", "Where is my parcel?", "Kim Ode");
  const ownerPage = await agentPage(OWNER);
  const anaPage = await agentPage(ana);
  await row(ownerPage, "Kim Ode").click();
  await ownerPage.getByLabel("Assignee").selectOption({ label: "Ana" });
  await ownerPage.getByLabel("Priority").selectOption("urgent");
  await ownerPage.getByLabel("Add a tag").fill("shipping");
  await ownerPage.getByLabel("Add a tag").press("Enter");

  const anaRow = row(anaPage, "Kim Ode");
  await anaRow.locator(".tag", { hasText: "shipping" }).waitFor();
  await anaRow.locator(".badge.prio-urgent").waitFor();
  assert.equal(await anaRow.locator(".assignee").textContent(), "Mine");
  await anaPage.getByRole("radio", { name: "Mine" }).click();
  await anaRow.waitFor();

  await ownerPage.getByLabel("Status", { exact: true }).selectOption("resolved");
  // Resolved conversations leave the "open" list everywhere.
  await anaRow.waitFor({ state: "detached" });
});

test("search finds conversations by contact name and a new conversation lands at the top", async () => {
  await customerSays(server, token, "liam", "Hello", "Liam Ortiz");
  await customerSays(server, token, "mia", "Hello too", "Mia Novak");
  const page = await agentPage(OWNER);
  await page.locator(".conversation").nth(1).waitFor();
  await page.getByLabel(/Search conversations/).fill("ortiz");
  await page.waitForFunction(() => document.querySelectorAll(".conversation").length === 1);
  assert.match(await page.locator(".conversation .name").textContent(), /Liam Ortiz/);
  await page.getByLabel(/Search conversations/).fill("");
  await page.waitForFunction(() => document.querySelectorAll(".conversation").length === 2);
  await customerSays(server, token, "noah", "Brand new here", "Noah Berg");
  await row(page, "Noah Berg").waitFor();
  assert.match(await page.locator(".conversation .name").first().textContent(), /Noah Berg/);
});

test("the contact panel shows phones and channel identities, and a manager merges a duplicate", async () => {
  await call(server, "POST", "/sandbox/demo/inbound", { from: "olga", text: "Hi", name: "Olga Ruiz", phone: "+4915112345678" }, token);
  await call(server, "POST", "/contacts", { name: "Olga R. (email)", emails: ["olga@example.test"] }, token);
  const page = await agentPage(OWNER);
  await row(page, "Olga Ruiz").click();
  const panel = page.getByRole("complementary", { name: "Contact details" });
  await panel.getByText("+4915112345678").waitFor();
  await panel.getByText("Sandbox · demo: olga").waitFor();
  await panel.getByLabel("Find a duplicate contact").fill("olga@");
  await panel.getByLabel("Find a duplicate contact").press("Enter");
  page.once("dialog", (dialog) => dialog.accept());
  await panel.getByRole("button", { name: "Merge into Olga Ruiz" }).click();
  await panel.getByText("olga@example.test").waitFor();
  await screenshot(page, "inbox-with-contact");
});

test("on a phone the list and the conversation take the whole screen in turn", async () => {
  await customerSays(server, token, "paul", "Hi from my phone", "Paul Ng");
  const page = await agentPage(OWNER, { viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true });
  await row(page, "Paul Ng").click();
  await bubbles(page).first().waitFor();
  assert.equal(await page.locator(".list-pane").isVisible(), false);
  await screenshot(page, "phone-conversation");
  await page.getByRole("button", { name: "Back to the list" }).click();
  assert.equal(await page.locator(".list-pane").isVisible(), true);
  await screenshot(page, "phone-list");
});

test("signing out returns to the sign-in form, and the token refresh keeps a session alive", async () => {
  await server.stop();
  server = await startServer({ SWITCHBOARD_AUTH__ACCESS_TOKEN_TTL_SECS: "6" });
  token = await ownerToken(server);
  const page = await agentPage(OWNER);
  const first = await page.evaluate(() => JSON.parse(localStorage.getItem("switchboard.session")).access_token);
  // Past the first token's life: the page refreshed it in the background and is live.
  await page.waitForFunction(
    (old) => JSON.parse(localStorage.getItem("switchboard.session")).access_token !== old,
    first,
    { timeout: 15_000 },
  );
  await page.waitForTimeout(6500);
  await customerSays(server, token, "quinn", "Still there?", "Quinn Ali").catch(async () => {
    token = await ownerToken(server);
    await customerSays(server, token, "quinn", "Still there?", "Quinn Ali");
  });
  await row(page, "Quinn Ali").waitFor();
  assert.equal(await page.locator(".conn").getAttribute("data-state"), "live");
  // The agent signs out just as the next refresh is answered: the server has rotated
  // the token, the page has not heard yet. Signing out must win.
  let release;
  const released = new Promise((go) => (release = go));
  let rotated;
  const answered = new Promise((done) => {
    rotated = new Promise((resolve) => {
      page.route("**/api/v1/auth/refresh", async (route) => {
        const response = await route.fetch();
        resolve(response);
        await released;
        await route.fulfill({ response });
        done();
      });
    });
  });
  const successor = (await (await rotated).json()).refresh_token;
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  release();
  await answered;
  // Had the page taken the new tokens it would load the account and open a socket.
  await page.waitForLoadState("networkidle");
  assert.equal(await page.getByRole("button", { name: "Sign in" }).isVisible(), true);
  assert.equal(await page.evaluate(() => localStorage.getItem("switchboard.session")), null);
  const refused = await fetch(`${server.url}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: successor }),
  });
  assert.equal(refused.status, 401);
});

test("a new user signs in, plays a customer in the sandbox and works the conversation to resolved", async () => {
  const page = await agentPage(OWNER);
  await page.getByText("Try it: play a customer (sandbox)").click();
  const form = page.getByRole("form", { name: "Play a customer" });
  await form.getByLabel("Customer handle").fill("rita");
  await form.getByLabel("Customer name").fill("Rita Gomez");
  await form.getByLabel("Customer message").fill("My invoice shows the wrong address");
  await form.getByRole("button", { name: "Send as customer" }).click();

  await row(page, "Rita Gomez").click();
  await page.getByLabel("Reply to the customer").fill("Sorry about that, fixing it now.");
  await page.keyboard.press("Enter");
  await page.locator('.msg-outbound[data-status="read"]').waitFor();
  await page.getByLabel("Assignee").selectOption({ label: "Me" });
  await page.getByRole("radio", { name: "Mine" }).click();
  await row(page, "Rita Gomez").waitFor();

  // Snooze until tomorrow: it leaves the open list until then (or until Rita writes).
  await page.getByLabel("Status", { exact: true }).selectOption("snoozed");
  await page.getByRole("button", { name: "Snooze" }).click();
  await page.locator('[data-testid="status"]', { hasText: "snoozed" }).waitFor();
  await row(page, "Rita Gomez").waitFor({ state: "detached" });
  await page.getByLabel("Filter by status").selectOption("snoozed");
  await row(page, "Rita Gomez").waitFor();
  await form.getByLabel("Customer message").fill("Any news?");
  await form.getByRole("button", { name: "Send as customer" }).click();
  await page.locator('[data-testid="status"]', { hasText: "open" }).waitFor();

  await page.getByLabel("Status", { exact: true }).selectOption("resolved");
  await page.locator('[data-testid="status"]', { hasText: "resolved" }).waitFor();
  assert.deepEqual(await bubbles(page).allTextContents(), [
    "My invoice shows the wrong address",
    "Sorry about that, fixing it now.",
    "Any news?",
  ]);
});
