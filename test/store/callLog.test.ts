import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replayFiles } from "../../src/replay.js";
import type { Call } from "../../src/calls/model.js";
import { CallLog, CallLogWriter } from "../../src/store/callLog.js";
import { openDb } from "../../src/store/db.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES } from "../helpers/traces.js";

async function snapshots(trace: string): Promise<Call[]> {
  const { events } = await replayFiles([`${FIXTURES}/${trace}.ami`], labConfig());
  return events.filter((e) => e.userId === null).map((e) => e.call);
}

const turn = () => new Promise((r) => setImmediate(r));

describe("CallLog", () => {
  it("stores a call with its legs and maps it back", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const calls = await snapshots("06-ringgroup-answered");
    for (const c of calls) log.save(c, c.times.started);
    const [stored] = log.list();
    expect(stored).toMatchObject({
      callId: "call-0001",
      direction: "inbound",
      state: "ended",
      outcome: "answered",
      from: { raw: "+4930123456", e164: "+4930123456" },
      answeredBy: { userId: "bob", device: "PJSIP/1002" },
      ivr: { DID: "4930555001" },
    });
    expect((stored!.legs as { userId: string; outcome: string }[]).map((l) => [l.userId, l.outcome])).toEqual([
      ["alice", "answered_elsewhere"],
      ["bob", "answered_by_me"],
      ["carol", "answered_elsewhere"],
    ]);
    expect(log.openCallIds().size).toBe(0);
  });

  it("39: a call answered by a ring group's external number keeps the number", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    for (const c of await snapshots("39-ringgroup-external-answered")) log.save(c, c.times.started);
    const [stored] = log.list();
    expect(stored).toMatchObject({ outcome: "answered", answeredBy: { userId: null, device: null, external: "0301234567" }, park: null });
  });

  it("32: a parked and retrieved call is stored as one call with its park record", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    for (const c of await snapshots("32-park-ami-retrieved")) log.save(c, c.times.started);
    const all = log.list();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      answeredBy: { userId: "bob", device: "PJSIP/1002" },
      park: { by: { userId: "alice", device: "PJSIP/1001" }, slot: "701", retrievedBy: { userId: "bob", device: "PJSIP/1002" }, timedOut: false, abandoned: false },
    });
  });

  it("27: the transferring agent's leg is stored as the CRM saw it (answered_by_me, transferred, her end time)", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const calls = await snapshots("27-blind-transfer-ami-blindtransfer");
    for (const c of calls) log.save(c, c.times.started);
    const [stored] = log.list();
    const last = calls.at(-1)!;
    const alice = last.legs.find((l) => l.userId === "alice")!;
    expect(stored!.transfer).toMatchObject({ kind: "blind", by: { userId: "alice" }, to: { raw: "1002", userId: "bob" } });
    expect(stored!.legs).toEqual([
      expect.objectContaining({ userId: "alice", outcome: "answered_by_me", transferred: true, endedAt: alice.endedAt }),
      expect.objectContaining({ userId: "bob", outcome: "answered_by_me" }),
    ]);
    expect(stored!.legs[1]).not.toHaveProperty("transferred");
    expect(alice.endedAt! < last.times.ended!).toBe(true);
  });

  it("keeps the open-call map while the call runs", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const calls = await snapshots("01-inbound-answered");
    const running = calls.find((c) => c.state === "connected")!;
    log.save(running, running.times.started);
    expect([...log.openCallIds()]).toEqual([["1795305921.0", "call-0001"]]);
    expect(log.openCalls()[0]!.callId).toBe("call-0001");
  });

  it("marks a missed leg done when the user calls the number back within callbackWindowDays", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db, { callbackWindowDays: 7 });
    const missed = await snapshots("03-inbound-missed-caller-abandon");
    for (const c of missed) log.save(c, c.times.started);
    expect(log.list({ userId: "alice", missed: true, openOnly: true })).toHaveLength(1);
    const back = (await snapshots("12-outbound-no-answer")).at(-1)!;
    const missedAt = Date.parse(missed.at(-1)!.times.started);
    // Alice calls +49891234567 back and is answered (the recorded call was not, so answer it here).
    const callBack = (id: string, afterMs: number): Call => ({
      ...back,
      callId: id,
      outcome: "answered",
      times: { ...back.times, started: new Date(missedAt + afterMs).toISOString(), ended: new Date(missedAt + afterMs + 10_000).toISOString() },
    });
    // Eight days later is outside the window: the old missed call stays open.
    log.save(callBack("call-back-late", 8 * 86_400_000), "2099-01-01T00:00:00.000Z");
    expect(log.list({ userId: "alice", missed: true, openOnly: true })).toHaveLength(1);
    log.save(callBack("call-back", 6 * 86_400_000), "2099-01-01T00:00:10.000Z");
    expect(log.list({ userId: "alice", missed: true, openOnly: true })).toHaveLength(0);
    expect(log.list({ userId: "alice", missed: true })).toHaveLength(1);
  });

  it("every statement a save runs is served by an index: no scan of calls, legs or open_calls (EXPLAIN QUERY PLAN)", async () => {
    const db = openDb(":memory:");
    const sqls: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => (sqls.push(sql), prepare(sql))) as typeof db.prepare;
    const log = new CallLog(db);
    // Inbound answered, inbound missed, outbound answered (the call-back check), a merged-away call.
    for (const t of ["06-ringgroup-answered", "03-inbound-missed-caller-abandon", "11-outbound-answered"]) {
      for (const c of await snapshots(t)) log.save(c, c.times.started);
    }
    const merged = (await snapshots("01-inbound-answered"))[0]!;
    log.save({ ...merged, callId: "merged-away", mergedInto: "call-0001" }, merged.times.started);
    db.prepare = prepare;
    const plans = [...new Set(sqls)].map((sql) => {
      const named = [...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!);
      const args = named.length > 0 ? [Object.fromEntries(named.map((n) => [n, null]))] : Array<null>((sql.match(/\?/g) ?? []).length).fill(null);
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[];
      return { sql: sql.replace(/\s+/g, " ").trim().slice(0, 60), plan: rows.map((r) => r.detail) };
    });
    for (const { sql, plan } of plans) {
      for (const step of plan) {
        // A full scan, or an index range with no equality (e.g. started_at<?), grows with history.
        const touchesTable = /^(SCAN|SEARCH) (calls|legs|open_calls)\b/.test(step);
        if (touchesTable) expect({ sql, step, ok: step.startsWith("SEARCH") && /\w=\?/.test(step) }).toEqual({ sql, step, ok: true });
      }
    }
    const callBack = plans.find((p) => p.sql.startsWith("UPDATE legs SET done = 1"))!;
    expect(callBack.plan).toEqual([
      "SEARCH legs USING INDEX sqlite_autoindex_legs_1 (call_id=?)",
      "LIST SUBQUERY 1",
      "SEARCH calls USING INDEX calls_from_key (from_key=? AND started_at>? AND started_at<?)",
    ]);
  });

  it("a page back through the log walks calls_started_id from the cursor (no sort), today's queue figures read a range of calls_started", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const sqls: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => (sqls.push(sql), prepare(sql))) as typeof db.prepare;
    log.list({ before: { startedAt: "2026-11-30T10:00:00.000Z", callId: "c-9" }, limit: 50 });
    log.list({ userId: "alice", missed: true, openOnly: true, before: { startedAt: "2026-11-30T10:00:00.000Z", callId: "c-9" }, limit: 50 });
    log.queueStats("2026-11-30T00:00:00.000Z");
    db.prepare = prepare;
    const plan = (sql: string, args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail);
    const [page, userPage, stats] = [sqls.find((q) => q.startsWith("SELECT * FROM calls c WHERE (c.started_at"))!, sqls.find((q) => q.includes("EXISTS"))!, sqls.find((q) => q.includes("GROUP BY queue"))!];
    expect(plan(page, ["2026-11-30T10:00:00.000Z", "c-9", 50])).toEqual(["SEARCH c USING INDEX calls_started_id ((started_at,call_id)<(?,?))"]);
    // A user's page: the same walk, each call's legs checked by index (which one is the planner's choice), no sort.
    const user = plan(userPage, ["2026-11-30T10:00:00.000Z", "c-9", "alice", 50]);
    expect(user[0]).toBe("SEARCH c USING INDEX calls_started_id ((started_at,call_id)<(?,?))");
    expect(user.filter((step) => /SCAN|TEMP B-TREE/.test(step))).toEqual([]);
    expect(plan(stats, ["2026-11-30T00:00:00.000Z"])).toEqual(["SEARCH calls USING INDEX calls_started_id (started_at>?)", "USE TEMP B-TREE FOR GROUP BY"]);
  });

  it("markOpenDone closes the named users' open missed legs (or everyone's) and says whose", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    for (const c of await snapshots("08-queue-support-abandoned")) log.save(c, c.times.started);
    const callId = log.list()[0]!.callId;
    expect(log.markOpenDone(callId, ["bob", "carol"], "2026-11-30T10:00:00.000Z")).toEqual(["bob"]);
    expect(log.markOpenDone(callId, ["bob"], "2026-11-30T10:00:01.000Z")).toEqual([]);
    expect(log.markOpenDone(callId, null, "2026-11-30T10:00:02.000Z")).toEqual(["alice"]);
    expect(log.get(callId)!.legs.map((l) => [l.userId, l.outcome, l.done])).toEqual([
      ["bob", "missed", true],
      ["alice", "missed", true],
    ]);
  });

  it("a database of the previous schema gets from_key filled in when it is opened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-store-"));
    const path = join(dir, "old.db");
    let db = openDb(path);
    const log = new CallLog(db);
    for (const c of await snapshots("03-inbound-missed-caller-abandon")) log.save(c, c.times.started);
    // Back to schema 2: no from_key column, no index.
    db.exec(
      "DROP INDEX outbox_state; " +
        ["event_id", "target", "call_id", "state", "created_at", "retry_since", "last_attempt_at", "last_status"].map((c) => `ALTER TABLE outbox DROP COLUMN ${c};`).join(" ") +
        " DROP TABLE wrap_ups; DROP INDEX calls_started_id; ALTER TABLE calls DROP COLUMN did_raw; ALTER TABLE legs DROP COLUMN transferred; ALTER TABLE calls DROP COLUMN answered_by_external; ALTER TABLE calls DROP COLUMN park; ALTER TABLE calls DROP COLUMN end_estimated; ALTER TABLE legs DROP COLUMN missed_uncertain; DROP INDEX calls_from_key; DROP INDEX open_calls_call; DROP TABLE store_probe; ALTER TABLE calls DROP COLUMN from_key; PRAGMA user_version = 2",
    );
    db.close();
    db = openDb(path);
    expect(db.prepare("SELECT from_key, from_raw, from_e164 FROM calls").all()).toEqual([{ from_key: "+49891234567", from_raw: "0049891234567", from_e164: "+49891234567" }]);
    db.close();
  });
});

