/**
 * The queue figures of the day in the KV bucket `cti-calls` (bus/queueDays.ts) on a real
 * nats-server: beside a PBX's open calls and running wrap-ups without either listing seeing the
 * others' keys, written only once the stream stored the call's end (and before the open-call
 * entry goes), loaded by the next worker that then counts no call twice, older days purged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { JetStreamBus } from "../../src/bus/jetstream.js";
import { CALLS_BUCKET, KvOpenCalls } from "../../src/bus/openCalls.js";
import { KvWrapUps } from "../../src/bus/wrapUpRows.js";
import { KvQueueDays, type QueueDay } from "../../src/bus/queueDays.js";
import { memoryLogger } from "../../src/log.js";
import type { Call } from "../../src/calls/model.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { makeCall } from "../helpers/calls.js";

const have = natsAvailable();
const log = memoryLogger("warn").log;
const TZ = "Europe/Berlin";
const NOW = Date.parse("2026-11-30T10:00:00.000Z");
const FROM = "2026-11-29T23:00:00.000Z"; // Berlin's midnight of 30 November

function queueCall(callId: string, queue: string, outcome: "answered" | "abandoned", wait: number | null, started = "2026-11-30T08:00:00.000Z"): Call {
  return makeCall({ callId, linkedIds: [`1764489600.${callId}`], queue, state: "ended", outcome, times: { started, ringing: started, answered: null, ended: started, waitSeconds: wait, talkSeconds: null } });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stored(kv: KV, key: string): Promise<QueueDay | null> {
  const e = await kv.get(key);
  return e?.operation === "PUT" ? e.json<QueueDay>() : null;
}

describe.skipIf(!have)("queue figures of the day in KV", () => {
  let nats: NatsServer;
  let bus: JetStreamBus;
  let kv: KV;
  beforeAll(async () => {
    nats = await startNats();
    bus = await JetStreamBus.connect({ servers: [nats.url], name: "test", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
    kv = await bus.kv(CALLS_BUCKET, 0);
  });
  afterAll(async () => {
    await bus?.close();
    await nats?.kill();
  });

  it("sit beside the open calls and wrap-ups of the PBX: each listing loads its own keys only", async () => {
    const days = new KvQueueDays({ kv, pbxId: "site-a", log, timezone: TZ, now: () => NOW });
    await days.load();
    const running = makeCall({ callId: "open-1", linkedIds: ["1764489600.1"], queue: "support", state: "connected" });
    const open = new KvOpenCalls(kv, "site-a", log);
    open.note(running, "2026-11-30T08:00:00.000Z");
    const wrapUps = new KvWrapUps(kv, "site-a", log);
    wrapUps.note({ op: "wrapUpStart", callId: "c-0", row: { callId: "c-0", userId: "alice", since: "2026-11-30T08:00:00.000Z", until: null, paused: [] } });
    // A queue name with a dot stays one token.
    const ran: string[] = [];
    days.stored(queueCall("c-1", "sales.de", "answered", 5), () => void ran.push("c-1"));
    await Promise.all([open.flushed(), wrapUps.flushed(), days.flushed()]);
    expect(ran).toEqual(["c-1"]);
    expect((await new KvOpenCalls(kv, "site-a", log).load()).map((r) => r.callId)).toEqual(["open-1"]);
    expect((await new KvWrapUps(kv, "site-a", log).load()).map((r) => r.callId)).toEqual(["c-0"]);
    const again = new KvQueueDays({ kv, pbxId: "site-a", log, timezone: TZ, now: () => NOW });
    expect((await again.load()).map((d) => [d.day, d.queue, d.callIds])).toEqual([["2026-11-30", "sales.de", ["c-1"]]]);
    expect(await new KvQueueDays({ kv, pbxId: "site-b", log, timezone: TZ, now: () => NOW }).load()).toEqual([]);
  });

  it("the board counts a call when the engine ends it, KV once the stream stored it; the successor counts no call twice", async () => {
    const a = new KvQueueDays({ kv, pbxId: "site-c", log, timezone: TZ, now: () => NOW });
    await a.load();
    const c1 = queueCall("c-1", "support", "answered", 4);
    const c2 = queueCall("c-2", "support", "abandoned", null);
    a.seen(c1);
    a.seen(c2);
    expect(a.stats(FROM)).toEqual(new Map([["support", { answered: 1, abandoned: 1, avgWaitSeconds: 4 }]]));
    // Nothing in KV before the stream stored the end.
    await a.flushed();
    expect(await stored(kv, "site-c.qday.2026-11-30.support")).toBeNull();
    // The open-call entry goes once the figures are written: they are in KV when `then` runs.
    const seenInThen: (QueueDay | null)[] = [];
    const then = () => void stored(kv, "site-c.qday.2026-11-30.support").then((q) => seenInThen.push(q));
    a.stored(c1, then);
    // A later emission of the ended call (wrap-up seconds) counts nothing and waits for the same write.
    a.stored({ ...c1, annotation: null }, then);
    await a.flushed();
    await new Promise((r) => setTimeout(r, 50));
    expect(seenInThen.map((q) => q?.callIds)).toEqual([["c-1"], ["c-1"]]);
    // kill -9 here: c-2 ended on the board, its end not stored yet. The successor starts from KV.
    const b = new KvQueueDays({ kv, pbxId: "site-c", log, timezone: TZ, now: () => NOW });
    await b.load();
    expect(b.stats(FROM)).toEqual(new Map([["support", { answered: 1, abandoned: 0, avgWaitSeconds: 4 }]]));
    // It closes both calls again (their open-call entries were still there): c-1 is counted already.
    for (const c of [c1, c2]) {
      b.seen(c);
      b.stored(c, () => undefined);
    }
    const c3 = queueCall("c-3", "support", "answered", 9);
    b.seen(c3);
    b.stored(c3, () => undefined);
    await b.flushed();
    const want = new Map([["support", { answered: 2, abandoned: 1, avgWaitSeconds: 6.5 }]]);
    expect(b.stats(FROM)).toEqual(want);
    const c = new KvQueueDays({ kv, pbxId: "site-c", log, timezone: TZ, now: () => NOW });
    await c.load();
    expect(c.stats(FROM)).toEqual(want);
    expect((await stored(kv, "site-c.qday.2026-11-30.support"))?.callIds).toEqual(["c-1", "c-2", "c-3"]);
    // Their open-call entries purged: the next write names only the calls still open in KV.
    for (const call of [c1, c2, c3]) b.settled(call);
    const c4 = queueCall("c-4", "support", "abandoned", null);
    b.stored(c4, () => undefined);
    await b.flushed();
    expect(await stored(kv, "site-c.qday.2026-11-30.support")).toMatchObject({ answered: 2, abandoned: 2, callIds: ["c-4"] });
  });

  it("in a PBX worker's order: an ended queue call's open-call entry is purged after its figures are written, and then leaves their ids", async () => {
    const days = new KvQueueDays({ kv, pbxId: "site-e", log, timezone: TZ, now: () => NOW });
    await days.load();
    const open = new KvOpenCalls(kv, "site-e", log);
    const running = makeCall({ callId: "e-1", linkedIds: ["1764489600.7", "1764489600.8"], queue: "support", state: "connected", times: { started: "2026-11-30T08:00:00.000Z", ringing: null, answered: null, ended: null, waitSeconds: null, talkSeconds: null } });
    open.note(running, "2026-11-30T08:00:00.000Z");
    await open.flushed();
    const end = { ...running, state: "ended", outcome: "answered", times: { ...running.times, waitSeconds: 3 } } as Call;
    const order: string[] = [];
    days.stored(end, () => {
      // The figures are in KV when the purge is asked for.
      void stored(kv, "site-e.qday.2026-11-30.support").then((q) => {
        order.push(`figures ${q?.answered} ${JSON.stringify(q?.callIds)}`);
        open.note(end, "2026-11-30T08:01:00.000Z", () => {
          order.push("purged");
          days.settled(end);
        });
      });
    });
    await until(() => order.length === 2, "the purge");
    expect(order).toEqual(['figures 1 ["e-1"]', "purged"]);
    expect((await stored(kv, "site-e.qday.2026-11-30.support"))?.callIds).toEqual(["e-1"]);
    expect(await new KvOpenCalls(kv, "site-e", log).load()).toEqual([]);
    days.stored(queueCall("e-2", "support", "abandoned", null), () => undefined);
    await days.flushed();
    expect(await stored(kv, "site-e.qday.2026-11-30.support")).toMatchObject({ answered: 1, abandoned: 1, callIds: ["e-2"] });
  });

  it("a day before yesterday is purged at takeover; yesterday's and today's are kept", async () => {
    for (const day of ["2026-11-27", "2026-11-29", "2026-11-30"])
      await kv.put(`site-d.qday.${day}.support`, JSON.stringify({ day, queue: "support", answered: 1, abandoned: 0, waitSum: 3, waited: 1, callIds: [`x-${day}`] }));
    await kv.put("site-d.qday.2026-11-30.broken", "{not json");
    const days = new KvQueueDays({ kv, pbxId: "site-d", log, timezone: TZ, now: () => NOW });
    expect((await days.load()).map((d) => d.day).sort()).toEqual(["2026-11-29", "2026-11-30"]);
    await days.flushed();
    expect(await stored(kv, "site-d.qday.2026-11-27.support")).toBeNull();
    expect(days.stats(FROM)).toEqual(new Map([["support", { answered: 1, abandoned: 0, avgWaitSeconds: 3 }]]));
  });
});
