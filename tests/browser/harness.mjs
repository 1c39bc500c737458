// Test harness: each test gets its own Switchboard (the real binary, port 0, a fresh
// SQLite database in a temporary folder) and Debian's Chromium driven by
// playwright-core. Nothing leaves 127.0.0.1.

import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, "target");
export const BINARY = process.env.SWITCHBOARD_BIN ?? path.join(targetDir, "debug", "switchboard");
/** The same server with WhatsApp Web sessions on a fake WhatsApp the test controls. */
export const FAKE_WHATSAPP_BINARY = path.join(targetDir, "debug", "examples", "fake_whatsapp_server");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SHOTS = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : path.join(here, "screenshots");
export const OWNER = { tenant: "default", email: "owner@switchboard.local", password: "owner-password-123" };

/**
 * Starts a server; resolves once it prints its address. With `binary:
 * FAKE_WHATSAPP_BINARY`, `control` is the fake WhatsApp's control URL.
 */
export async function startServer(extraEnv = {}, { binary = BINARY } = {}) {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run cargo build first`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "sb-browser-"));
  const child = spawn(binary, [], {
    env: {
      PATH: process.env.PATH,
      SWITCHBOARD_SERVER__PORT: "0",
      SWITCHBOARD_SERVER__DATA_DIR: dataDir,
      SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD: OWNER.password,
      SWITCHBOARD_SANDBOX__STATUS_DELAY_MS: "150",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  let control = null;
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 30_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const found = out.match(/Switchboard inbox: (http:\/\/\S+?)\/\s/);
      control = out.match(/Fake WhatsApp: (http:\/\/\S+)\s/)?.[1] ?? null;
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  return {
    url,
    control,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
    logs: () => stderr,
  };
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * A browser context that records what a user would notice: page errors and CSP
 * violations (the page must pass its own policy).
 */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.problems = [];
  context.on("weberror", (error) => context.problems.push(`page error: ${error.error().message}`));
  context.on("console", (message) => {
    // Chromium logs every request that fails while a test has cut the network; the
    // page coping with that is what those tests assert, so it is not a problem.
    if (message.type() === "error" && !message.text().includes("net::ERR_INTERNET_DISCONNECTED")) {
      context.problems.push(`console: ${message.text()}`);
    }
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return context;
}

/** REST helper for setting the scene (users, customers) the way an integrator would. */
export async function call(server, method, route, body, token) {
  const response = await fetch(`${server.url}/api/v1${route}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return json;
}

export async function ownerToken(server) {
  const session = await call(server, "POST", "/auth/login", OWNER);
  return session.access_token;
}

/** Invites a user and accepts for them; returns their credentials. */
export async function addUser(server, token, name, role) {
  const email = `${name.toLowerCase()}@example.test`;
  const password = `${name.toLowerCase()}-password-123`;
  const invited = await call(server, "POST", "/users", { email, name, role }, token);
  await call(server, "POST", "/auth/accept-invite", { token: invited.invitation.token, password });
  return { tenant: OWNER.tenant, email, password, name };
}

/** A customer writes on the sandbox channel `demo`. */
export function customerSays(server, token, from, text, name) {
  return call(server, "POST", "/sandbox/demo/inbound", { from, text, name }, token);
}

export async function signIn(page, server, user) {
  await page.goto(server.url + "/");
  await page.getByLabel("Workspace").fill(user.tenant);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('.conn[data-state="live"]').waitFor();
}

/**
 * Waits on observable state outside the page (an API answer): polls `check` until it
 * returns a truthy value, and returns that; fails naming `what` after 30 s. Inside the
 * page, Playwright's own waits do this.
 */
export async function until(what, check) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** A test name as a file name. */
export function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 80);
}

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/**
 * WCAG 2.1 A and AA violations on the page, by axe-core. Injecting axe needs a
 * context made with `bypassCSP: true`.
 */
export async function violations(page) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  return result.violations.map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/**
 * A local stand-in for an OpenAI-compatible provider: a chat completion for every
 * request, reporting 120 prompt and 18 completion tokens. The pipeline's
 * understanding schema gets `{intent: "demo"}`; a reply (`customer_reply`) gets
 * `reply`, the answer it was given. Its embeddings endpoint gives texts about
 * shipping one direction and texts about refunds another.
 */
export async function fakeProvider({ reply = null } = {}) {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/embeddings") {
        // One dimension per meaning the tests use, and one of its own for every text.
        const input = [].concat(JSON.parse(body).input);
        const meaning = (text) => [/ship|deliver|parcel|order/i.test(text) ? 1 : 0, /refund|money|return/i.test(text) ? 1 : 0, 0.1];
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({
          object: "list", model: JSON.parse(body).model,
          data: input.map((text, index) => ({ object: "embedding", index, embedding: meaning(text) })),
          usage: { prompt_tokens: 8 * input.length, total_tokens: 8 * input.length },
        }));
        return;
      }
      const ok = req.method === "POST" && req.url === "/v1/chat/completions";
      let schema = "";
      try {
        schema = JSON.parse(body).response_format?.json_schema?.name ?? "";
      } catch {
        // Not JSON: answered like any other request.
      }
      const content = schema === "customer_reply" && reply ? reply : { intent: "demo", confidence: 0.9, urgency: "low" };
      res.writeHead(ok ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(ok
        ? {
          id: "chatcmpl-test", object: "chat.completion", created: 1764000000, model: "small-model",
          choices: [{ index: 0, message: { role: "assistant", content: JSON.stringify(content), refusal: null }, logprobs: null, finish_reason: "stop" }],
          usage: { prompt_tokens: 120, completion_tokens: 18, total_tokens: 138 },
        }
        : { error: { message: "Unknown request URL" } }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((resolve) => server.close(resolve)) };
}
