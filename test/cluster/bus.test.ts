/**
 * The bus parts against a real nats-server (JetStream on 127.0.0.1, random port): the stream's
 * order and de-duplication, reading from a sequence, the lease (takeover after the TTL when the
 * holder dies without a word, at once on release), the KV open-call map.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamBus, STREAM } from "../../src/bus/jetstream.js";
import { Lease, LEASE_BUCKET } from "../../src/bus/lease.js";
import { CALLS_BUCKET, KvOpenCalls } from "../../src/bus/openCalls.js";
import { BusPublisher } from "../../src/bus/publisher.js";
import { subjectOf, type BusEntry } from "../../src/bus/entry.js";
import type { Delivered } from "../../src/bus/jetstream.js";
import { memoryLogger } from "../../src/log.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import type { Call } from "../../src/calls/model.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

const log = memoryLogger("warn").log;

function busOn(url: string, name = "test"): Promise<JetStreamBus> {
  return JetStreamBus.connect({ servers: [url], name, replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
}

function pbxEntry(n: number): BusEntry {
  return { pbxId: "site-a", term: 1, sentAt: 1_700_000_000_000 + n, ev: { kind: "pbx", status: "resynced", info: { calls: n } } };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!have)("bus on a real nats-server", () => {
  let nats: NatsServer;
  let bus: JetStreamBus;
  beforeAll(async () => {
    nats = await startNats();
    bus = await busOn(nats.url);
    await bus.ensureStream();
    await bus.ensureStream(); // idempotent
  });
  afterAll(async () => {
    await bus?.close();
    await nats?.kill();
  });

  it("stores entries in order under their subjects, once per message id, and reads them back from any sequence", async () => {
    const first = await bus.publish(subjectOf(pbxEntry(1)), JSON.stringify(pbxEntry(1)), "site-a:1:1");
    const again = await bus.publish(subjectOf(pbxEntry(1)), JSON.stringify(pbxEntry(1)), "site-a:1:1");
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    const pub = new BusPublisher({ sink: bus, pbxId: "site-a", log });
    pub.setTerm(2);
    for (let i = 2; i <= 50; i++) pub.offer(pbxEntry(i).ev);
    await pub.flushed();
    expect(pub.stored).toBe(49);
    const info = await bus.jsm.streams.info(STREAM);
    expect(info.state.messages).toBe(50);

    const got: Delivered[] = [];
    const reader = await bus.read(first.seq + 10, (d) => got.push(d));
    await until(() => got.length === 40, "40 entries");
    await reader.stop();
    expect(got.map((d) => d.seq)).toEqual(Array.from({ length: 40 }, (_, i) => first.seq + 10 + i));
    expect(got.map((d) => (d.entry.ev as { info: { calls: number } }).info.calls)).toEqual(Array.from({ length: 40 }, (_, i) => 11 + i));
    expect(got[0]!.entry.pbxId).toBe("site-a");
  });

  it("routes a command to the one worker serving the PBX by request/reply", async () => {
    const other = await busOn(nats.url, "worker");
    const sub = other.serveCommands("site-b", async (req) => ({ ok: true, echo: req }));
    await other.nc.flush();
    await expect(bus.command("site-b", { action: "hangup", callId: "c1" }, 2_000)).resolves.toEqual({ ok: true, echo: { action: "hangup", callId: "c1" } });
    sub.unsubscribe();
    await other.nc.flush();
    await expect(bus.command("site-b", { action: "hangup" }, 500)).rejects.toThrow();
    await other.close();
  });

  it("lease: one active worker; a standby takes over after the TTL when the holder dies silently, at once on release", async () => {
    const kv = await bus.kv(LEASE_BUCKET, 1_000);
    const events: string[] = [];
    const mk = (holder: string) =>
      new Lease({
        kv,
        key: "site-l",
        holder,
        ttlMs: 1_000,
        pollMs: 100,
        log,
        onAcquired: (term, prev) => events.push(`${holder} acquired ${term > 0} after ${prev ?? "nobody"}`),
        onLost: () => events.push(`${holder} lost`),
      });
    const a = mk("A");
    const b = mk("B");
    await a.start();
    await b.start();
    expect(a.active).toBe(true);
    expect(b.active).toBe(false);
    const termA = a.currentTerm;
    // Renewals go on past several TTLs: the standby never gets in.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(b.active).toBe(false);
    // kill -9: A stops renewing and says nothing.
    await a.stop(false);
    await until(() => b.active, "B to take over", 10_000);
    expect(b.currentTerm).toBeGreaterThan(termA);
    // A planned stop releases: C takes over without waiting for the TTL.
    const c = mk("C");
    await c.start();
    expect(c.active).toBe(false);
    await b.stop(true);
    await until(() => c.active, "C to take over", 900);
    await c.stop(true);
    expect(events).toEqual(["A acquired true after nobody", "B acquired true after A", "C acquired true after B"]);
  });

  it("open calls: the newest snapshot per linkedid is kept while the call runs and removed when it ends", async () => {
    const kv = await bus.kv(CALLS_BUCKET, 0);
    const open = new KvOpenCalls(kv, "site-a", log);
    const call = (state: string, ringing: string | null) =>
      ({ callId: "c-1", linkedIds: ["1700000000.12", "1700000000.15"], state, times: { started: "2023-11-14T22:13:20.000Z", ringing } }) as unknown as Call;
    open.note(call("ringing", null), "2023-11-14T22:13:20.000Z");
    open.note(call("ringing", "2023-11-14T22:13:21.000Z"), "2023-11-14T22:13:21.000Z");
    await open.flushed();
    const other = new KvOpenCalls(kv, "site-z", log);
    other.note({ ...call("ringing", null), callId: "z-1" }, "2023-11-14T22:13:20.000Z");
    await other.flushed();
    const loaded = await new KvOpenCalls(kv, "site-a", log).load();
    expect(loaded.map((r) => [r.linkedId, r.callId, r.snapshot.times.ringing]).sort()).toEqual([
      ["1700000000.12", "c-1", "2023-11-14T22:13:21.000Z"],
      ["1700000000.15", "c-1", "2023-11-14T22:13:21.000Z"],
    ]);
    open.note(call("ended", "2023-11-14T22:13:21.000Z"), "2023-11-14T22:13:30.000Z");
    await open.flushed();
    expect(await new KvOpenCalls(kv, "site-a", log).load()).toEqual([]);
    expect((await new KvOpenCalls(kv, "site-z", log).load()).map((r) => r.callId)).toEqual(["z-1", "z-1"]);
  });
});
