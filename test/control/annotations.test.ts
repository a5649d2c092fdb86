/** The annotation policy: who may annotate (parties, supervisors), the merge rule, the history. */
import { describe, expect, it } from "vitest";
import type { Annotation, Call } from "../../src/calls/model.js";
import { createAnnotations, isCallParty, mergeAnnotation } from "../../src/control/annotations.js";
import { CallLog } from "../../src/store/callLog.js";
import { openDb } from "../../src/store/db.js";
import { leg, makeCall, party, T0 } from "../helpers/calls.js";

function setup(live: Call[] = [], stored: Call[] = []) {
  const log = new CallLog(openDb(":memory:"));
  for (const c of stored) log.save(c, new Date(T0).toISOString());
  const calls = new Map(live.map((c) => [c.callId, c]));
  const applied: [string, Annotation][] = [];
  let t = T0;
  const a = createAnnotations({
    liveCall: (id) => calls.get(id),
    applyLive: (id, ann) => {
      applied.push([id, ann]);
      calls.get(id)!.annotation = ann;
    },
    store: log,
    now: () => (t += 1000),
  });
  return { a, log, applied };
}

const alice = { userId: "alice", role: "agent" as const };
const bob = { userId: "bob", role: "agent" as const };
const sue = { userId: "sue", role: "supervisor" as const };

describe("merge rule", () => {
  it("an absent field keeps its value, null clears it, a string sets it; by/at are the last writer's", () => {
    const prev: Annotation = { recordId: "C-1", comment: "first", disposition: "sale", by: "alice", at: "t1" };
    expect(mergeAnnotation(prev, { comment: "second", disposition: null }, "sue", "t2")).toEqual({ recordId: "C-1", comment: "second", by: "sue", at: "t2" });
    expect(mergeAnnotation(null, { recordId: null }, "bob", "t3")).toEqual({ by: "bob", at: "t3" });
  });
});

describe("who may annotate", () => {
  it("parties are users with a leg or the user who placed the call", () => {
    const internal = makeCall({ direction: "internal", from: party("1001", { userId: "alice", extension: "1001" }), legs: [leg("bob", "PJSIP/1002")] });
    expect(isCallParty(internal, "alice")).toBe(true);
    expect(isCallParty(internal, "bob")).toBe(true);
    expect(isCallParty(internal, "carol")).toBe(false);
  });

  it("refuses a stranger on a live and on a stored call: nothing stored, nothing applied", () => {
    const live = makeCall({ callId: "live", legs: [leg("alice", "PJSIP/1001")] });
    const old = makeCall({ callId: "old", state: "ended", legs: [leg("alice", "PJSIP/1001", { state: "ended" })] });
    const { a, log, applied } = setup([live], [old]);
    expect(a.annotate(bob, "live", { comment: "forged" })).toEqual({ ok: false, code: "forbidden", message: "not a call of this user" });
    expect(a.annotate(bob, "old", { comment: "forged" })).toMatchObject({ ok: false, code: "forbidden" });
    expect(a.history(bob, "old")).toMatchObject({ ok: false, code: "forbidden" });
    expect(a.annotate(bob, "nope", { comment: "x" })).toMatchObject({ ok: false, code: "not_found" });
    expect(applied).toEqual([]);
    expect(log.annotations("live")).toEqual([]);
    expect(log.get("old")!.annotation).toBeNull();
  });

  it("a party and a supervisor may; the history keeps every entry as sent, the call the merge", () => {
    const old = makeCall({ callId: "old", state: "ended", legs: [leg("alice", "PJSIP/1001", { state: "ended" })] });
    const { a, log } = setup([], [old]);
    expect(a.annotate(alice, "old", { recordId: "C-1", comment: "hello" })).toMatchObject({ ok: true, annotation: { recordId: "C-1", comment: "hello", by: "alice" } });
    expect(a.annotate(sue, "old", { comment: null })).toMatchObject({ ok: true, annotation: { recordId: "C-1", by: "sue" } });
    expect(log.get("old")!.annotation).toEqual({ recordId: "C-1", by: "sue", at: new Date(T0 + 2000).toISOString() });
    expect(a.history(alice, "old")).toEqual({
      ok: true,
      annotations: [
        { by: "alice", at: new Date(T0 + 1000).toISOString(), recordId: "C-1", comment: "hello" },
        { by: "sue", at: new Date(T0 + 2000).toISOString(), comment: null },
      ],
    });
  });

  it("a live call rebuilt after a restart (no annotation in memory) merges onto the stored one", () => {
    const stored = makeCall({ callId: "c", legs: [leg("alice", "PJSIP/1001")], annotation: { recordId: "C-9", by: "alice", at: "t0" } });
    const live = makeCall({ callId: "c", legs: [leg("alice", "PJSIP/1001")], restored: true });
    const { a, log, applied } = setup([live], [stored]);
    expect(a.annotate(alice, "c", { disposition: "sale" })).toMatchObject({ ok: true, annotation: { recordId: "C-9", disposition: "sale" } });
    expect(applied.map(([id, ann]) => [id, ann.recordId, ann.disposition])).toEqual([["c", "C-9", "sale"]]);
    // The tracker's next snapshot carries the merge; a null one never erases the stored annotation.
    log.save({ ...live, annotation: null }, new Date(T0).toISOString());
    expect(log.get("c")!.annotation).toMatchObject({ recordId: "C-9", disposition: "sale" });
  });
});
