// The contacts page and panel: an admin defines a custom field, builds a segment and
// counts it before saving, imports a CSV file (columns guessed, previewed, then
// followed live to the end with its refused rows offered as a file), and an agent
// opts a customer out of marketing from the contact panel.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, customerSays, launch, newContext, ownerToken, screenshot, signIn, startServer, until, violations } from "./harness.mjs";

let browser;
let server;
let token;
before(async () => {
  browser = await launch();
  server = await startServer({ SWITCHBOARD_JOBS__POLL_MS: "50" });
  token = await ownerToken(server);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const FILE = "Full name,Mobile,E-mail,Plan,Notes\n" +
  "Ana Lima,+1 415 555 0132,,Gold,likes tea\n" +
  "Ben Ode,,ben@example.com,Silver,\n" +
  "Nobody,,,,no way to reach\n";

test("an admin defines a field, saves a counted segment and imports a CSV file followed live", async () => {
  await call(server, "POST", "/contacts", { name: "Vera Vip", emails: ["vera@example.com"], tags: ["vip"] }, token);
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.goto(`${server.url}/#/admin/contacts`);

    const fieldForm = page.getByRole("form", { name: "New custom field" });
    await fieldForm.getByLabel("Key").fill("plan");
    await fieldForm.getByLabel("Label").fill("Plan");
    await fieldForm.getByLabel("Kind").selectOption("choice");
    await fieldForm.getByLabel("Options").fill("Gold, Silver");
    await fieldForm.getByRole("button", { name: "Add field" }).click();
    const fields = page.getByRole("table", { name: "Custom fields" });
    await fields.getByRole("cell", { name: "Gold, Silver" }).waitFor();

    const segmentForm = page.getByRole("form", { name: "New segment" });
    await segmentForm.getByLabel("Name").fill("VIPs");
    await segmentForm.getByLabel("Value").fill("vip");
    await segmentForm.getByRole("button", { name: "Count" }).click();
    await segmentForm.getByRole("status").getByText("1 contacts now").waitFor();
    await segmentForm.getByRole("button", { name: "Save segment" }).click();
    const segments = page.getByRole("table", { name: "Segments" });
    await segments.getByRole("row", { name: /VIPs 1/ }).waitFor();

    const importForm = page.getByRole("form", { name: "Import contacts" });
    await importForm.getByLabel("CSV file").setInputFiles({ name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(FILE) });
    // Columns are guessed from their headers; the custom field by its key.
    await until("the mapping", async () => (await importForm.getByLabel("Column Plan").inputValue()) === "field:plan");
    assert.equal(await importForm.getByLabel("Column Full name").inputValue(), "name");
    assert.equal(await importForm.getByLabel("Column Mobile").inputValue(), "phone");
    assert.equal(await importForm.getByLabel("Column E-mail").inputValue(), "email");
    assert.equal(await importForm.getByLabel("Column Notes").inputValue(), "skip");
    await importForm.getByRole("button", { name: "Preview" }).click();
    await importForm.getByText("3 rows: 2 to import, 1 refused.").waitFor();
    await importForm.getByRole("list", { name: "Refused rows" }).getByText("Line 4: needs a phone or an email, to match it to a contact").waitFor();
    assert.deepEqual((await call(server, "GET", "/contacts", undefined, token)).data.length, 1, "a preview changes nothing");

    await importForm.getByRole("button", { name: "Import" }).click();
    await importForm.getByText("Import done: 3 of 3 rows read: 2 created, 0 updated, 1 refused.").waitFor();
    const download = page.waitForEvent("download");
    await importForm.getByRole("button", { name: "Download the refused rows" }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), "refused-rows.csv");
    const found = await call(server, "GET", "/contacts?q=lima", undefined, token);
    assert.deepEqual(
      found.data.map((c) => [c.name, c.phones, c.custom_fields]),
      [["Ana Lima", ["+14155550132"], { plan: "Gold" }]],
    );
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "admin-contacts");
  } finally {
    await context.close();
  }
});

test("an agent opts a customer out of marketing from the contact panel and back in", async () => {
  await customerSays(server, token, "zoe", "Hello there", "Zoe Park");
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    await signIn(page, server, OWNER);
    await page.locator(".conversation", { hasText: "Zoe Park" }).click();
    const panel = page.getByRole("complementary", { name: "Contact details" });
    await panel.getByText("Takes marketing").waitFor();
    await panel.getByRole("button", { name: "Opt out of marketing" }).click();
    await panel.getByText(/Opted out \(agent, /).waitFor();
    const zoe = (await call(server, "GET", "/contacts?q=zoe", undefined, token)).data[0];
    assert.equal(zoe.opted_out, true);
    await panel.getByRole("button", { name: "Opt back in" }).click();
    await panel.getByText(/Takes marketing \(agent, /).waitFor();
  } finally {
    await context.close();
  }
});