/** A CallLog whose saves throw ("disk full") until heal(). */
function failingDisk(log: CallLog): { log: CallLog; heal: () => void } {
  let fail = true;
  const wrapped = Object.assign(Object.create(log), {
    save: (c: Call, at: string) => {
      if (fail) throw new Error("disk full");
      return log.save(c, at);
    },
  }) as CallLog;
  return { log: wrapped, heal: () => (fail = false) };
}

describe("CallLogWriter", () => {
  it("coalesces a turn's snapshots per call into one transaction", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    let saves = 0;
    const counting = Object.assign(Object.create(log), { save: (c: Call, at: string) => (saves++, log.save(c, at)) }) as CallLog;
    const writer = new CallLogWriter(counting, db, () => undefined);
    const calls = await snapshots("06-ringgroup-answered");
    for (const c of calls) writer.save(c, c.times.started);
    expect(writer.backlog).toBe(1);
    await turn();
    expect(saves).toBe(1);
    expect(log.list()[0]).toMatchObject({ state: "ended", outcome: "answered" });
  });

  it("wraps its transactions once: a write builds no new transaction function (garbage per pop, docs/benchmarks.md)", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const writer = new CallLogWriter(log, db, () => undefined);
    const wrap = db.transaction.bind(db);
    let wrapped = 0;
    db.transaction = ((fn: Parameters<typeof wrap>[0]) => (wrapped++, wrap(fn))) as typeof db.transaction;
    const calls = await snapshots("06-ringgroup-answered");
    for (const c of calls) {
      writer.save(c, c.times.started);
      await turn();
    }
    expect(calls.length).toBeGreaterThan(3);
    expect(wrapped).toBe(0);
    expect(log.list()[0]).toMatchObject({ state: "ended", outcome: "answered" });
  });

  it("keeps snapshots when a write fails and writes them later", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const disk = failingDisk(log);
    const flaky = disk.log;
    const errors: number[] = [];
    const writer = new CallLogWriter(flaky, db, (_e, n) => errors.push(n));
    const [first] = await snapshots("01-inbound-answered");
    writer.save(first!, first!.times.started);
    await turn();
    expect(errors).toEqual([1]);
    expect(writer.backlog).toBe(1);
    disk.heal();
    writer.flush();
    expect(writer.backlog).toBe(0);
    expect(log.list()).toHaveLength(1);
  });

  it("bounds the backlog by calls while writes fail: live snapshots past it are dropped and counted, ended calls never", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const disk = failingDisk(log);
    const flaky = disk.log;
    const dropped: string[] = [];
    const errors: number[] = [];
    const writer = new CallLogWriter(flaky, db, (_e, n) => errors.push(n), { maxBacklog: 2, now: () => 1_000, onDrop: (id) => dropped.push(id) });
    const snaps = await snapshots("01-inbound-answered");
    const live = snaps.find((c) => c.state === "connected")!;
    const ended = snaps.at(-1)!;
    const as = (c: Call, callId: string): Call => ({ ...c, callId });
    writer.save(as(live, "a"), live.times.started);
    writer.save(as(live, "b"), live.times.started);
    await turn();
    expect([writer.backlog, writer.failingSince, errors]).toEqual([2, 1_000, [2]]);
    // At the bound: a third live call is dropped; a newer snapshot of a waiting call replaces it.
    writer.save(as(live, "c"), live.times.started);
    writer.save(as(ended, "a"), ended.times.ended!);
    expect([writer.backlog, dropped]).toEqual([2, ["c"]]);
    // An ended call is kept past the bound.
    writer.save(as(ended, "c"), ended.times.ended!);
    writer.save(as(ended, "d"), ended.times.ended!);
    expect(writer.backlog).toBe(4);
    writer.flush();
    expect(errors).toEqual([2, 4]);
    disk.heal();
    writer.flush();
    expect([writer.backlog, writer.failingSince]).toEqual([0, null]);
    expect(log.list().map((c) => [c.callId, c.state]).sort()).toEqual([
      ["a", "ended"],
      ["b", "connected"],
      ["c", "ended"],
      ["d", "ended"],
    ]);
  });

  it("checkWritable writes a probe row after a quiet spell, at most once per 10 s, and reports a disk that refuses it", () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    let t = 1_000_000;
    const errors: number[] = [];
    const writer = new CallLogWriter(log, db, (_e, n) => errors.push(n), { now: () => t });
    const probeAt = () => (db.prepare("SELECT at FROM store_probe").get() as { at: string } | undefined)?.at;
    writer.checkWritable();
    expect(probeAt()).toBeUndefined(); // the writer was just created: nothing to learn yet
    t += 10_000;
    writer.checkWritable();
    expect(probeAt()).toBe(new Date(t).toISOString());
    db.exec("CREATE TRIGGER refuse BEFORE UPDATE ON store_probe BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    t += 5_000;
    writer.checkWritable();
    expect(writer.failingSince).toBeNull(); // within 10 s of the last good write: not asked again
    t += 5_000;
    writer.checkWritable();
    expect([writer.failingSince, errors]).toEqual([t, [0]]);
    const failedAt = t;
    db.exec("DROP TRIGGER refuse");
    t += 1_000;
    writer.checkWritable();
    expect(writer.failingSince).toBe(failedAt); // probes are at most every 10 s
    t += 9_000;
    writer.checkWritable();
    expect(writer.failingSince).toBeNull();
  });
});
