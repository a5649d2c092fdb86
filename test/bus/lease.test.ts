/**
 * The lease's decisions against a KV that fails on demand (the real bucket is exercised in
 * test/cluster/bus.test.ts): NATS unreachable for longer than the TTL does not end the lease
 * but makes it stale (its worker holds events back); a refused renewal on an expired key takes
 * it again under a new term; a refused renewal on a key someone else holds loses it.
 */
import { describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { Lease } from "../../src/bus/lease.js";
import { memoryLogger } from "../../src/log.js";

class FakeKv {
  rev = 0;
  holder: string | null = null;
  down = false;
  async create(_k: string, v: string): Promise<number> {
    if (this.down) throw new Error("TIMEOUT");
    if (this.holder !== null) throw new Error("wrong last sequence: 7");
    this.holder = JSON.parse(v).holder;
    return ++this.rev;
  }
  async update(_k: string, v: string, last: number): Promise<number> {
    if (this.down) throw new Error("TIMEOUT");
    if (this.holder === null || last !== this.rev) throw new Error("wrong last sequence: 9");
    this.holder = JSON.parse(v).holder;
    return ++this.rev;
  }
  async delete(): Promise<void> {
    this.holder = null;
  }
  async watch() {
    return { stop() {}, async *[Symbol.asyncIterator]() {} };
  }
}

function lease(kv: FakeKv, clock: { t: number }, events: string[]) {
  return new Lease({
    kv: kv as unknown as KV,
    key: "berlin",
    holder: "A",
    ttlMs: 1000,
    pollMs: 60_000, // ticks driven by hand
    log: memoryLogger("silent").log,
    now: () => clock.t,
    onAcquired: (term) => events.push(`acquired ${term}`),
    onLost: (term) => events.push(`lost ${term}`),
    onTerm: (term) => events.push(`term ${term}`),
  });
}

const tick = (l: Lease) => (l as unknown as { tick(): Promise<void> }).tick();

describe("Lease", () => {
  it("NATS away past the TTL: still held but not fresh; back with the key expired: taken again under a new term", async () => {
    const kv = new FakeKv();
    const clock = { t: 0 };
    const events: string[] = [];
    const l = lease(kv, clock, events);
    await l.start();
    expect(l.fresh).toBe(true);
    kv.down = true;
    clock.t = 1500;
    await tick(l);
    expect(l.active).toBe(true);
    expect(l.fresh).toBe(false);
    // NATS is back; the key expired meanwhile and nobody took it.
    kv.down = false;
    kv.holder = null;
    await tick(l);
    expect(l.fresh).toBe(true);
    expect(events).toEqual(["acquired 1", "term 2"]);
    await l.stop(false);
  });

  it("a refused renewal while another worker holds the key: lost", async () => {
    const kv = new FakeKv();
    const clock = { t: 0 };
    const events: string[] = [];
    const l = lease(kv, clock, events);
    await l.start();
    kv.holder = "B";
    kv.rev = 5;
    await tick(l);
    expect(l.active).toBe(false);
    expect(events).toEqual(["acquired 1", "lost 1"]);
    await l.stop(false);
  });
});
