/**
 * A CtiServer on a real loopback HTTP server (port 0) with a fake directory and command
 * handler, plus a ws client that records every message, for the publish and http tests.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT } from "jose";
import { Registry } from "prom-client";
import { WebSocket, type ClientOptions } from "ws";
import type { Call } from "../../src/calls/model.js";
import { configSchema, type Config } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import type { AuthedUser, DirectoryUser } from "../../src/publish/auth.js";
import { CtiServer, type CommandResult } from "../../src/publish/server.js";
import { openDb, type Db } from "../../src/store/db.js";

export const SECRET = "test-secret-that-is-long-enough-for-hs256";

export const USERS: DirectoryUser[] = [
  { id: "alice", name: "Alice", role: "agent", devices: ["PJSIP/1001"] },
  { id: "bob", name: "Bob", role: "agent", devices: ["PJSIP/1002"], popTiming: "answered" },
  { id: "sue", name: "Sue", role: "supervisor", devices: ["PJSIP/1009"] },
];

export interface HarnessOptions {
  server?: Partial<Config["server"]>;
  pop?: Partial<Config["pop"]>;
  now?: () => number;
  onCommand?: (user: AuthedUser, cmd: { id: string; action: string; args: unknown }) => Promise<CommandResult>;
}

export interface Harness {
  cti: CtiServer;
  http: Server;
  port: number;
  url: string;
  db: Db;
  config: Config;
  calls: Call[];
  /** How many times the server read `activeCalls` (each read is a render of every active call). */
  activeCallsReads(): number;
  registry: Registry;
  logs: Record<string, unknown>[];
  sign(sub: string, opts?: { role?: string; expSeconds?: number; secret?: string }): Promise<string>;
  connect(token: string | null, opts?: ClientOptions & { path?: string; protocols?: string[] }): TestClient;
  close(): Promise<void>;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const config = configSchema.parse({ auth: { jwtSecret: SECRET }, server: { port: 0, ...o.server }, pop: { ...o.pop } });
  const db = openDb(":memory:");
  const { log, lines } = memoryLogger("debug");
  const calls: Call[] = [];
  let reads = 0;
  const registry = new Registry();
  const users = new Map(USERS.map((u) => [u.id, u]));
  const now = o.now ?? Date.now;
  const cti = new CtiServer({
    config,
    log,
    db,
    directory: { getUser: (id) => users.get(id), listUsers: () => [...users.values()] },
    activeCalls: () => (reads++, calls),
    onCommand: o.onCommand ?? (async () => ({ ok: true })),
    now,
    version: "0.0.0-test",
    registry,
  });
  const http = createServer((_req, res) => res.writeHead(404).end());
  cti.attach(http);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const url = `ws://127.0.0.1:${port}${config.server.wsPath}`;
  const clients: TestClient[] = [];
  return {
    cti, http, port, url, db, config, calls, registry, logs: lines,
    activeCallsReads: () => reads,
    async sign(sub, so = {}) {
      const jwt = new SignJWT(so.role ? { role: so.role } : {}).setProtectedHeader({ alg: "HS256" }).setSubject(sub);
      jwt.setExpirationTime(so.expSeconds ?? Math.floor(now() / 1000) + 3600);
      return jwt.sign(new TextEncoder().encode(so.secret ?? SECRET));
    },
    connect(token, co = {}) {
      const headers = { ...(co.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
      const c = new TestClient(new WebSocket(`ws://127.0.0.1:${port}${co.path ?? config.server.wsPath}`, co.protocols ?? [], { ...co, headers }));
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.ws.terminate();
      await cti.close();
      await new Promise<void>((r) => http.close(() => r()));
      db.close();
    },
  };
}

/** Records messages; `next()` reads them in order, waiting (bounded) for the ones not here yet. */
export class TestClient {
  readonly messages: any[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly refused: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.messages.push(JSON.parse(String(data)));
      this.wake?.();
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((r) => ws.once("close", (code, reason) => r({ code, reason: String(reason) })));
    this.refused = new Promise((r) => ws.once("unexpected-response", (_req, res) => r(res.statusCode ?? 0)));
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  async next(timeoutMs = 2000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.messages.length) {
      if (Date.now() > deadline) throw new Error(`no message after ${this.messages.length} (${this.messages.map((m) => m.type).join(",")})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 25);
        this.wake = () => (clearTimeout(t), r());
      });
    }
    return this.messages[this.cursor++];
  }

  /** Read until a message of this type; the skipped ones stay in `messages`. */
  async nextOf(type: string, timeoutMs = 2000): Promise<any> {
    for (let i = 0; i < 10_000; i++) {
      const m = await this.next(timeoutMs);
      if (m.type === type) return m;
    }
    throw new Error(`no ${type}`);
  }

  /** hello + snapshot, the two first messages of every connection. */
  async ready(): Promise<{ hello: any; snapshot: any }> {
    const hello = await this.next();
    const snapshot = await this.next();
    return { hello, snapshot };
  }

  /** A ping round trip: every message the server sent before the pong has arrived. */
  async sync(): Promise<void> {
    this.send({ type: "ping" });
    await this.nextOf("pong");
  }
}
