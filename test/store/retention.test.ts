/** calls.retentionDays: old calls go with their legs and annotations, a bounded batch at a time. */
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../src/log.js";
import { openDb, type Db } from "../../src/store/db.js";
import { pruneOldCalls, RetentionPruner } from "../../src/store/retention.js";
import { finalCall, seedCalls } from "../helpers/seedCalls.js";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();
const count = (db: Db, table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe("retention", () => {
  it("deletes old ended calls with their legs and annotations, at most one batch per tick, oldest first", async () => {
    const db = openDb(":memory:");
    const base = await finalCall("06-ringgroup-answered");
    const old = seedCalls(db, base, Array.from({ length: 25 }, (_, i) => daysAgo(400 + i)), "old");
    const kept = seedCalls(db, base, [daysAgo(364), daysAgo(1), daysAgo(0)], "new");
    expect(count(db, "legs")).toBe(28 * 3);
    const pruned: number[] = [];
    const p = new RetentionPruner({ db, retentionDays: () => 365, now: () => NOW, log: memoryLogger().log, batch: 10, onPruned: (n) => pruned.push(n) });
    expect([p.tick(), p.tick(), p.tick(), p.tick()]).toEqual([10, 10, 5, 0]);
    expect(pruned).toEqual([10, 10, 5]);
    expect(db.prepare("SELECT call_id FROM calls ORDER BY started_at").pluck().all()).toEqual([...kept]);
    expect(count(db, "legs")).toBe(3 * 3);
    expect(db.prepare("SELECT DISTINCT call_id FROM legs").pluck().all().sort()).toEqual([...kept].sort());
    expect(db.prepare("SELECT call_id FROM call_annotations").pluck().all().sort()).toEqual([...kept].sort());
    expect(old).toHaveLength(25);
  });

  it("keeps everything with retentionDays 0, and never deletes a call still open", async () => {
    const db = openDb(":memory:");
    const base = await finalCall("01-inbound-answered");
    seedCalls(db, base, [daysAgo(1000)], "ended");
    seedCalls(db, base, [daysAgo(1000)], "open", { state: "connected" });
    const p = new RetentionPruner({ db, retentionDays: () => 0, now: () => NOW, log: memoryLogger().log });
    expect(p.tick()).toBe(0);
    expect(count(db, "calls")).toBe(2);
    expect(pruneOldCalls(db, daysAgo(365), 100)).toBe(1);
    expect(db.prepare("SELECT call_id FROM calls").pluck().all()).toEqual(["open-0"]);
  });

  it("the query that finds old calls uses the calls_started index", () => {
    const db = openDb(":memory:");
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT call_id FROM calls WHERE started_at < ? AND state = 'ended' ORDER BY started_at LIMIT ?")
      .all("2026-01-01", 10) as { detail: string }[];
    expect(plan.map((r) => r.detail).join(" ")).toContain("calls_started");
  });
});
