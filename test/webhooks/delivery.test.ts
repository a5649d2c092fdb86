/**
 * Webhook delivery through the whole daemon: a fake PBX replays recorded traces, the daemon
 * POSTs to a real HTTP receiver on 127.0.0.1 that refuses connections, times out, answers 500
 * and recovers. Asserted on what the receiver got (order, bodies, signatures, ids) and on the
 * outbox rows; driven by events and bounded polls, never by wall-clock time.
 */
import Database from "better-sqlite3";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, E2E_USERS, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";
import { WebhookReceiver } from "../helpers/webhookReceiver.js";
import { runCli } from "../helpers/cliRun.js";
import { verifySignature } from "../../src/webhooks/signature.js";
import { openDb } from "../../src/store/db.js";
import { Outbox } from "../../src/store/outbox.js";

const SECRET = "whsec-test-0123456789abcdef";
const rig = new DaemonRig();
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await rig.close();
  for (const r of receivers.splice(0)) await r.close();
});

function receiver(): WebhookReceiver {
  const r = new WebhookReceiver();
  receivers.push(r);
  return r;
}

const ALL = ["call.dialing", "call.ringing", "call.answered", "call.held", "call.resumed", "call.transferred", "call.ended", "call.missed", "call.annotated"];
/** Small intervals so that a test's retries take milliseconds (the schedule, not the clock, is asserted). */
const fast = { minDelayMs: 20, maxDelayMs: 80, timeoutMs: 1000 };

interface Row {
  id: number;
  event_id: string;
  target: string;
  kind: string;
  call_id: string;
  state: string;
  attempts: number;
  last_error: string | null;
  last_status: number | null;
}
function rows(d: RunningDaemon): Row[] {
  const db = new Database(d.dbPath, { readonly: true });
  try {
    return db.prepare("SELECT id, event_id, target, kind, call_id, state, attempts, last_error, last_status FROM outbox ORDER BY id").all() as Row[];
  } finally {
    db.close();
  }
}

