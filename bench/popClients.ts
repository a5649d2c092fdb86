/**
 * The WebSocket side of the screen-pop benchmark, in its own process so that the clients'
 * frame parsing never competes with the daemon for one event loop (on two cores the daemon
 * and the clients each get one). Forked by popLatency.ts; driven over IPC:
 *   {open, url, tokens}  → opens one client per token (ws subprotocols ctibridge.v1 +
 *                          bearer.TOKEN), replies {opened, n} once every one had its snapshot;
 *   {clock}              → replies {clock, t} with process.hrtime.bigint() (clock offset);
 *   {expect, n}          → replies {done} once n `call.ringing` frames arrived since the last
 *                          collect (or never: the parent bounds the wait);
 *   {collect}            → replies {collected, ringing: [[linkedId, ns]], frames, first, last}
 *                          and starts counting afresh;
 *   {close}              → terminates every client (then {closed});
 *   {attack, url, token} → one more client (the attacker, not counted above); {attackReady}
 *                          once it had its snapshot;
 *   {flood, frames, callId}
 *                        → the attacker writes `frames` frames back to back (claim and resume
 *                          afterSeq 0 alternating); no reply;
 *   {attackStats}        → {attackStats, sent, replies: {type or error code: n}, closeCode}.
 * Every frame is JSON-parsed, as a CRM front end would; the receive time is taken in the
 * `message` listener, before parsing.
 */
import { pathToFileURL } from "node:url";
import { WebSocket } from "ws";

const SUBPROTOCOL = "ctibridge.v1";
/** Connections opened at once; the daemon authenticates each against SQLite on upgrade. */
const OPEN_BATCH = 100;
const OPEN_TIMEOUT_MS = 20_000;

type Msg =
  | { type: "open"; url: string; tokens: string[] }
  | { type: "clock" }
  | { type: "expect"; n: number }
  | { type: "collect" }
  | { type: "close" }
  | { type: "attack"; url: string; token: string }
  | { type: "flood"; frames: number; callId: string }
  | { type: "attackStats" };

const clients: WebSocket[] = [];
let ringing: [string, string][] = [];
let frames = 0;
let first = 0n;
let last = 0n;
let expected = -1;
const attackReplies: Record<string, number> = {};
let attackClose: number | null = null;
let attacker: WebSocket | null = null;
let attackSent = 0;

function onFrame(data: Buffer): void {
  const t = process.hrtime.bigint();
  if (first === 0n) first = t;
  last = t;
  frames++;
  const msg = JSON.parse(data.toString("utf8")) as { type?: string; call?: { linkedIds?: string[] } };
  if (msg.type !== "call.ringing") return;
  ringing.push([msg.call?.linkedIds?.[0] ?? "", t.toString()]);
  if (expected >= 0 && ringing.length >= expected) {
    expected = -1;
    process.send?.({ type: "done" });
  }
}

/** Opens one client and resolves once its `snapshot` (the end of the session preamble) arrived. */
function open(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL, `bearer.${token}`], { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error("client not ready within the time budget")), OPEN_TIMEOUT_MS);
    const preamble = (data: Buffer) => {
      if ((JSON.parse(data.toString("utf8")) as { type?: string }).type !== "snapshot") return;
      clearTimeout(timer);
      ws.off("message", preamble);
      ws.on("message", onFrame);
      resolve(ws);
    };
    ws.on("message", preamble);
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function handle(msg: Msg): Promise<void> {
  switch (msg.type) {
    case "open":
      for (let i = 0; i < msg.tokens.length; i += OPEN_BATCH) {
        clients.push(...(await Promise.all(msg.tokens.slice(i, i + OPEN_BATCH).map((t) => open(msg.url, t)))));
      }
      return void process.send?.({ type: "opened", n: clients.length });
    case "clock":
      return void process.send?.({ type: "clock", t: process.hrtime.bigint().toString() });
    case "expect":
      expected = msg.n;
      if (ringing.length >= msg.n) {
        expected = -1;
        process.send?.({ type: "done" });
      }
      return;
    case "collect":
      process.send?.({ type: "collected", ringing, frames, first: first.toString(), last: last.toString() });
      ringing = [];
      frames = 0;
      first = last = 0n;
      return;
    case "attack": {
      const ws = await open(msg.url, msg.token);
      ws.off("message", onFrame);
      ws.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString("utf8")) as { type?: string; code?: string };
        const key = m.type === "error" ? `error:${m.code ?? ""}` : String(m.type);
        attackReplies[key] = (attackReplies[key] ?? 0) + 1;
      });
      ws.once("close", (code) => (attackClose = code));
      clients.push(ws);
      attacker = ws;
      return void process.send?.({ type: "attackReady" });
    }
    case "flood": {
      const ws = attacker;
      if (!ws) throw new Error("no attacker connection");
      const claim = JSON.stringify({ type: "claim", callId: msg.callId });
      const resume = JSON.stringify({ type: "resume", afterSeq: 0 });
      for (; attackSent < msg.frames && ws.readyState === WebSocket.OPEN; attackSent++) ws.send(attackSent % 2 === 0 ? claim : resume);
      return;
    }
    case "attackStats":
      return void process.send?.({ type: "attackStats", sent: attackSent, replies: attackReplies, closeCode: attackClose });
    case "close":
      for (const ws of clients.splice(0)) ws.terminate();
      return void process.send?.({ type: "closed" });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on("message", (m) => {
    handle(m as Msg).catch((err: unknown) => {
      process.send?.({ type: "error", error: err instanceof Error ? err.message : String(err) });
    });
  });
  // The benchmark process going away (normal end or crash) ends the clients too.
  process.on("disconnect", () => process.exit(0));
}
