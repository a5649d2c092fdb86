/**
 * The cluster's webhook outbox (docs/webhooks.md "Cluster mode"): rows the stream archiver makes
 * from stream messages (the standalone daemon's events, one row per event and target, ids derived
 * from the message), how a batch coalesces them, and the PostgreSQL outbox: written in the call's
 * transaction once per event id, delivered by the standalone deliverer, retried and purged by the
 * CLI. The PostgreSQL part needs the server binaries; without them it says so and skips.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnyCallEvent, Call } from "../../src/calls/model.js";
import { planBatch } from "../../src/bus/archive.js";
import type { BusEntry } from "../../src/bus/entry.js";
import { memoryLogger } from "../../src/log.js";
import { replayFiles } from "../../src/replay.js";
import { PgOutbox } from "../../src/store/postgres/outbox.js";
import { PostgresCallStore } from "../../src/store/postgres/store.js";
import type { NewOutboxRow } from "../../src/store/outbox.js";
import type { WebhookConfig } from "../../src/webhooks/config.js";
import { Webhooks } from "../../src/webhooks/deliver.js";
import { webhookEventsOf } from "../../src/webhooks/events.js";
import { TargetQueue } from "../../src/webhooks/queue.js";
import { StreamWebhookRows, streamEventId } from "../../src/webhooks/rows.js";
import { verifySignature } from "../../src/webhooks/signature.js";
import { waitFor } from "../helpers/daemon.js";
import { labConfig } from "../helpers/labConfig.js";
import { runCli } from "../helpers/cliRun.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { FIXTURES } from "../helpers/traces.js";
import { WebhookReceiver } from "../helpers/webhookReceiver.js";

const SECRET = "whsec-test-0123456789abcdef";
const ALL = ["call.dialing", "call.ringing", "call.answered", "call.held", "call.resumed", "call.transferred", "call.ended", "call.missed", "call.annotated"] as const;
const target = (name: string, url: string, over: Partial<WebhookConfig> = {}): WebhookConfig => ({
  name,
  url,
  events: [...ALL],
  secret: SECRET,
  timeoutMs: 5_000,
  maxAttempts: 100,
  retryForHours: 24,
  minDelayMs: 20,
  maxDelayMs: 80,
  concurrency: 4,
  ...over,
});
const TRACES = ["06-ringgroup-answered", "03-inbound-missed-caller-abandon", "28-attended-transfer-dtmf", "35-pickup-group", "11-outbound-answered"];

/** The call events of some traces as a worker publishes them: user copies and call-level copies, stream sequences from 1. */
async function streamOf(traces: string[]): Promise<{ seq: number; entry: BusEntry }[]> {
  const events: AnyCallEvent[] = [];
  // Replays number calls from 1 each and start the clock at 1970: ids by trace, event times a minute ago.
  const shift = Date.now() - 60_000;
  for (const t of traces) {
    for (const ev of (await replayFiles([`${FIXTURES}/${t}.ami`], labConfig())).events) {
      events.push({ ...(JSON.parse(JSON.stringify(ev).replace(/"(call-\d+)"/g, `"${t}/$1"`)) as AnyCallEvent), at: ev.at + shift });
    }
  }
  return events.map((event, i) => ({ seq: i + 1, entry: { pbxId: "lab", term: 3, sentAt: 1_764_000_000_000 + i, ev: { kind: "call", event: { ...event, call: { ...event.call, pbxId: "lab" } } } } }));
}

const rowsOfStream = (targets: WebhookConfig[], storedCall: (id: string) => Promise<Call | null> = async () => null) =>
  new StreamWebhookRows({ targets, popTemplate: () => undefined, storedCall, keepEndedMs: 60_000 });

