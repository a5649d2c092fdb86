/**
 * Connection limits (server.limits, issue 7) with real sockets on loopback: silent and
 * half-sent connections are closed after handshakeTimeoutMs, the pending-socket cap makes the
 * oldest idle socket give way so /healthz and logins are still served, and upgrades past the
 * session caps are refused at once. Waits are bounded by the test's own timeout, never timed.
 */
import { connect, type Socket } from "node:net";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { createHttpApi, type HttpApi } from "../../src/http/server.js";
import { createRegistry } from "../../src/http/metrics.js";
import { memoryLogger } from "../../src/log.js";
import { CtiServer } from "../../src/publish/server.js";
import { openDb, type Db } from "../../src/store/db.js";
import { SECRET, TestClient, USERS } from "../helpers/cti.js";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import type { Registry } from "prom-client";
import { waitFor } from "../helpers/daemon.js";

interface Started {
  api: HttpApi;
  cti: CtiServer;
  db: Db;
  port: number;
  registry: Registry;
}

let s: Started | undefined;
const sockets: Socket[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of sockets.splice(0)) c.destroy();
  for (const c of clients.splice(0)) c.ws.terminate();
  await s?.cti.close();
  await s?.api.close();
  s?.db.close();
  s = undefined;
});

async function start(limits: Record<string, number>): Promise<Started> {
  const config = configSchema.parse({ auth: { jwtSecret: SECRET }, server: { port: 0, limits } });
  const { log } = memoryLogger("silent");
  const db = openDb(":memory:");
  const users = new Map(USERS.map((u) => [u.id, u]));
  const registry = createRegistry({ defaultMetrics: false });
  const cti = new CtiServer({ config, log, db, directory: { getUser: (id) => users.get(id), listUsers: () => USERS }, activeCalls: () => [], onCommand: async () => ({ ok: true }), version: "9.9.9", registry });
  const api = createHttpApi({ config, log, cti, registry, version: "9.9.9", webDir: null, health: () => ({}), listCalls: () => [], annotate: () => ({ ok: true }), annotations: () => ({ ok: true, data: [] }) });
  const port = await api.listen();
  return (s = { api, cti, db, port, registry });
}

/** A TCP connection that has connected and, as far as the server knows, is there. */
async function silent(st: Started, payload?: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(st.port, "127.0.0.1");
  sockets.push(socket);
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  socket.on("error", () => undefined);
  socket.resume(); // whatever the server answers is read and dropped, so its close is seen
  await new Promise<void>((r) => socket.once("connect", () => r()));
  if (payload !== undefined) socket.write(payload);
  return { socket, closed };
}

/** How many sockets the server holds (accepted, not yet closed). */
function connections(st: Started): Promise<number> {
  return new Promise((resolve, reject) => st.api.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

function get(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function metric(st: Started, name: string, labels: string): Promise<number | undefined> {
  const m = (await st.registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(",") === labels);
  return m?.value;
}

function login(st: Started, userId: string): Promise<TestClient> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET))
    .then((token) => {
      const c = new TestClient(new WebSocket(`ws://127.0.0.1:${st.port}/ws`, { headers: { Authorization: `Bearer ${token}` } }));
      c.ws.on("error", () => undefined);
      clients.push(c);
      return c;
    });
}

describe("server.limits: sockets", () => {
  it("closes a socket that sends nothing, or half a request, within handshakeTimeoutMs", async () => {
    const st = await start({ handshakeTimeoutMs: 150 });
    const quiet = await silent(st);
    const slow = await silent(st, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    await quiet.closed;
    await slow.closed;
    expect(await metric(st, "ctibridge_connections_refused_total", "reason=handshake_timeout")).toBe(2);
    expect((await get(st.port, "/healthz")).status).toBe(200);
  });

  it("closes a request whose headers came but whose body never completes, within handshakeTimeoutMs", async () => {
    const st = await start({ handshakeTimeoutMs: 150 });
    // A slow body would otherwise hold a socket that cannot be evicted (a request is in progress).
    // With a valid token the server reads the body before it answers anything.
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
    const slowBody = await silent(st, `POST /api/calls/x/annotate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    await slowBody.closed;
    expect(await metric(st, "ctibridge_connections_refused_total", "reason=handshake_timeout")).toBe(1);
    expect((await get(st.port, "/healthz")).status).toBe(200);
  });

  it("at the pending cap the oldest idle socket gives way: /healthz and a login are still served", async () => {
    const st = await start({ maxUnauthenticated: 3, handshakeTimeoutMs: 60_000 });
    const held = [await silent(st), await silent(st), await silent(st)];
    await waitFor(async () => (await connections(st)) === 3, "three sockets accepted");
    const health = await get(st.port, "/healthz");
    expect(health.status).toBe(200);
    await held[0]!.closed;
    // The healthz socket is gone (Connection: close): fill the cap again, then log in.
    held.push(await silent(st));
    await waitFor(async () => (await connections(st)) === 3, "three sockets again");
    const alice = await login(st, "alice");
    const { hello } = await alice.ready();
    expect(hello.type).toBe("hello");
    await held[1]!.closed;
    expect(await metric(st, "ctibridge_connections_refused_total", "reason=evicted")).toBe(2);
    // Never more pending sockets than the cap, the session aside.
    expect(await connections(st)).toBeLessThanOrEqual(3 + 1);
  });

  it("refuses upgrades past maxClientsPerUser (429) and maxClients (503); plain HTTP still answers", async () => {
    const st = await start({ maxClients: 2, maxClientsPerUser: 1 });
    const a1 = await login(st, "alice");
    await a1.ready();
    const a2 = await login(st, "alice");
    expect(await a2.refused).toBe(429);
    const bob = await login(st, "bob");
    await bob.ready();
    const sue = await login(st, "sue");
    expect(await sue.refused).toBe(503);
    expect((await get(st.port, "/healthz")).status).toBe(200);
    expect(await metric(st, "ctibridge_connections_refused_total", "reason=max_clients_per_user")).toBe(1);
    expect(await metric(st, "ctibridge_connections_refused_total", "reason=max_clients")).toBe(1);
  });
});

describe("server.limits: REST", () => {
  function getAs(port: number, path: string, token: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.end();
    });
  }
  const jwt = (sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));

  it("a user past the budget gets 429 rate_limited (a listing costs resyncCost); another user is not affected", async () => {
    const st = await start({ frameBurst: 4, framesPerSecond: 1, resyncCost: 2 });
    const alice = await jwt("alice");
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await getAs(st.port, "/api/calls", alice)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(JSON.parse((await getAs(st.port, "/api/calls", alice)).text)).toEqual({ error: { code: "rate_limited", message: "too many requests: slow down" } });
    expect((await getAs(st.port, "/api/calls", await jwt("bob"))).status).toBe(200);
  });
});
