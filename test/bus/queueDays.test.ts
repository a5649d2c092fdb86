/**
 * The queue figures of the day a cluster worker keeps (bus/queueDays.ts): counted as the SQLite
 * call log's queueStats counts the same calls, each call once however often it ends, from the
 * figures a dead worker left, and by the local day of the call's start.
 */
import { describe, expect, it } from "vitest";
import type { Call } from "../../src/calls/model.js";
import { startOfDay } from "../../src/desk/queueBoard.js";
import { localDay, QueueDayCounts } from "../../src/bus/queueDays.js";
import { CallLog } from "../../src/store/callLog.js";
import { openDb } from "../../src/store/db.js";
import { makeCall } from "../helpers/calls.js";

const TZ = "Europe/Berlin";
const NOW = Date.parse("2026-11-30T10:00:00.000Z");
const FROM = new Date(startOfDay(NOW, TZ)).toISOString(); // 2026-11-29T23:00:00.000Z

function queueCall(queue: string | null, started: string, over: Partial<Call> & { wait?: number | null } = {}): Call {
  const { wait = null, ...rest } = over;
  return makeCall({
    queue,
    state: "ended",
    outcome: "answered",
    ...rest,
    times: { started, ringing: started, answered: null, ended: started, waitSeconds: wait, talkSeconds: null },
  });
}

/** Calls of both days around Berlin's midnight, every outcome, and the ones queueStats leaves out. */
function dayOfCalls(): Call[] {
  return [
    queueCall("support", "2026-11-30T08:00:00.000Z", { wait: 4 }),
    queueCall("support", "2026-11-30T08:01:00.000Z", { wait: 7 }),
    queueCall("support", "2026-11-30T08:02:00.000Z", { wait: 8 }),
    queueCall("support", "2026-11-30T08:03:00.000Z", { wait: null }), // answered, no wait: not in the mean
    queueCall("support", "2026-11-30T08:04:00.000Z", { outcome: "abandoned", wait: 30 }), // a caller's wait is no answered wait
    queueCall("support", "2026-11-29T23:30:00.000Z", { outcome: "abandoned" }), // 00:30 in Berlin: today
    queueCall("support", "2026-11-29T22:30:00.000Z", { wait: 100 }), // 23:30 in Berlin: yesterday
    queueCall("support", "2026-11-30T08:05:00.000Z", { outcome: "unanswered" }), // counted in neither, as SQL
    queueCall("sales", "2026-11-30T09:00:00.000Z", { outcome: "abandoned" }),
    queueCall("sales", "2026-11-30T09:01:00.000Z", { state: "connected", outcome: null }), // still running
    queueCall(null, "2026-11-30T09:02:00.000Z", { wait: 1 }), // no queue
  ];
}

