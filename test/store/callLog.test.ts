import { describe, expect, it } from "vitest";
import { replayFiles } from "../../src/calls/replay.js";
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

  it("keeps the open-call map while the call runs", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    const calls = await snapshots("01-inbound-answered");
    const running = calls.find((c) => c.state === "connected")!;
    log.save(running, running.times.started);
    expect([...log.openCallIds()]).toEqual([["1795305921.0", "call-0001"]]);
    expect(log.openCalls()[0]!.callId).toBe("call-0001");
  });

  it("marks a missed leg done when the user calls the number back", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    for (const c of await snapshots("03-inbound-missed-caller-abandon")) log.save(c, c.times.started);
    expect(log.list({ userId: "alice", missed: true, openOnly: true })).toHaveLength(1);
    const back = (await snapshots("12-outbound-no-answer")).at(-1)!;
    // Alice calls +49891234567 back and is answered (the recorded call was not, so answer it here).
    const answered: Call = { ...back, callId: "call-back", outcome: "answered", times: { ...back.times, started: "2099-01-01T00:00:00.000Z" } };
    log.save(answered, "2099-01-01T00:00:10.000Z");
    expect(log.list({ userId: "alice", missed: true, openOnly: true })).toHaveLength(0);
    expect(log.list({ userId: "alice", missed: true })).toHaveLength(1);
  });
});

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

  it("keeps snapshots when a write fails and writes them later", async () => {
    const db = openDb(":memory:");
    const log = new CallLog(db);
    let fail = true;
    const flaky = Object.assign(Object.create(log), {
      save: (c: Call, at: string) => {
        if (fail) throw new Error("disk full");
        log.save(c, at);
      },
    }) as CallLog;
    const errors: number[] = [];
    const writer = new CallLogWriter(flaky, db, (_e, n) => errors.push(n));
    const [first] = await snapshots("01-inbound-answered");
    writer.save(first!, first!.times.started);
    await turn();
    expect(errors).toEqual([1]);
    expect(writer.backlog).toBe(1);
    fail = false;
    writer.flush();
    expect(writer.backlog).toBe(0);
    expect(log.list()).toHaveLength(1);
  });
});