async function rest(d: RunningDaemon, who: string, path: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${d.port}${path}`, { headers: { Authorization: `Bearer ${d.token(who)}` } });
  return res.json();
}

describe("webhook delivery across a target outage", () => {
  it("refused, timed out, 500, then recovered: every event delivered once as 2xx, in order, signed, the same call object as REST", async () => {
    const rx = receiver();
    // Reserve a port, then close it: the target refuses connections until it listens again.
    const port = await rx.listen(0);
    await rx.close();
    const d = await rig.start({ users: E2E_USERS, webhooks: [{ name: "crm", url: `http://127.0.0.1:${port}/hook`, events: ALL, secret: SECRET, ...fast }] });
    const sam = d.connect("sam");
    await sam.ready();
    await d.replay(traceBytes("01-inbound-answered"));
    const wsEnded = await sam.nextOf("call.ended");
    // The first event (and only it: a call's events go in order) fails with connection refused, twice.
    const refused = await waitFor(() => {
      const r = rows(d);
      return r.length > 0 && r[0]!.attempts >= 2 ? r : null;
    }, "two refused attempts");
    expect(refused[0]).toMatchObject({ state: "failed", last_error: "ECONNREFUSED", last_status: null });
    expect(refused.slice(1).every((r) => r.attempts === 0 && r.state === "pending")).toBe(true);
    // The target comes back: it holds the first request past the timeout, answers 500 to the next, then 200.
    rx.answer = (n) => (n === 0 ? "hang" : n === 1 ? 500 : 200);
    await rx.listen(port);
    const done = await waitFor(() => {
      const r = rows(d);
      return r.length > 0 && r.every((x) => x.state === "delivered") ? r : null;
    }, "every event delivered");

    const types = done.map((r) => r.kind);
    expect(types).toEqual(["call.ringing", "call.answered", "call.ended"]);
    // What the receiver got, in order: the first event three times (hang, 500, 200), then the others once.
    const first = done[0]!.event_id;
    expect(rx.received.map((r) => [r.json.id, r.json.type, r.answer])).toEqual([
      [first, "call.ringing", "hang"],
      [first, "call.ringing", 500],
      [first, "call.ringing", 200],
      [done[1]!.event_id, "call.answered", 200],
      [done[2]!.event_id, "call.ended", 200],
    ]);
    // Attempts: the refused ones, then hang, 500, 200 for the first event; one each for the others.
    const a = done[0]!.attempts;
    expect(a).toBeGreaterThanOrEqual(5);
    expect(done.map((r) => r.attempts)).toEqual([a, 1, 1]);
    for (const r of rx.received) {
      // The signature over the exact body, fresh per attempt; the id header equals the body's id.
      expect(verifySignature(SECRET, r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
      expect(verifySignature("another-secret-0123456789", r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000))).toEqual({ ok: false, reason: "bad_signature" });
      expect(r.headers["x-ctibridge-event-id"]).toBe(r.json.id);
      expect(r.headers["x-ctibridge-event"]).toBe(r.json.type);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.json.webhook).toBe("crm");
    }
    // Every attempt of one event sends the same bytes.
    expect(new Set(rx.received.slice(0, 3).map((r) => r.body)).size).toBe(1);
    expect(rx.received.slice(0, 3).map((r) => r.headers["x-ctibridge-attempt"])).toEqual([String(a - 2), String(a - 1), String(a)]);
    const metrics = await d.daemon.registry.metrics();
    expect(metrics).toContain('ctibridge_webhook_delivered_total{webhook="crm"} 3');
    expect(metrics).toContain(`ctibridge_webhook_failed_attempts_total{webhook="crm"} ${a - 1}`);
    expect(metrics).toContain('ctibridge_webhook_delivery_seconds_count{webhook="crm"} 3');
    expect(metrics).toContain("ctibridge_webhook_pending 0");
    // The ended call in the payload is the call object a supervisor gets over the WebSocket, and
    // from REST (whose stored legs add `done`, the missed-call follow-up flag).
    const ended = rx.delivered().find((r) => r.json.type === "call.ended")!.json;
    expect(ended.call).toEqual(wsEnded.call);
    const { calls } = await rest(d, "sam", "/api/calls");
    expect(calls).toHaveLength(1);
    expect(ended.call).toEqual({ ...calls[0], legs: calls[0].legs.map(({ done: _done, ...l }: any) => l) });
    expect(Object.keys(ended)).toEqual(["id", "type", "ts", "webhook", "call"]);
    expect(rx.delivered().map((r) => (r.json.call as any).state)).toEqual(["ringing", "connected", "ended"]);
  });
});

/** The CLI in-process against the daemon's database. */
async function cli(d: RunningDaemon, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cfg = join(mkdtempSync(join(tmpdir(), "ctib-wh-")), "c.yaml");
  writeFileSync(cfg, `store: { path: ${JSON.stringify(d.dbPath)} }\n`);
  return runCli([...args, "--config", cfg]);
}

