/**
 * Connection lifecycle against a scripted server on loopback (a `ws` server that speaks the
 * session start as the daemon does and closes with the codes a test picks): what the client
 * does after each close code, its backoff, the heartbeat, and its bounds.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { backoffDelay } from "../src/index.js";
import { recordingClient, type RecordingClient } from "./rig.js";

const ts = "2026-11-30T04:00:00.000Z";
let wss: WebSocketServer | undefined;
const clients: RecordingClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.client.close();
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise((r) => (wss ? wss.close(r) : r(undefined)));
  wss = undefined;
});

interface Scripted {
  url: string;
  /** Bearer tokens offered, one per connection. */
  tokens: string[];
  /** Client frames per connection. */
  received: any[][];
  sockets: WebSocket[];
  /** Seq of hello/snapshot for the next connection. */
  seq: number;
  answerPings: boolean;
  /** Called with each client frame before the automatic pong (n: the connection, from 0). */
  onFrame?: (f: any, ws: WebSocket, n: number) => void;
}

async function scripted(o: { expiresAt?: () => string | null; agents?: string[] } = {}): Promise<Scripted> {
  const s: Scripted = { url: "", tokens: [], received: [], sockets: [], seq: 10, answerPings: true };
  wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (p) => (p.has("ctibridge.v1") ? "ctibridge.v1" : false),
  });
  wss.on("connection", (ws, req) => {
    const offered = String(req.headers["sec-websocket-protocol"]).split(/,\s*/);
    s.tokens.push(offered.find((p) => p.startsWith("bearer."))!.slice(7));
    const frames: any[] = [];
    s.received.push(frames);
    s.sockets.push(ws);
    const env = (type: string, rest: object) => JSON.stringify({ v: 1, seq: s.seq, type, ts, userId: "alice", ...rest });
    ws.send(env("hello", { server: { name: "ctibridge", version: "0" }, protocol: 1, connectionId: `c${s.sockets.length}`, user: { id: "alice", name: "Alice", role: "agent", devices: [] }, expiresAt: o.expiresAt?.() ?? null }));
    ws.send(env("snapshot", { calls: [] }));
    // A supervisor's agent states after the snapshot: replies, all repeating the snapshot's seq.
    for (const agent of o.agents ?? []) ws.send(env("agent.state", { agent, state: { deviceState: `s${s.sockets.length}`, queues: [] } }));
    const n = s.sockets.length - 1;
    ws.on("message", (d) => {
      const f = JSON.parse(d.toString());
      frames.push(f);
      s.onFrame?.(f, ws, n);
      if (f.type === "ping" && s.answerPings && ws.readyState === ws.OPEN) ws.send(env("pong", {}));
    });
  });
  await new Promise((r) => wss!.once("listening", r));
  s.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  return s;
}