describe("the archiver's webhook rows", () => {
  it("one row per webhook event of the standalone daemon and target, ids from the message, the same ids when a message comes again", async () => {
    const stream = await streamOf(TRACES);
    const targets = [target("crm", "http://127.0.0.1:9/a"), target("alice-only", "http://127.0.0.1:9/b", { users: ["alice"], events: ["call.ringing", "call.missed", "call.ended"] })];
    const rows = rowsOfStream(targets);
    const out: NewOutboxRow[] = [];
    for (const m of stream) out.push(...(await rows.rowsOf(m.seq, m.entry)));
    // What the standalone daemon's events are, per target (the same filter).
    const expected = stream.flatMap(({ entry }) => {
      const ev = entry.ev as Extract<BusEntry["ev"], { kind: "call" }>;
      return webhookEventsOf(ev.event).flatMap((w) =>
        targets
          .filter((t) => t.events.includes(w.type) && (!t.users || (w.userId !== undefined ? t.users.includes(w.userId) : [...w.call.legs.map((l) => l.userId), w.call.from.userId, w.call.to.userId].some((u) => u && t.users!.includes(u)))))
          .map((t) => `${t.name} ${w.type} ${w.call.callId}${w.userId ? ` ${w.userId}` : ""}`),
      );
    });
    expect(out.map((r) => `${r.target} ${r.type} ${r.callId}${r.type === "call.missed" ? ` ${JSON.parse(r.payload).userId}` : ""}`)).toEqual(expected);
    expect(new Set(out.map((r) => r.type))).toEqual(new Set(["call.dialing", "call.ringing", "call.answered", "call.held", "call.transferred", "call.ended", "call.missed"]));
    expect(out.some((r) => r.target === "alice-only")).toBe(true);
    // Ids: unique, UUID-shaped, in the payload; a redelivery of any message gives the same rows.
    expect(new Set(out.map((r) => r.eventId)).size).toBe(out.length);
    for (const r of out) {
      expect(r.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(JSON.parse(r.payload)).toMatchObject({ id: r.eventId, type: r.type, webhook: r.target, call: { callId: r.callId, pbxId: "lab" } });
    }
    const again: NewOutboxRow[] = [];
    for (const m of stream) again.push(...(await rowsOfStream(targets).rowsOf(m.seq, m.entry)));
    expect(again).toEqual(out);
    // Another message (another sequence, or the same sequence of a recreated stream) gives other ids.
    const m = stream.find((s) => s.entry.ev.kind === "call" && s.entry.ev.event.userId === null && s.entry.ev.event.name === "callEnded")!;
    expect(streamEventId(m.seq, m.entry, 0, "crm")).not.toBe(streamEventId(m.seq + 1, m.entry, 0, "crm"));
    expect(streamEventId(m.seq, m.entry, 0, "crm")).not.toBe(streamEventId(m.seq, { ...m.entry, sentAt: m.entry.sentAt + 1 }, 0, "crm"));
  });

  it("a batch that coalesces a call's snapshots keeps every message's rows, in stream order, on the snapshot written", async () => {
    const stream = await streamOf(["06-ringgroup-answered", "03-inbound-missed-caller-abandon"]);
    const rows = rowsOfStream([target("crm", "http://127.0.0.1:9/a")]);
    const entries: { seq: number; entry: BusEntry; rows: NewOutboxRow[] }[] = [];
    for (const m of stream) entries.push({ ...m, rows: await rows.rowsOf(m.seq, m.entry) });
    const steps = planBatch(entries);
    const snapshots = steps.flat();
    // One write per call (coalesced), carrying all of its rows.
    expect(snapshots.map((s) => (s.kind === "snapshot" ? s.call.callId : "other"))).toEqual([...new Set(snapshots.map((s) => (s.kind === "snapshot" ? s.call.callId : "other")))]);
    expect(snapshots.flatMap((s) => s.rows)).toEqual(
      snapshots.flatMap((s) => entries.flatMap((e) => e.rows).filter((r) => s.kind === "snapshot" && r.callId === s.call.callId)),
    );
    expect(snapshots.flatMap((s) => s.rows).length).toBe(entries.flatMap((e) => e.rows).length);
    expect(entries.flatMap((e) => e.rows).length).toBeGreaterThan(snapshots.length);
  });

  it("the deliverer's queue puts a call's cluster rows in stream order, whatever their ids, never before a head in flight", () => {
    const q = new TargetQueue();
    const row = (id: number, seq: number, pos = 0) => ({ id, callId: "A", attempts: 0, nextAt: 0, createdAt: 0, retrySince: 0, seq, pos });
    // call.ended (seq 9) written first; its ringing rows (seq 5, two rows) after a takeover's redelivery.
    q.add(row(10, 9));
    const [first] = q.takeDue(0, 1);
    expect(first!.id).toBe(10);
    q.release(10);
    q.add(row(12, 5, 1));
    q.add(row(11, 5, 0));
    const order: number[] = [];
    for (let r = q.takeDue(0, 1); r.length > 0; r = q.takeDue(0, 1)) {
      order.push(r[0]!.id);
      q.finish(r[0]!.id);
    }
    expect(order).toEqual([11, 12, 10]);
    // A head in flight keeps its place: an earlier row goes right after it.
    q.add(row(20, 9));
    expect(q.takeDue(0, 1)[0]!.id).toBe(20);
    q.add(row(21, 5));
    q.finish(20);
    expect(q.takeDue(0, 1)[0]!.id).toBe(21);
  });

  it("an annotation: call.annotated with the call as last seen on the stream, or the stored call when this process has not seen it", async () => {
    const stream = await streamOf(["01-inbound-answered"]);
    const rows = rowsOfStream([target("crm", "http://127.0.0.1:9/a")]);
    for (const m of stream) await rows.rowsOf(m.seq, m.entry);
    const last = [...stream].reverse().find((m) => m.entry.ev.kind === "call" && m.entry.ev.event.userId === null)!;
    const call = (last.entry.ev as Extract<BusEntry["ev"], { kind: "call" }>).event.call;
    const merged = { by: "sam", at: "2026-11-30T10:00:00.000Z", comment: "hello" };
    const note: BusEntry = { pbxId: "lab", term: 3, sentAt: 1, ev: { kind: "record", record: { op: "annotate", callId: call.callId, entry: { by: "sam", at: merged.at, comment: "hello" }, merged } } };
    const [r] = await rows.rowsOf(1000, note);
    expect(JSON.parse(r!.payload)).toEqual({ id: r!.eventId, type: "call.annotated", ts: merged.at, webhook: "crm", call: JSON.parse(JSON.stringify({ ...call, annotation: merged, popUrl: null })) });
    // A gateway that took over has not seen the call: the stored one.
    const stored = { ...call, outcome: "answered" as const };
    const fresh = rowsOfStream([target("crm", "http://127.0.0.1:9/a")], async (id) => (id === call.callId ? stored : null));
    expect(JSON.parse((await fresh.rowsOf(1000, note))[0]!.payload).call.callId).toBe(call.callId);
    expect(await rowsOfStream([target("crm", "http://127.0.0.1:9/a")]).rowsOf(1000, note)).toEqual([]);
  });
});

const bin = postgresBin();
if (!bin) console.log(POSTGRES_MISSING);

describe.skipIf(!bin)("the PostgreSQL outbox", () => {
  let pg: PgServer;
  let dbN = 0;
  const stores: PostgresCallStore[] = [];
  const rx = new WebhookReceiver();
  const conn = (database: string) => ({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database });

  beforeAll(async () => {
    pg = await startPostgres();
    await rx.listen(0);
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    await rx.close();
    await pg?.destroy();
  });

  async function freshStore(): Promise<{ store: PostgresCallStore; database: string }> {
    const admin = new PostgresCallStore({ connection: conn("postgres") });
    const database = `ctib_wh_${++dbN}`;
    await admin.pool.query(`CREATE DATABASE ${database}`);
    await admin.close();
    const store = new PostgresCallStore({ connection: conn(database) });
    stores.push(store);
    await store.open();
    return { store, database };
  }

  it("rows go in the call's transaction, once per event id: a redelivered batch, an older snapshot and an absorbed call add none twice", async () => {
    const { store } = await freshStore();
    const stream = await streamOf(TRACES);
    const rows = rowsOfStream([target("crm", rx.url)]);
    const entries: { seq: number; entry: BusEntry; rows: NewOutboxRow[] }[] = [];
    for (const m of stream) entries.push({ ...m, rows: await rows.rowsOf(m.seq, m.entry) });
    const all = entries.flatMap((e) => e.rows);
    const write = async () => {
      for (const step of planBatch(entries)) for (const s of step) if (s.kind === "snapshot") await store.save(s.call, { at: new Date(0).toISOString(), seq: s.seq }, s.rows);
    };
    await write();
    const ids = async () => (await store.pool.query("SELECT event_id FROM outbox ORDER BY id")).rows.map((r) => r.event_id as string);
    expect(await ids()).toEqual(planBatch(entries).flat().flatMap((s) => s.rows.map((r) => r.eventId)));
    expect((await ids()).length).toBe(all.length);
    // Everything again (a crash before the acks): no new row.
    await write();
    expect((await ids()).length).toBe(all.length);
    // Message by message (each its own batch), out of order: still the same rows.
    for (const e of [...entries].reverse()) for (const s of planBatch([e]).flat()) if (s.kind === "snapshot") await store.save(s.call, { at: new Date(0).toISOString(), seq: s.seq }, s.rows);
    expect(new Set(await ids())).toEqual(new Set(all.map((r) => r.eventId)));
    expect((await ids()).length).toBe(all.length);
    // A call's rows go with its write: a failed transaction leaves none.
    const extra = { ...all[0]!, eventId: "11111111-1111-8111-8111-111111111111" };
    await expect(store.save({ ...(entries[0]!.entry.ev as { event: { call: Call } }).event.call, direction: "sideways" as never, state: null as never }, { at: "z", seq: 1 }, [extra])).rejects.toThrow();
    expect(await ids()).not.toContain(extra.eventId);
  });

  it("rows past the archive consumer's ack floor are held back; once it passes them (or the consumer is made again) the deliverer reads every row again", async () => {
    const { store } = await freshStore();
    const mk = (i: number, seq: number): NewOutboxRow => ({ eventId: `e${i}`, target: "crm", type: "call.ended", callId: `c${i}`, payload: "{}", at: new Date().toISOString(), seq, pos: 0 });
    const c = await store.pool.connect();
    try {
      await c.query("BEGIN");
      const { insertOutboxRows } = await import("../../src/store/postgres/outbox.js");
      await insertOutboxRows(c, [mk(1, 3), mk(2, 8), mk(3, 12)]);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    let floor: number | null = null;
    let delivered = 100;
    const box = new PgOutbox(store.pool, { progress: async () => (floor === null ? null : { ackFloor: floor, delivered }) });
    const v0 = await box.dataVersion();
    expect(await box.open(0)).toEqual([]); // floor unknown: nothing is final yet
    floor = 0;
    await box.dataVersion();
    expect(await box.open(0)).toEqual([]); // a new consumer: nothing stored yet
    floor = 8;
    const v1 = await box.dataVersion();
    expect(v1).not.toBe(v0);
    expect((await box.open(0)).map((r) => [r.id, r.seq])).toEqual([
      [1, 3],
      [2, 8],
    ]);
    expect(await box.open(2)).toEqual([]);
    // The consumer made again (or the stream): it has handed out less than the rows of 8 and 12,
    // so those are final and do not wait for it to count up to them; 3 is handed out, not stored.
    floor = 2;
    delivered = 4;
    const v2 = await box.dataVersion();
    expect(v2).not.toBe(v1);
    expect((await box.open(0)).map((r) => r.seq)).toEqual([8, 12]);
    delivered = 100;
    await box.dataVersion();
    expect((await box.open(0)).map((r) => r.seq)).toEqual([]);
    floor = 12;
    expect(await box.dataVersion()).not.toBe(v2);
    expect((await box.open(0)).map((r) => r.seq)).toEqual([3, 8, 12]);
    // Without a floor (the CLI): every row.
    expect((await new PgOutbox(store.pool).open(0)).length).toBe(3);
  });

  it("the deliverer sends from PostgreSQL: each call's events in order, signed, ids in the header; retry and purge from the CLI", async () => {
    const { store, database } = await freshStore();
    const stream = await streamOf(TRACES);
    const rows = rowsOfStream([target("crm", rx.url)]);
    for (const m of stream) {
      const r = await rows.rowsOf(m.seq, m.entry);
      const ev = m.entry.ev as Extract<BusEntry["ev"], { kind: "call" }>;
      if (ev.event.userId === null) await store.save(ev.event.call, { at: new Date(ev.event.at).toISOString(), seq: m.seq }, r);
    }
    const outbox = new PgOutbox(store.pool);
    const total = (await outbox.counts()).pending;
    expect(total).toBeGreaterThan(20);
    rx.received.length = 0;
    // The first request of each call fails once: the call's next event waits for it.
    const failedOnce = new Set<string>();
    rx.answer = (_n, r) => {
      if (failedOnce.has(r.json.call.callId)) return 200;
      failedOnce.add(r.json.call.callId);
      return 503;
    };
    const registry = new Registry();
    const w = new Webhooks({ targets: [target("crm", rx.url)], outbox, log: memoryLogger().log, registry, version: "t", popTemplate: () => undefined });
    w.start();
    try {
      await waitFor(async () => (await outbox.counts()).delivered === total, "every row delivered", 1000);
    } finally {
      w.stop();
    }
    const ok = rx.delivered();
    expect(ok).toHaveLength(total);
    expect(new Set(ok.map((r) => r.json.id)).size).toBe(total);
    for (const r of rx.received) {
      expect(r.headers["x-ctibridge-event-id"]).toBe(r.json.id);
      expect(verifySignature(SECRET, r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000)).ok).toBe(true);
    }
    const inOrder = (await store.pool.query("SELECT call_id, event_id FROM outbox ORDER BY id")).rows as { call_id: string; event_id: string }[];
    const perCall = (xs: { call: string; id: string }[]) => {
      const m = new Map<string, string[]>();
      for (const x of xs) m.set(x.call, [...(m.get(x.call) ?? []), x.id]);
      return m;
    };
    expect(perCall(ok.map((r) => ({ call: r.json.call.callId, id: r.json.id })))).toEqual(perCall(inOrder.map((r) => ({ call: r.call_id, id: r.event_id }))));
    expect(await registry.metrics()).toContain("ctibridge_webhook_pending 0");

    // The CLI on a cluster gateway's config reads and changes the PostgreSQL outbox.
    const dir = mkdtempSync(join(tmpdir(), "ctib-pgwh-"));
    const file = join(dir, "gw.yaml");
    writeFileSync(
      file,
      [
        "mode: cluster",
        "cluster: { role: gateway, nats: { servers: [nats://127.0.0.1:4222] } }",
        `store: { kind: postgres, path: ${JSON.stringify(join(dir, "gw.db"))}, postgres: ${JSON.stringify({ ...conn(database), poolSize: 4 })} }`,
      ].join("\n") + "\n",
    );
    const list = await runCli(["webhooks", "list", "--config", file, "--limit", "3"]);
    expect(list.code).toBe(0);
    expect(list.err).toBe(`pending 0, failed 0, delivered ${total}, dead 0\n`);
    expect(list.out.trim().split("\n")).toHaveLength(3);
    const newest = (await store.pool.query("SELECT id FROM outbox ORDER BY id DESC LIMIT 1")).rows[0].id as string;
    expect(list.out.startsWith(`${newest}  delivered`)).toBe(true);
    // Two events go dead; `retry --dead` revives them and moves the change mark, so the deliverer reads all again.
    const [a, b] = inOrder.slice(-2).map((r) => r.event_id);
    await store.pool.query("UPDATE outbox SET state = 'dead' WHERE event_id IN ($1, $2)", [a, b]);
    const mark = await outbox.dataVersion();
    const retried = await runCli(["webhooks", "retry", "--dead", "--config", file]);
    expect(retried).toMatchObject({ code: 0, out: "2 events will be sent again\n" });
    expect(await outbox.dataVersion()).not.toBe(mark);
    rx.received.length = 0;
    rx.answer = () => 200;
    // The same deliverer started again (a gateway that lost the archive lease and took it back).
    w.start();
    try {
      await waitFor(async () => (await outbox.counts()).delivered === total, "the retried rows delivered", 1000);
    } finally {
      w.stop();
    }
    expect(rx.received.map((r) => r.json.id).sort()).toEqual([a, b].sort());
    const purged = await runCli(["webhooks", "purge", "--config", file]);
    expect(purged).toMatchObject({ code: 0, out: `purged ${total} delivered events\n` });
    expect(await outbox.counts()).toEqual({ pending: 0, failed: 0, delivered: 0, dead: 0 });
  });
});
