/**
 * Webhook delivery through the whole daemon: a fake PBX replays recorded traces, the daemon
 * POSTs to a real HTTP receiver on 127.0.0.1 that refuses connections, times out, answers 500
 * and recovers. Asserted on what the receiver got (order, bodies, signatures, ids) and on the
 * outbox rows; driven by events and bounded polls, never by wall-clock time.
 */
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, E2E_USERS, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";
import { WebhookReceiver } from "../helpers/webhookReceiver.js";
import { verifySignature } from "../../src/webhooks/signature.js";

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
const fast = { minDelayMs: 20, maxDelayMs: 80, timeoutMs: 400 };

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
