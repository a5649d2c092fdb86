/**
 * The outbox store: per-call heads, retry and purge, retention of delivered rows
 * (store.webhookRetentionDays), and the metrics the daemon exposes for it.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../src/log.js";
import { openDb } from "../../src/store/db.js";
import { Outbox, type NewOutboxRow } from "../../src/store/outbox.js";
import { deleteCalls, RetentionPruner } from "../../src/store/retention.js";
import { Webhooks } from "../../src/webhooks/deliver.js";
import { TargetQueue } from "../../src/webhooks/queue.js";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const row = (eventId: string, callId: string, atIso = at(0), target = "crm"): NewOutboxRow => ({ eventId, target, type: "call.ended", callId, payload: `{"id":"${eventId}"}`, at: atIso });

describe("outbox", () => {
  it("the queue offers only the oldest open event of each call, earliest due first; a finished head lets the next go; retry revives", () => {
    const box = new Outbox(openDb(":memory:"));
    box.add([row("a1", "A"), row("b1", "B"), row("a2", "A"), row("b2", "B"), row("x1", "A", at(0), "other")]);
    const q = new TargetQueue();
    for (const r of box.open(0)) if (r.target === "crm") q.add(r);
    const ids = (rs: { id: number }[]) => rs.map((r) => box.payload(r.id)!.eventId);
    const [a1, b1] = q.takeDue(NOW, 10);
    expect(ids([a1!, b1!])).toEqual(["a1", "b1"]);
    expect(q.takeDue(NOW, 10)).toEqual([]); // both heads are taken: A's and B's later events wait
    // a1 fails and is due in a minute; b1 is delivered: B moves on, A waits.
    box.failed(a1!.id, at(0), at(-60_000), 500, "HTTP 500");
    q.reschedule(a1!.id, NOW + 60_000, 1);
    box.delivered(b1!.id, at(0), 200);
    q.finish(b1!.id);
    expect(ids(q.takeDue(NOW, 10))).toEqual(["b2"]);
    expect(q.nextAt()).toBe(NOW + 60_000);
    expect(ids(q.takeDue(NOW + 60_000, 10))).toEqual(["a1"]);
    box.dead(a1!.id, at(0), 500, "HTTP 500");
    q.finish(a1!.id);
    expect(ids(q.takeDue(NOW + 60_000, 10))).toEqual(["a2"]);
    expect(box.counts()).toEqual({ pending: 3, failed: 0, delivered: 1, dead: 1 });
    // Only the open rows after an id are read back (what a kick loads).
    expect(ids(box.open(b1!.id))).toEqual(["a2", "b2", "x1"]);
    expect(box.retry(at(0), { ids: [a1!.id, b1!.id] })).toBe(1); // b1 is delivered: untouched
    expect(box.get(a1!.id)).toMatchObject({ state: "pending", attempts: 0, retrySince: at(0) });
    expect(box.payload(a1!.id)).toEqual({ body: '{"id":"a1"}', eventId: "a1", type: "call.ended" });
  });

  it("the queue keeps order and due times over many calls (a target down for long)", () => {
    const q = new TargetQueue();
    let id = 0;
    const rows = Array.from({ length: 3000 }, (_, i) => ({ id: ++id, eventId: `e${id}`, type: "call.ended", callId: `c${i % 300}`, attempts: 0, nextAt: NOW, createdAt: NOW, retrySince: NOW }));
    for (const r of rows) q.add(r);
    const sent: string[] = [];
    for (let round = 0; q.size > 0 && round < 10_000; round++) {
      const batch = q.takeDue(NOW + round, 7);
      for (const r of batch) {
        // Every other first attempt fails and comes back 3 ms later.
        if (r.attempts === 0 && r.id % 2 === 0) q.reschedule(r.id, NOW + round + 3, 1);
        else {
          sent.push(`${r.callId}:${r.id}`);
          q.finish(r.id);
        }
      }
    }
    expect(sent).toHaveLength(3000);
    const perCall = new Map<string, number[]>();
    for (const s of sent) {
      const [c, i] = s.split(":");
      perCall.set(c!, [...(perCall.get(c!) ?? []), Number(i)]);
    }
    for (const ids of perCall.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("deleting a call (forget NUMBER, calls.retentionDays) deletes its webhook events, delivered or not", () => {
    const db = openDb(":memory:");
    const box = new Outbox(db);
    box.add([row("a1", "A"), row("b1", "B"), row("a2", "A")]);
    box.delivered(box.list().at(-1)!.id, at(0), 200);
    deleteCalls(db, ["A"]);
    expect(box.list().map((r) => r.eventId)).toEqual(["b1"]);
  });

  it("retention deletes delivered rows past webhookRetentionDays, never open or dead ones; 0 keeps them", () => {
    const db = openDb(":memory:");
    const box = new Outbox(db);
    box.add([row("old", "A", at(10 * 86_400_000)), row("new", "B", at(86_400_000)), row("open", "C", at(30 * 86_400_000)), row("dead", "D", at(30 * 86_400_000))]);
    const [oldR, newR, , deadR] = box.list().reverse();
    box.delivered(oldR!.id, at(8 * 86_400_000), 200);
    box.delivered(newR!.id, at(86_400_000), 200);
    box.dead(deadR!.id, at(20 * 86_400_000), 500, "HTTP 500");
    let days = 0;
    const p = new RetentionPruner({ db, retentionDays: () => 0, webhookRetentionDays: () => days, now: () => NOW, log: memoryLogger().log });
    expect(p.tickWebhooks()).toBe(0);
    days = 7;
    expect(p.tickWebhooks()).toBe(1);
    expect(box.list().map((r) => r.eventId).sort()).toEqual(["dead", "new", "open"]);
  });

  it("metrics: pending (open rows), dead, delivered and failed attempts by target, delivery latency", async () => {
    const db = openDb(":memory:");
    const box = new Outbox(db);
    const registry = new Registry();
    // A target that is never contacted here: the metrics read the outbox.
    new Webhooks({ targets: [{ name: "crm", url: "http://127.0.0.1:9/", events: ["call.ended"], secret: "0123456789abcdef", timeoutMs: 1, maxAttempts: 1, retryForHours: 1, minDelayMs: 1, maxDelayMs: 1, concurrency: 1 }], outbox: box, log: memoryLogger().log, registry, version: "t", popTemplate: () => undefined });
    box.add([row("p", "A"), row("f", "B"), row("d", "C")]);
    const [, f, d] = box.list().reverse();
    box.failed(f!.id, at(0), at(0), null, "ECONNREFUSED");
    box.dead(d!.id, at(0), 500, "HTTP 500");
    const text = await registry.metrics();
    expect(text).toContain("ctibridge_webhook_pending 2");
    expect(text).toContain("ctibridge_webhook_dead 1");
    for (const name of ["ctibridge_webhook_delivered_total", "ctibridge_webhook_failed_attempts_total", "ctibridge_webhook_dead_total", "ctibridge_webhook_delivery_seconds"]) expect(text).toContain(`# TYPE ${name}`);
  });
});

describe("the delivery timer", () => {
  it("a row that comes due between two readings of the clock is still sent by its timer (not left for the idle poll)", async () => {
    const { WebhookReceiver } = await import("../helpers/webhookReceiver.js");
    const { waitFor } = await import("../helpers/daemon.js");
    const rx = new WebhookReceiver();
    await rx.listen(0);
    try {
      const box = new Outbox(openDb(":memory:"));
      // A clock that moves on by 1 ms at every reading (a timer that fires a little early looks the same).
      const base = Date.now();
      let reads = 0;
      const now = () => base + reads++;
      // start() reads the clock twice (the kick), the pump once: the row is due one reading later.
      box.add([{ ...row("e1", "A"), at: new Date(base + 3).toISOString() }]);
      const w = new Webhooks({ targets: [{ name: "crm", url: rx.url, events: ["call.ended"], secret: "0123456789abcdef", timeoutMs: 5000, maxAttempts: 5, retryForHours: 1, minDelayMs: 10, maxDelayMs: 10, concurrency: 1 }], outbox: box, log: memoryLogger().log, registry: new Registry(), version: "t", popTemplate: () => undefined, now });
      w.start();
      try {
        // Well before the 5 s idle poll would have found it.
        await waitFor(() => rx.received.length === 1, "the row sent by its timer", 150);
      } finally {
        w.stop();
      }
      expect(rx.received[0]!.json.id).toBe("e1");
    } finally {
      await rx.close();
    }
  });
});

describe("the same transaction as the call log", () => {
  it("a failed call-log write writes no webhook row; the retry writes call and rows once, each call's rows in order", async () => {
    const { CallLog, CallLogWriter } = await import("../../src/store/callLog.js");
    const { finalCall } = await import("../helpers/seedCalls.js");
    const db = openDb(":memory:");
    const box = new Outbox(db);
    const base = await finalCall("01-inbound-answered");
    const callA = { ...base, callId: "A" };
    const callB = { ...base, callId: "B" };
    // The disk fails on B's write: the whole batch (A's row and A's outbox rows included) rolls back.
    let failB = true;
    const log = new CallLog(db);
    const flaky = Object.assign(Object.create(log), {
      save: (c: typeof base, at: string) => {
        if (c.callId === "B" && failB) throw new Error("disk full");
        log.save(c, at);
      },
    }) as InstanceType<typeof CallLog>;
    const errors: unknown[] = [];
    let committed = 0;
    const writer = new CallLogWriter(flaky, db, (err) => errors.push(err), { onCommitted: () => committed++ });
    const rowsOf = (ids: string[], callId: string) => () => box.add(ids.map((id) => row(id, callId)));
    writer.save(callA, at(0), rowsOf(["a-ringing"], "A"));
    writer.save(callB, at(0), rowsOf(["b-ringing"], "B"));
    writer.save(callA, at(0), rowsOf(["a-answered", "a-ended"], "A"));
    writer.flush();
    expect(errors).toHaveLength(1);
    expect(committed).toBe(0);
    expect(db.prepare("SELECT count(*) FROM calls").pluck().get()).toBe(0);
    expect(box.list()).toEqual([]);
    // A later change of B arrives while the write waits: its rows go after the failed ones.
    writer.save(callB, at(0), rowsOf(["b-ended"], "B"));
    failB = false;
    writer.flush();
    expect(committed).toBe(1);
    expect(db.prepare("SELECT call_id FROM calls ORDER BY call_id").pluck().all()).toEqual(["A", "B"]);
    const stored = box.list().reverse();
    expect(stored.map((r) => r.eventId)).toEqual(["a-ringing", "a-answered", "a-ended", "b-ringing", "b-ended"]);
  });
});
