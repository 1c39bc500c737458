// The reference peer: a chat server built the way the stacks we compete with are built
// (Chatwoot-style and Socket.IO tutorials): Node.js, Socket.IO with its Redis adapter so
// several nodes share rooms, and one Postgres INSERT per message before it is emitted.
//
// It speaks a thin adapter of Switchboard's protocol so that `loadtest --peer socketio`
// drives it with the same payloads:
//   POST /peer/tenants {slug, account_id, app_secret} -> {token, webhook_path}
//   POST /webhooks/meta/<slug>   signed WhatsApp Cloud API deliveries (X-Hub-Signature-256)
//   Socket.IO, auth {token}: event "frame" carries our frames both ways
//     (subscribe -> reset; message.send -> ack, and the reply goes to the provider)
//   GET /health
//   GET /peer/memory -> {heap_bytes}: V8 heap used plus memory outside it (buffers), after
//     a full collection when started with --expose-gc, as the idle scenario's heap figure
//
// PORT (9200), DATABASE_URL, REDIS_URL (empty: one node, no adapter), GRAPH_BASE_URL.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const pg = require("pg");

const PORT = Number(process.env.PORT || 9200);
const DATABASE_URL = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const GRAPH_BASE_URL = process.env.GRAPH_BASE_URL || "http://127.0.0.1:9900";
const MAX_BODY = 1 << 20;

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
const tenants = new Map();

async function schema() {
  await pool.query(`CREATE TABLE IF NOT EXISTS lt_tenants (
    slug TEXT PRIMARY KEY, account TEXT NOT NULL, secret TEXT NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS lt_messages (
    id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, conversation TEXT NOT NULL,
    direction TEXT NOT NULL, body TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
}

// Tenants live in Postgres so that every node knows them; each node caches them.
async function tenant(slug) {
  if (tenants.has(slug)) return tenants.get(slug);
  const { rows } = await pool.query("SELECT account, secret FROM lt_tenants WHERE slug = $1", [slug]);
  if (rows.length === 0) return null;
  tenants.set(slug, rows[0]);
  return rows[0];
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function createTenant(raw, res) {
  const body = JSON.parse(raw.toString("utf8"));
  await pool.query(
    "INSERT INTO lt_tenants (slug, account, secret) VALUES ($1, $2, $3) ON CONFLICT (slug) DO UPDATE SET account = $2, secret = $3",
    [body.slug, body.account_id, body.app_secret],
  );
  tenants.set(body.slug, { account: body.account_id, secret: body.app_secret });
  reply(res, 201, { token: body.slug, webhook_path: `/webhooks/meta/${body.slug}` });
}

function signed(secret, raw, header) {
  const expected = Buffer.from("sha256=" + crypto.createHmac("sha256", secret).update(raw).digest("hex"));
  const given = Buffer.from(header || "");
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

// Acknowledged only after every message in the delivery is stored, as Switchboard does.
async function receive(slug, req, raw, res) {
  const t = await tenant(slug);
  if (!t) return reply(res, 404, { error: { code: "not_found" } });
  if (!signed(t.secret, raw, req.headers["x-hub-signature-256"])) {
    return reply(res, 401, { error: { code: "invalid_signature" } });
  }
  const delivery = JSON.parse(raw.toString("utf8"));
  for (const entry of delivery.entry || []) {
    for (const change of entry.changes || []) {
      for (const message of change.value?.messages || []) {
        const conversation = `c-${message.from}`;
        const text = message.text?.body ?? "";
        const { rows } = await pool.query(
          "INSERT INTO lt_messages (tenant, conversation, direction, body) VALUES ($1, $2, 'inbound', $3) RETURNING id",
          [slug, conversation, text],
        );
        io.to(slug).emit("frame", {
          type: "message.new", v: 1, offset: Number(rows[0].id), conversation_id: conversation,
          data: { message: { direction: "inbound", type: "text", body: text } },
        });
      }
    }
  }
  reply(res, 200, { ok: true });
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "GET" && req.url === "/health") return reply(res, 200, { status: "ok" });
    if (req.method === "GET" && req.url === "/peer/memory") {
      if (global.gc) global.gc();
      const usage = process.memoryUsage();
      return reply(res, 200, { heap_bytes: usage.heapUsed + usage.external });
    }
    if (req.method !== "POST") return reply(res, 404, { error: { code: "not_found" } });
    const raw = await readBody(req);
    if (req.url === "/peer/tenants") return await createTenant(raw, res);
    if (req.url.startsWith("/webhooks/meta/")) {
      return await receive(req.url.slice("/webhooks/meta/".length), req, raw, res);
    }
    reply(res, 404, { error: { code: "not_found" } });
  } catch (err) {
    reply(res, 500, { error: { code: "internal", message: String(err.message || err) } });
  }
});

const io = new Server(server, { transports: ["websocket"], serveClient: false });

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (!token) return next(new Error("unauthorized"));
  socket.data.tenant = token;
  next();
});

io.on("connection", (socket) => {
  const slug = socket.data.tenant;
  socket.on("frame", async (frame) => {
    try {
      if (frame.type === "subscribe") {
        socket.join(slug);
        socket.emit("frame", { type: "reset", v: 1, offset: 0, reason: "fresh" });
      } else if (frame.type === "message.send") {
        const t = await tenant(slug);
        const to = String(frame.conversation_id).replace(/^c-/, "");
        const { rows } = await pool.query(
          "INSERT INTO lt_messages (tenant, conversation, direction, body) VALUES ($1, $2, 'outbound', $3) RETURNING id",
          [slug, frame.conversation_id, frame.body],
        );
        socket.emit("frame", { type: "ack", v: 1, ref: frame.ref, result: { id: Number(rows[0].id) } });
        await fetch(`${GRAPH_BASE_URL}/v21.0/${t.account}/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer loadtest-token" },
          body: JSON.stringify({ messaging_product: "whatsapp", to, type: "text", text: { body: frame.body } }),
        });
      }
    } catch (err) {
      socket.emit("frame", { type: "error", v: 1, ref: frame?.ref ?? null, code: "internal", message: String(err.message || err) });
    }
  });
});

async function main() {
  await schema();
  if (REDIS_URL) {
    const pub = createClient({ url: REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  server.listen(PORT, "127.0.0.1", () => console.log(`socketio-peer: listening on 127.0.0.1:${PORT}`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
