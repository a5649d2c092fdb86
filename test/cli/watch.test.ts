import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import type { AddressInfo } from "node:net";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { runWatch, WatchError } from "../../src/cli/watch.js";
import { formatMessage } from "../../src/cli/watchFormat.js";
import { DaemonRig, E2E_USERS } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

const ts = "2026-11-22T12:03:04.000Z";
let wss: WebSocketServer | undefined;
afterEach(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise((r) => (wss ? wss.close(r) : r(undefined)));
  wss = undefined;
});

async function server(opts: { reject?: number } = {}) {
  const protocols: string[][] = [];
  const connections: WebSocket[] = [];
  const received: unknown[] = [];
  wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (p) => (p.has("ctibridge.v1") ? "ctibridge.v1" : false),
    verifyClient: (info, cb) => {
      protocols.push(String(info.req.headers["sec-websocket-protocol"]).split(/,\s*/));
      if (opts.reject) cb(false, opts.reject);
      else cb(true);
    },
  });
  const waiters: ((ws: WebSocket) => void)[] = [];
  let connCount = 0;
  wss.on("connection", (ws) => {
    connections.push(ws);
    // Every session starts as the daemon's does: hello, then the snapshot; pings are answered.
    const id = `c${++connCount}`;
    ws.send(JSON.stringify({ v: 1, seq: 1, type: "hello", ts, userId: "alice", server: { name: "ctibridge", version: "0.1.0" }, protocol: 1, connectionId: id, user: { id: "alice", name: "Alice", role: "agent", devices: [] }, expiresAt: null }));
    ws.send(JSON.stringify({ v: 1, seq: 1, type: "snapshot", ts, userId: "alice", calls: [] }));
    ws.on("message", (d) => {
      if (JSON.parse(d.toString()).type === "ping") ws.send(JSON.stringify({ v: 1, seq: 1, type: "pong", ts, userId: "alice" }));
    });
    ws.on("message", (d) => received.push(JSON.parse(d.toString())));
    waiters.shift()?.(ws);
  });
  await new Promise((r) => wss!.once("listening", r));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  const nextConnection = () => new Promise<WebSocket>((r) => waiters.push(r));
  return { url, protocols, received, nextConnection };
}

/** Polls until the check holds (at most 500 rounds), then asserts it. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe("runWatch", () => {
  it("prints each message, reconnects and resumes from the last seq, ends on abort", async () => {
    const s = await server();
    const lines: string[] = [];
    const notices: string[] = [];
    const ac = new AbortController();
    const first = s.nextConnection();
    const done = runWatch({ url: s.url, token: "tok-1", json: false, out: (l) => lines.push(l), status: (l) => notices.push(l), signal: ac.signal, backoff: { minMs: 1, maxMs: 5 }, utc: true });
    const ws1 = await first;
    ws1.send(JSON.stringify({ v: 1, seq: 4, type: "pbx.resynced", ts, userId: "alice", calls: 2 }));
    ws1.send(JSON.stringify({ v: 1, seq: 5, type: "command.result", ts, userId: "alice", id: "x", ok: true }));
    await until(() => lines.length === 4);
    const second = s.nextConnection();
    ws1.close(1012, "restart");
    await second;
    // Resume from the last seq, then a ping whose pong marks the end of the replay.
    await until(() => s.received.length === 2);
    expect(s.received).toEqual([{ type: "resume", afterSeq: 5 }, { type: "ping" }]);
    expect(s.protocols).toEqual([["ctibridge.v1", "bearer.tok-1"], ["ctibridge.v1", "bearer.tok-1"]]);
    ac.abort();
    await done;
    expect(lines.slice(0, 4)).toEqual([
      "12:03:04 HELLO    alice (Alice, agent)  devices none  server 0.1.0",
      "12:03:04 SNAPSHOT 0 active calls",
      "12:03:04 PBX UP   resynced, 2 active calls",
      "12:03:04 RESULT   x ok",
    ]);
    expect(notices[0]).toBe(`-- connected to ${s.url}`);
    expect(notices.some((n) => n.startsWith("-- closed 1012 restart; reconnecting in"))).toBe(true);
  });

  it("json mode prints the frames verbatim and keeps notices out of the output", async () => {
    const s = await server();
    const lines: string[] = [];
    const ac = new AbortController();
    const conn = s.nextConnection();
    const done = runWatch({ url: s.url, token: "t", json: true, out: (l) => lines.push(l), signal: ac.signal });
    const frame = JSON.stringify({ v: 1, seq: 2, type: "pbx.resynced", ts, userId: "alice", calls: 0 });
    (await conn).send(frame);
    await until(() => lines.length === 3);
    ac.abort();
    await done;
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: "hello" });
    expect(lines.slice(1)).toEqual([JSON.stringify({ v: 1, seq: 1, type: "snapshot", ts, userId: "alice", calls: [] }), frame]);
  });

  it("stops with an error when the token is refused or the session is superseded", async () => {
    const refused = await server({ reject: 401 });
    await expect(runWatch({ url: refused.url, token: "bad", json: false, out: () => undefined })).rejects.toMatchObject({ code: "unauthorized" });
    for (const c of wss!.clients) c.terminate();
    await new Promise((r) => wss!.close(r));
    const s = await server();
    const conn = s.nextConnection();
    const done = runWatch({ url: s.url, token: "t", json: false, out: () => undefined });
    (await conn).close(4009, "superseded");
    const err = await done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchError);
    expect(err).toMatchObject({ code: "superseded" });
  });
});

describe("runWatch against the daemon", () => {
  it("prints the lines of what the user received in a recorded scenario, in order", async () => {
    const rig = new DaemonRig();
    try {
      const d = await rig.start({ users: E2E_USERS });
      const raw = d.connect("alice");
      await raw.ready();
      const lines: string[] = [];
      const notices: string[] = [];
      const ac = new AbortController();
      const done = runWatch({ url: `ws://127.0.0.1:${d.port}/ws`, token: d.token("alice"), json: false, out: (l) => lines.push(l), status: (l) => notices.push(l), signal: ac.signal, utc: true });
      await until(() => notices.length > 0);
      await d.replay(stripTracePreamble(traceBytes("01-inbound-answered")));
      await raw.sync();
      const expected = raw.messages.filter((m) => m.type !== "pong").map((m) => formatMessage(m, { utc: true }));
      await until(() => lines.length >= expected.length);
      ac.abort();
      await done;
      // Its own hello and snapshot differ from the raw client's (connection id, seq): compare the rest.
      expect(lines.slice(2)).toEqual(expected.slice(2));
      expect(lines.slice(2).map((l) => l.slice(9, 17).trim()).filter((t) => t !== "AGENT")).toEqual(["RINGING", "ANSWERED", "ENDED"]);
      expect(notices).toEqual([`-- connected to ws://127.0.0.1:${d.port}/ws`]);
    } finally {
      await rig.close();
    }
  });
});
