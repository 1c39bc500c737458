// AI replies in the web inbox: an admin switches them on the AI replies page; in
// suggest mode the agent finds the model's draft over the composer, uses it and sends
// it; in auto mode the model's reply shows in the thread marked as AI.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OWNER, call, customerSays, fakeProvider, launch, newContext, ownerToken, screenshot, signIn, startServer, violations } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const ANSWER = "Delivery to Lisboa takes 2 working days.";

test("an agent uses the AI's draft from the composer, and an automatic reply shows as written by the AI", async () => {
  const provider = await fakeProvider({ reply: { reply: ANSWER, confidence: 0.9, action: "none", reason: "the FAQ", cited: [], tag: null } });
  const server = await startServer({ SWITCHBOARD_AI__ALLOW_LOCAL_MODELS: "true" });
  const context = await newContext(browser, { bypassCSP: true });
  try {
    const token = await ownerToken(server);
    await call(server, "PUT", "/settings/ai", {
      providers: [{ name: "local", kind: "openai", base_url: provider.url, model: "small-model", api_key: "" }],
      understanding: { enabled: false, below_confidence: 0.6 },
    }, token);
    const page = await context.newPage();
    await signIn(page, server, OWNER);

    // The admin page: suggest for every channel, a fallback, a rule of their own.
    await page.goto(`${server.url}/#/admin/replies`);
    const form = page.getByRole("form", { name: "AI reply settings" });
    await form.waitFor();
    await form.getByLabel("Every channel").selectOption("suggest");
    await form.getByLabel("Fallback").fill("A teammate will answer shortly.");
    await form.getByLabel("Rules of your own, one per line").fill("Sign as Acme.\n\nNever discuss competitors.");
    await form.getByLabel("Hosts replies may link to").fill("acme.test, shop.acme.test");
    await form.getByLabel("Auto mode sends").selectOption("closed");
    await form.getByLabel("Sat").check();
    assert.deepEqual(await violations(page), []);
    await form.getByRole("button", { name: "Save" }).click();
    await page.locator("#announcer", { hasText: "Reply settings saved" }).waitFor();
    const saved = await call(server, "GET", "/settings/replies", undefined, token);
    assert.equal(saved.mode, "suggest");
    assert.deepEqual(saved.rules, ["Sign as Acme.", "Never discuss competitors."]);
    assert.deepEqual(saved.link_hosts, ["acme.test", "shop.acme.test"]);
    assert.equal(saved.fallback, "A teammate will answer shortly.");
    assert.equal(saved.auto_when, "closed");
    assert.deepEqual(saved.hours, { utc_offset_minutes: 0, days: ["mon", "tue", "wed", "thu", "fri", "sat"], open: "09:00", close: "18:00" });

    // Suggest: the draft appears over the composer of the open conversation.
    await page.goto(`${server.url}/#/inbox`);
    await customerSays(server, token, "ana", "How long does delivery to Lisboa take?", "Ana Buyer");
    await page.locator(".conversation", { hasText: "Ana Buyer" }).click();
    const draft = page.getByRole("region", { name: "AI draft" });
    await draft.waitFor();
    assert.equal(await draft.locator(".draft-text").textContent(), ANSWER);
    assert.equal(await draft.locator(".draft-about").textContent(), "AI draft, 90% sure");
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "ai-draft");
    await draft.getByRole("button", { name: "Use draft" }).click();
    const composer = page.getByLabel("Reply to the customer");
    assert.equal(await composer.inputValue(), ANSWER);
    await draft.waitFor({ state: "detached" });
    await composer.press("End");
    await composer.pressSequentially(" Anything else?");
    await page.getByRole("button", { name: "Send" }).click();
    const sent = page.locator(".msg-outbound", { hasText: `${ANSWER} Anything else?` });
    await sent.waitFor();
    assert.equal(await sent.locator(".badge.ai").count(), 0, "an agent's reply is not the AI's");

    // Auto: the model's reply goes out by itself and is marked as the AI's.
    await call(server, "PUT", "/settings/replies", { mode: "auto" }, token);
    await customerSays(server, token, "ben", "How long does delivery to Lisboa take?", "Ben Buyer");
    await page.locator(".conversation", { hasText: "Ben Buyer" }).click();
    const ai = page.locator(".msg-outbound", { hasText: ANSWER });
    await ai.waitFor();
    assert.equal(await ai.locator(".author").textContent(), "AI assistant");
    const badge = ai.locator(".badge.ai");
    assert.equal(await badge.textContent(), "AI");
    // Ana asked the same: the answer came from the cache, without a model call.
    assert.equal(await badge.getAttribute("title"), "Written by local/small-model, from the answer cache");
    assert.deepEqual(await violations(page), []);
    await screenshot(page, "ai-reply");
    assert.deepEqual(context.problems, []);
  } finally {
    await context.close();
    await server.stop();
    await provider.close();
  }
});