describe("dead letters", () => {
  it("an event is dead after maxAttempts; the next event of the call goes on; `webhooks retry --dead` delivers them in order", async () => {
    const rx = receiver();
    rx.answer = () => 500;
    await rx.listen(0);
    const d = await rig.start({ users: E2E_USERS, webhooks: [{ name: "crm", url: rx.url, events: ["call.answered", "call.ended"], secret: SECRET, ...fast, maxAttempts: 3 }] });
    await d.replay(traceBytes("01-inbound-answered"));
    const dead = await waitFor(() => {
      const r = rows(d);
      return r.length === 2 && r.every((x) => x.state === "dead") ? r : null;
    }, "both events dead");
    expect(dead.map((r) => [r.kind, r.attempts, r.last_status, r.last_error])).toEqual([
      ["call.answered", 3, 500, "HTTP 500: receiver says no"],
      ["call.ended", 3, 500, "HTTP 500: receiver says no"],
    ]);
    // Three attempts of the first event, then (it is dead: no longer holding the call back) three of the second.
    expect(rx.received.map((r) => r.json.type)).toEqual(["call.answered", "call.answered", "call.answered", "call.ended", "call.ended", "call.ended"]);
    const listed = await cli(d, ["webhooks", "list", "--state", "dead"]);
    expect(listed.code).toBe(0);
    expect(listed.out.trim().split("\n")).toHaveLength(2);
    expect(listed.out).toContain("HTTP 500: receiver says no");
    expect(listed.err).toBe("pending 0, failed 0, delivered 0, dead 2\n");

    rx.answer = () => 200;
    expect(await cli(d, ["webhooks", "retry", "--dead"])).toMatchObject({ code: 0, out: "2 events will be sent again\n" });
    d.daemon.webhooks.kick(); // a running daemon polls every 5 s; no need to wait for it here
    await waitFor(() => rows(d).every((x) => x.state === "delivered"), "revived events delivered");
    expect(rx.delivered().map((r) => r.json.id)).toEqual(dead.map((r) => r.event_id));
    expect(rows(d).map((r) => r.attempts)).toEqual([1, 1]);
    expect(await cli(d, ["webhooks", "purge", "--older-than", "1d"])).toMatchObject({ code: 0, out: "purged 0 delivered events\n" });
    expect(await cli(d, ["webhooks", "purge"])).toMatchObject({ code: 0, out: "purged 2 delivered events\n" });
    expect(rows(d)).toEqual([]);
    expect(await cli(d, ["webhooks", "purge", "--older-than", "soon"])).toMatchObject({ code: 1 });
    expect(await cli(d, ["webhooks", "retry"])).toMatchObject({ code: 1 });
    expect(await cli(d, ["webhooks", "purge", "--open"])).toMatchObject({ code: 1 });
  });

  it("events of a webhook no longer configured are kept, named once at start, and purged with --open --webhook", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-wh-")), "t.db");
    const db = openDb(dbPath);
    new Outbox(db).add([1, 2, 3].map((i) => ({ eventId: `e${i}`, target: "old-crm", type: "call.ended", callId: `c${i}`, payload: "{}", at: new Date().toISOString() })));
    db.close();
    const d = await rig.start({ users: E2E_USERS, dbPath });
    expect(d.logs.filter((l) => l.msg.startsWith("outbox holds events for a webhook that is not configured")).map((l) => [l.webhook, l.events])).toEqual([["old-crm", 3]]);
    expect(await d.daemon.registry.metrics()).toContain("ctibridge_webhook_pending 3");
    expect(await cli(d, ["webhooks", "purge", "--open", "--webhook", "old-crm"])).toMatchObject({ code: 0, out: "purged 3 pending, failed events of old-crm\n" });
    expect(rows(d)).toEqual([]);
  });
});