describe("QueueDayCounts", () => {
  it("counts today's ended queue calls exactly as the SQLite call log's queueStats does", () => {
    const calls = dayOfCalls();
    const log = new CallLog(openDb(":memory:"));
    const counts = new QueueDayCounts(TZ);
    for (const c of calls) {
      log.save(c, c.times.started);
      counts.add(c);
    }
    const sql = log.queueStats(FROM);
    expect(sql).toEqual(
      new Map([
        ["sales", { answered: 0, abandoned: 1, avgWaitSeconds: null }],
        ["support", { answered: 4, abandoned: 2, avgWaitSeconds: 6.3 }],
      ]),
    );
    expect(counts.stats(FROM)).toEqual(sql);
    // Yesterday's call is on yesterday's board only.
    const yesterday = new Date(startOfDay(NOW - 86_400_000, TZ)).toISOString();
    expect(counts.stats(yesterday)).toEqual(new Map([["support", { answered: 1, abandoned: 0, avgWaitSeconds: 100 }]]));
  });

  it("counts each call once: a second ended emission and a replay of every call add nothing", () => {
    const counts = new QueueDayCounts(TZ);
    const calls = dayOfCalls();
    const changed = calls.map((c) => counts.add(c) !== null);
    expect(changed).toEqual([true, true, true, true, true, true, true, true, true, false, false]);
    const once = counts.stats(FROM);
    for (const c of calls) expect(counts.add({ ...c, annotation: null }), c.callId).toBeNull();
    expect(counts.stats(FROM)).toEqual(once);
  });

  it("a call whose open-call entry is purged leaves the stored ids, and is still counted once by this worker", () => {
    const counts = new QueueDayCounts(TZ);
    const [c1, c2] = dayOfCalls();
    counts.add(c1!);
    counts.settle(c1!);
    const day = counts.add(c2!)!;
    expect(day.callIds).toEqual([c2!.callId]);
    expect(counts.add(c1!)).toBeNull();
    counts.settle(c1!); // again: nothing to do
    expect(counts.stats(FROM).get("support")).toEqual({ answered: 2, abandoned: 0, avgWaitSeconds: 5.5 });
  });

  it("a merged-away call is no call of the log: not counted", () => {
    const counts = new QueueDayCounts(TZ);
    expect(counts.add(queueCall("support", "2026-11-30T08:00:00.000Z", { wait: 3, mergedInto: "other" }))).toBeNull();
    expect(counts.stats(FROM)).toEqual(new Map());
  });

  it("goes on from stored figures (a takeover): their calls are not counted again, new ones are added", () => {
    const first = new QueueDayCounts(TZ);
    const calls = dayOfCalls();
    for (const c of calls.slice(0, 5)) first.add(c);
    const stored = [first.add(calls[5]!)!]; // the support day, all six calls in it
    const next = new QueueDayCounts(TZ);
    next.load(JSON.parse(JSON.stringify(stored)));
    expect(next.stats(FROM)).toEqual(first.stats(FROM));
    // The dead worker's last call, ended again by its successor (its open-call entry was still there).
    expect(next.add(calls[4]!)).toBeNull();
    expect(next.add(queueCall("support", "2026-11-30T10:00:00.000Z", { wait: 12 }))).not.toBeNull();
    expect(next.stats(FROM).get("support")).toEqual({ answered: 5, abandoned: 2, avgWaitSeconds: 7.8 });
  });

  it("rolls over at local midnight: the new day starts from zero, a call of the day before counts for that day", () => {
    const counts = new QueueDayCounts(TZ);
    counts.add(queueCall("support", "2026-11-30T22:50:00.000Z", { wait: 5 })); // 23:50 Berlin, 30 Nov
    const tomorrow = new Date(startOfDay(Date.parse("2026-11-30T23:10:00.000Z"), TZ)).toISOString();
    expect(tomorrow).toBe("2026-11-30T23:00:00.000Z");
    expect(counts.stats(tomorrow)).toEqual(new Map());
    counts.add(queueCall("support", "2026-11-30T23:05:00.000Z", { outcome: "abandoned" })); // 00:05 Berlin, 1 Dec
    // A call that began before midnight and ends after it: yesterday's, as queueStats (by start).
    counts.add(queueCall("support", "2026-11-30T22:59:00.000Z", { wait: 9 }));
    expect(counts.stats(tomorrow)).toEqual(new Map([["support", { answered: 0, abandoned: 1, avgWaitSeconds: null }]]));
    expect(counts.stats(FROM)).toEqual(new Map([["support", { answered: 2, abandoned: 0, avgWaitSeconds: 7 }]]));
    expect(counts.dropBefore("2026-12-01").map((d) => d.day)).toEqual(["2026-11-30"]);
    expect(counts.stats(FROM)).toEqual(new Map());
  });

  it("localDay is the date in the zone (DST change days included)", () => {
    expect(localDay(Date.parse("2026-11-29T23:30:00.000Z"), TZ)).toBe("2026-11-30");
    expect(localDay(Date.parse("2026-11-29T22:59:59.999Z"), TZ)).toBe("2026-11-29");
    expect(localDay(Date.parse("2026-03-29T22:30:00.000Z"), TZ)).toBe("2026-03-30"); // CEST
    expect(localDay(Date.parse("2026-11-30T03:00:00.000Z"), "America/New_York")).toBe("2026-11-29");
  });
});