function client(s: Scripted, o: Parameters<typeof recordingClient>[0] extends infer T ? Partial<T> : never = {}): RecordingClient {
  const c = recordingClient({ url: s.url, token: "tok", random: () => 1, reconnect: { minMs: 10, maxMs: 400 }, pingIntervalMs: 0, ...o });
  clients.push(c);
  return c;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

const opens = (c: RecordingClient) => c.of("connection").filter((e) => e.status === "open").length;

describe("backoff", () => {
  it("full jitter below min × 2^attempt, capped at max", () => {
    const o = { minMs: 500, maxMs: 30_000 };
    expect([0, 1, 2, 3, 6, 7, 40].map((a) => backoffDelay(a, o, () => 1))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
    expect([0, 3, 40].map((a) => backoffDelay(a, o, () => 0.5))).toEqual([250, 2000, 15_000]);
    expect(backoffDelay(5, o, () => 0)).toBe(0);
  });
});

describe("close codes", () => {
  it("an ordinary drop: reconnect after the backoff, then resume from the last seq (and a ping to mark its end)", async () => {
    const s = await scripted();
    const c = client(s);
    await until(() => opens(c) === 1, "open");
    s.sockets[0]!.send(JSON.stringify({ v: 1, seq: 12, type: "pbx.disconnected", ts, userId: "alice", reason: "x" }));
    await until(() => c.client.lastSeq === 12, "seq 12");
    expect(c.client.pbxConnected).toBe(false);
    s.seq = 20;
    s.sockets[0]!.close(1012, "restart");
    await until(() => opens(c) === 2, "second open");
    await until(() => s.received[1]!.length === 2, "resume and ping");
    expect(s.received[1]).toEqual([{ type: "resume", afterSeq: 12 }, { type: "ping" }]);
    expect(c.of("connection").find((e) => e.status === "reconnecting")).toEqual({ status: "reconnecting", code: 1012, reason: "restart", attempt: 1, delayMs: 10 });
    await until(() => c.client.lastSeq === 20, "lastSeq after the resume");
  });

  it("4029 rate limited: backs off further up the curve; 4008 too slow: comes back at once", async () => {
    const s = await scripted();
    const c = client(s);
    await until(() => opens(c) === 1, "open");
    s.sockets[0]!.close(4029, "rate limited");
    await until(() => opens(c) === 2, "open after 4029");
    s.sockets[1]!.close(4008, "too slow");
    await until(() => opens(c) === 3, "open after 4008");
    const waits = c.of("connection").filter((e) => e.status === "reconnecting").map((e) => [e.code, e.delayMs]);
    expect(waits).toEqual([
      [4029, 160],
      [4008, 0],
    ]);
  });

  it.each([
    [4001, "unauthorized"],
    [4009, "superseded"],
    [4003, "token_expired"],
  ])("%i with a fixed token: stops with %s, no reconnect", async (code, err) => {
    const s = await scripted();
    const c = client(s);
    await until(() => opens(c) === 1, "open");
    s.sockets[0]!.close(code, "bye");
    await until(() => c.client.status === "closed", "closed");
    expect(c.of("error").map((e) => e.code)).toEqual([err]);
    expect(c.of("connection").at(-1)).toEqual({ status: "closed", code, reason: "bye" });
    await new Promise((r) => setTimeout(r, 50));
    expect(s.sockets).toHaveLength(1);
  });

  it("4003 with getToken: reconnects at once with a fresh token", async () => {
    const s = await scripted();
    let n = 0;
    const c = client(s, { token: undefined, getToken: () => `jwt-${++n}` });
    await until(() => opens(c) === 1, "open");
    s.sockets[0]!.close(4003, "token expired");
    await until(() => opens(c) === 2, "open again");
    expect(s.tokens).toEqual(["jwt-1", "jwt-2"]);
    expect(c.of("error")).toEqual([]);
  });

  it("refreshes before expiresAt: a new connection with a fresh token, the old one closed by the client", async () => {
    const s = await scripted({ expiresAt: () => new Date(Date.now() + 200).toISOString() });
    let n = 0;
    const c = client(s, { token: undefined, getToken: async () => `jwt-${++n}`, refreshMarginMs: 150 });
    await until(() => s.tokens.length >= 2, "a refresh");
    expect(s.tokens.slice(0, 2)).toEqual(["jwt-1", "jwt-2"]);
    expect(c.of("connection").find((e) => e.status === "reconnecting")).toMatchObject({ code: 1000, reason: "token refresh" });
  });

  it("getToken failing: an error event and another attempt after the backoff", async () => {
    const s = await scripted();
    let n = 0;
    const c = client(s, {
      token: undefined,
      getToken: () => {
        if (++n === 1) throw new Error("token service down");
        return "jwt";
      },
    });
    await until(() => opens(c) === 1, "open");
    expect(c.of("error").map((e) => [e.code, e.message])).toEqual([["token_failed", "getToken failed: Error: token service down"]]);
  });
});

describe("a replay that breaks off", () => {
  const ringing = (seq: number) =>
    JSON.stringify({ v: 1, seq, type: "call.ringing", ts, userId: "alice", pop: true, call: { callId: `k${seq}`, state: "ringing", direction: "inbound", from: { raw: "1", e164: null }, to: { raw: "2", e164: null }, legs: [] } });

  it("is asked for again from the same seq (not from the newer hello's), and what it delivered is not emitted twice", async () => {
    const s = await scripted();
    const c = client(s);
    await until(() => opens(c) === 1, "open");
    s.sockets[0]!.send(ringing(12));
    await until(() => c.client.lastSeq === 12, "seq 12");
    s.seq = 30;
    s.onFrame = (f, ws, n) => {
      if (f.type !== "resume") return;
      ws.send(ringing(15));
      // The second session drops in the middle of its replay; the third one gets all of it.
      if (n === 1) ws.terminate();
      else ws.send(ringing(20));
    };
    s.sockets[0]!.close(1012, "restart");
    await until(() => opens(c) === 3 && c.client.lastSeq === 30, "third session resumed");
    expect(s.received.map((frames) => frames.find((f) => f.type === "resume"))).toEqual([undefined, { type: "resume", afterSeq: 12 }, { type: "resume", afterSeq: 12 }]);
    expect(c.of("call").map((e) => [e.message.seq, e.replayed])).toEqual([
      [12, false],
      [15, true],
      [20, true],
    ]);
  });
});

describe("a supervisor's agent states", () => {
  it("every reply after a reconnect's snapshot is applied, though they share one seq", async () => {
    const s = await scripted({ agents: ["alice", "bob", "carol"] });
    const c = client(s);
    await until(() => opens(c) === 1 && c.of("agent").length === 3, "first agent states");
    s.sockets[0]!.close(1012, "restart");
    await until(() => opens(c) === 2, "open again");
    await c.client.ping();
    expect(c.of("agent").map((a) => `${a.agent}:${a.state.deviceState}`)).toEqual(["alice:s1", "bob:s1", "carol:s1", "alice:s2", "bob:s2", "carol:s2"]);
    expect([...c.client.agents].map(([id, st]) => `${id}:${st.deviceState}`)).toEqual(["alice:s2", "bob:s2", "carol:s2"]);
  });
});

describe("heartbeat and bounds", () => {
  it("drops a connection that stopped answering and reconnects", async () => {
    const s = await scripted();
    const c = client(s, { pingIntervalMs: 30 });
    await until(() => opens(c) === 1, "open");
    s.answerPings = false;
    await until(() => opens(c) === 2, "reconnected after silence");
    expect(c.of("connection").find((e) => e.status === "reconnecting")).toMatchObject({ code: 1006, reason: "no answer" });
  });

  it("refuses a command past maxPendingCommands at once; the waiting ones reject on close", async () => {
    const s = await scripted();
    const c = client(s, { maxPendingCommands: 2 });
    await until(() => opens(c) === 1, "open");
    const a = c.client.hangup("a").catch((e: unknown) => e);
    const b = c.client.hangup("b").catch((e: unknown) => e);
    await expect(c.client.hangup("c")).rejects.toMatchObject({ code: "too_many_pending" });
    await until(() => s.received[0]!.length === 2, "two commands at the server");
    expect(s.received[0]!.map((f) => [f.type, f.action, f.args])).toEqual([
      ["command", "hangup", { callId: "a" }],
      ["command", "hangup", { callId: "b" }],
    ]);
    c.client.close();
    expect([await a, await b].map((e: any) => e.code)).toEqual(["disconnected", "disconnected"]);
    expect(c.client.status).toBe("closed");
  });

  it("a listener that throws does not stop the others", async () => {
    const s = await scripted();
    const c = client(s);
    c.client.on("snapshot", () => {
      throw new Error("bad subscriber");
    });
    const seen: number[] = [];
    c.client.on("snapshot", (x) => void seen.push(x.calls.length));
    await until(() => opens(c) === 1, "open");
    expect(seen).toEqual([0]);
  });
});

describe("closing while the handshake is under way", () => {
  it("close() on a socket still connecting (a server that accepts TCP and never answers) raises nothing uncaught in Node", async () => {
    const { createServer } = await import("node:net");
    const held: import("node:net").Socket[] = [];
    const server = createServer((sock) => void held.push(sock));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const c = recordingClient({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, token: "ctb_x" });
      for (let i = 0; i < 200 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(held.length).toBe(1);
      c.client.close();
      // `ws` reports the aborted handshake on a later tick.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 20));
      expect(uncaught).toEqual([]);
      expect(c.client.status).toBe("closed");
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