describe("what each target gets", () => {
  it("per-call order on one target while calls interleave; a users filter; missed calls per user with the callback number; annotations", async () => {
    const all = receiver();
    const bobs = receiver();
    await all.listen(0);
    await bobs.listen(0);
    const d = await rig.start({
      users: E2E_USERS,
      webhooks: [
        { name: "all", url: all.url, events: ALL, secret: SECRET, ...fast, concurrency: 4 },
        { name: "bob", url: bobs.url, events: ["call.ended", "call.missed"], users: ["bob"], secret: SECRET, ...fast },
      ],
    });
    await d.replay(traceBytes("24-burst-30-concurrent"));
    await d.replay(traceBytes("03-inbound-missed-caller-abandon"));
    const settled = () => {
      const r = rows(d);
      return r.length > 0 && r.every((x) => x.state === "delivered") ? r : null;
    };
    let done = await waitFor(settled, "burst delivered", 2000);
    // Per call, the target got the events in the order they happened (outbox order).
    const byCall = (rs: { call: string; id: string }[]) => {
      const m = new Map<string, string[]>();
      for (const r of rs) m.set(r.call, [...(m.get(r.call) ?? []), r.id]);
      return m;
    };
    const written = byCall(done.filter((r) => r.target === "all").map((r) => ({ call: r.call_id, id: r.event_id })));
    const got = byCall(all.received.map((r) => ({ call: r.json.call.callId, id: r.json.id })));
    expect(got).toEqual(written);
    expect(written.size).toBe(35);
    // The bob target: only calls with a leg of bob's, and only his own missed calls.
    const bobCalls = new Set(done.filter((r) => r.target === "all" && r.kind === "call.ended").map((r) => all.received.find((x) => x.json.id === r.event_id)!.json.call).filter((c: any) => c.legs.some((l: any) => l.userId === "bob")).map((c: any) => c.callId));
    expect(bobCalls.size).toBe(7);
    const missedBy = (rx: WebhookReceiver, user: string) => rx.received.filter((r) => r.json.type === "call.missed" && r.json.userId === user).length;
    expect(bobs.received).toHaveLength(bobCalls.size + missedBy(all, "bob"));
    expect(missedBy(all, "alice")).toBeGreaterThan(0);
    expect(missedBy(bobs, "alice")).toBe(0);
    expect(new Set(bobs.received.filter((r) => r.json.type === "call.ended").map((r) => r.json.call.callId))).toEqual(bobCalls);
    for (const r of bobs.received.filter((x) => x.json.type === "call.missed")) expect(r.json.userId).toBe("bob");
    // Trace 03: alice missed it; one call.missed for her, with the number to call back.
    const missed = all.received.filter((r) => r.json.type === "call.missed" && (r.json.call as any).from.raw === "0049891234567");
    expect(missed.map((r) => [r.json.userId, r.json.callbackNumber])).toEqual([["alice", "+49891234567"]]);
    expect(Object.keys(missed[0]!.json)).toEqual(["id", "type", "ts", "webhook", "userId", "callbackNumber", "call"]);

    // An annotation: call.annotated, written with it, carrying the merged annotation.
    const callId = missed[0]!.json.call.callId;
    const res = await fetch(`http://127.0.0.1:${d.port}/api/calls/${callId}/annotate`, {
      method: "POST",
      headers: { Authorization: `Bearer ${d.token("alice")}`, "Content-Type": "application/json" },
      body: JSON.stringify({ recordId: "CASE-7", comment: "called back" }),
    });
    expect(res.status).toBe(200);
    done = await waitFor(() => {
      const r = settled();
      return r && r.some((x) => x.kind === "call.annotated") ? r : null;
    }, "annotation delivered");
    const annotated = all.received.filter((r) => r.json.type === "call.annotated");
    expect(annotated).toHaveLength(1);
    expect(annotated[0]!.json.call).toMatchObject({ callId, annotation: { recordId: "CASE-7", comment: "called back", by: "alice" } });
    expect(bobs.received.some((r) => r.json.type === "call.annotated")).toBe(false);
  });
});

describe("a dead target never delays pops", () => {
  it("a black hole (accepts TCP, never answers) holds one request; every pop of a 34-call burst goes out meanwhile, and another target is served", async () => {
    const sockets: Socket[] = [];
    let bytes = 0;
    const hole = createServer((s) => {
      sockets.push(s);
      s.on("data", (b) => (bytes += b.length));
    });
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", () => r()));
    const holePort = (hole.address() as AddressInfo).port;
    const fastRx = receiver();
    await fastRx.listen(0);
    try {
      const d = await rig.start({
        users: E2E_USERS,
        webhooks: [
          { name: "hole", url: `http://127.0.0.1:${holePort}/`, events: ALL, secret: SECRET, timeoutMs: 600_000, concurrency: 1 },
          { name: "fast", url: fastRx.url, events: ALL, secret: SECRET, ...fast },
        ],
      });
      const sam = d.connect("sam");
      await sam.ready();
      // The black hole has its first request before the burst starts.
      await d.replay(traceBytes("01-inbound-answered"));
      await waitFor(() => bytes > 0 && d.daemon.webhooks.inFlight("hole") === 1, "the black hole holds a request");
      await d.replay(traceBytes("24-burst-30-concurrent"));
      await sam.sync();
      // Every call's end reached the supervisor while the black hole still holds its first request.
      const ended = new Set(sam.messages.filter((m) => m.type === "call.ended").map((m) => m.call.callId));
      expect(ended.size).toBe(35);
      expect(d.daemon.webhooks.inFlight("hole")).toBe(1);
      expect(sockets).toHaveLength(1);
      // The other target is served meanwhile; the black hole's events wait in the outbox, none lost.
      await waitFor(() => rows(d).filter((r) => r.target === "fast").every((r) => r.state === "delivered"), "fast target served");
      const hole_ = rows(d).filter((r) => r.target === "hole");
      expect(hole_.length).toBe(rows(d).filter((r) => r.target === "fast").length);
      expect(hole_.every((r) => r.state === "pending" && r.attempts === 0)).toBe(true);
      expect(d.daemon.webhooks.inFlight("hole")).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hole.close(() => r()));
    }
  });
});
