import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { configSchema } from "../../src/config.js";
import { createHttpApi, type AnnotateBody, type CallFilter, type HttpApi } from "../../src/http/server.js";
import { createRegistry } from "../../src/http/metrics.js";
import { memoryLogger } from "../../src/log.js";
import { createApiToken } from "../../src/publish/auth.js";
import { CtiServer } from "../../src/publish/server.js";
import { openDb, type Db } from "../../src/store/db.js";
import { leg, makeCall } from "../helpers/calls.js";
import { SECRET, USERS } from "../helpers/cti.js";

interface Started {
  api: HttpApi;
  cti: CtiServer;
  db: Db;
  port: number;
  filters: CallFilter[];
  annotations: [string, string, AnnotateBody][];
  token(sub: string): Promise<string>;
}

let s: Started | undefined;
afterEach(async () => {
  await s?.cti.close();
  await s?.api.close();
  s?.db.close();
  s = undefined;
});

function webDir(): string {
  const root = mkdtempSync(join(tmpdir(), "ctb-web-"));
  const web = join(root, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>panel</title>");
  writeFileSync(join(web, "app.js"), "console.log(1)");
  writeFileSync(join(root, "secret.txt"), "do not serve");
  return web;
}

async function start(): Promise<Started> {
  const config = configSchema.parse({ auth: { jwtSecret: SECRET }, server: { port: 0 } });
  const { log } = memoryLogger("silent");
  const db = openDb(":memory:");
  const users = new Map(USERS.map((u) => [u.id, u]));
  const registry = createRegistry({ defaultMetrics: false });
  const cti = new CtiServer({ config, log, db, directory: { getUser: (id) => users.get(id), listUsers: () => USERS }, activeCalls: () => [], onCommand: async () => ({ ok: true }), version: "9.9.9", registry });
  const filters: CallFilter[] = [];
  const annotations: [string, string, AnnotateBody][] = [];
  const api = createHttpApi({
    config, log, cti, registry, version: "9.9.9", webDir: webDir(),
    health: () => ({ pbx: { connected: true } }),
    listCalls: (f) => (filters.push(f), [{ ...makeCall({ callId: "c-1", legs: [leg("alice", "PJSIP/1001"), leg("bob", "PJSIP/1002")] }), popUrl: null }]),
    annotations: (_user, callId) => ({ ok: true, data: [{ by: "alice", at: "2024-06-01T09:00:00.000Z", comment: `on ${callId}` }] }),
    annotate: (user, callId, body) => {
      if (callId === "missing") return { ok: false, error: { code: "not_found", message: "no such call" } };
      annotations.push([user.userId, callId, body]);
      return { ok: true, data: { callId } };
    },
  });
  const port = await api.listen();
  const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  return { api, cti, db, port, filters, annotations, token };
}

function http(port: number, method: string, path: string, opts: { token?: string; body?: string } = {}): Promise<{ status: number; type: string; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), text, json });
      });
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("http server", () => {
  it("serves /healthz and /metrics", async () => {
    s = await start();
    const h = await http(s.port, "GET", "/healthz");
    expect(h.status).toBe(200);
    expect(h.json).toMatchObject({ status: "ok", version: "9.9.9", pbx: { connected: true } });
    expect(typeof h.json.uptimeSeconds).toBe("number");
    const m = await http(s.port, "GET", "/metrics");
    expect(m.type).toContain("text/plain");
    expect(m.text).toContain("ctibridge_ws_clients");
  });

  it("guards /api/calls with the WebSocket tokens; agents see only their own calls", async () => {
    s = await start();
    expect((await http(s.port, "GET", "/api/calls")).status).toBe(401);
    const alice = await s.token("alice");
    const ok = await http(s.port, "GET", "/api/calls?missed=1&limit=5&since=2024-06-01T00:00:00Z", { token: alice });
    expect(ok).toMatchObject({ status: 200, json: { calls: [{ callId: "c-1" }] } });
    // The same view rule as the WebSocket: an agent's own legs only, a supervisor's all.
    expect(ok.json.calls[0].legs.map((l: { userId: string }) => l.userId)).toEqual(["alice"]);
    expect((await http(s.port, "GET", "/api/calls?user=bob", { token: alice })).status).toBe(403);
    expect((await http(s.port, "GET", "/api/calls?limit=0", { token: alice })).json.error.code).toBe("invalid_argument");
    const sue = await s.token("sue");
    await http(s.port, "GET", "/api/calls?user=bob", { token: sue });
    expect((await http(s.port, "GET", "/api/calls", { token: sue })).json.calls[0].legs).toHaveLength(2);
    expect(s.filters).toEqual([
      { userId: "alice", since: "2024-06-01T00:00:00Z", missed: true, open: false, limit: 5, before: null },
      { userId: "bob", since: null, missed: false, open: false, limit: 100, before: null },
      { userId: null, since: null, missed: false, open: false, limit: 100, before: null },
    ]);
  });

  it("annotates calls and answers bad bodies with 400, never a crash", async () => {
    s = await start();
    const { token } = createApiToken(s.db, "alice");
    const post = (path: string, body: string) => http(s!.port, "POST", path, { token, body });
    expect(await post("/api/calls/c-1/annotate", '{"recordId":"C-981","comment":"called back"}')).toMatchObject({ status: 200, json: { ok: true, data: { callId: "c-1" } } });
    expect(s.annotations).toEqual([["alice", "c-1", { recordId: "C-981", comment: "called back" }]]);
    expect(await post("/api/calls/c-1/annotate", "{nope")).toMatchObject({ status: 400, json: { error: { code: "bad_message" } } });
    expect(await post("/api/calls/c-1/annotate", '{"color":"red"}')).toMatchObject({ status: 400, json: { error: { code: "invalid_argument" } } });
    expect(await post("/api/calls/c-1/annotate", "{}")).toMatchObject({ status: 400 });
    expect(await post("/api/calls/c-1/annotate", "x".repeat(70_000))).toMatchObject({ status: 413 });
    expect(await post("/api/calls/missing/annotate", '{"comment":"x"}')).toMatchObject({ status: 404, json: { error: { code: "not_found" } } });
    expect((await http(s.port, "GET", "/api/calls/c-1/annotate", { token })).status).toBe(405);
    expect(await http(s.port, "GET", "/api/calls/c-1/annotations", { token })).toMatchObject({ status: 200, json: { annotations: [{ by: "alice", comment: "on c-1" }] } });
    expect((await http(s.port, "POST", "/api/calls/c-1/annotations", { token })).status).toBe(405);
    expect((await http(s.port, "GET", "/healthz")).status).toBe(200);
  });

  it("serves the panel with content types and refuses to leave web/", async () => {
    s = await start();
    const index = await http(s.port, "GET", "/");
    expect(index).toMatchObject({ status: 200, type: "text/html; charset=utf-8", text: "<!doctype html><title>panel</title>" });
    expect((await http(s.port, "GET", "/app.js")).type).toBe("text/javascript; charset=utf-8");
    for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%00", "/nope.html"]) {
      const r = await http(s.port, "GET", p);
      expect(r.status, p).toBe(404);
      expect(r.text).not.toContain("do not serve");
    }
  });

  it("hands WebSocket upgrades on wsPath to the CTI server", async () => {
    s = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { Authorization: `Bearer ${await s.token("alice")}` } });
    const first = await new Promise<any>((resolve, reject) => {
      ws.once("message", (d) => resolve(JSON.parse(String(d))));
      ws.once("error", reject);
    });
    expect(first).toMatchObject({ type: "hello", server: { version: "9.9.9" } });
    ws.terminate();
  });
});
