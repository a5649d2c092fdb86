/**
 * Issue 7, "no request may cost O(all active calls) per frame": with many calls active, claim
 * frames and resyncs must not re-render the active-call list per frame. The harness counts the
 * server's reads of its `activeCalls` dependency (each one is a render of every active call).
 */
import { afterEach, describe, expect, it } from "vitest";
import { serverLimitsSchema } from "../../src/config.js";
import { event, leg, makeCall } from "../helpers/calls.js";
import { startHarness, type Harness } from "../helpers/cti.js";

let h: Harness;
afterEach(async () => h?.close());

const ACTIVE = 1_000;
/** Budgets out of the way: this test is about the cost of each frame, not their number. */
const limits = { ...serverLimitsSchema.parse({}), framesPerSecond: 1_000, frameBurst: 100_000 };

describe("the cost of a frame", () => {
  it("claims cost one lookup; resyncs read the active calls once per change, however many ask", async () => {
    // A supervisor's snapshot of every call is big: room for eleven of them in its queue.
    h = await startHarness({ server: { limits, maxBufferedBytes: 64 * 1024 * 1024 } });
    for (let i = 0; i < ACTIVE; i++) h.calls.push(makeCall({ callId: `bg-${i}`, legs: [leg("bob", "PJSIP/1002")] }));
    const mine = makeCall({ callId: "mine", legs: [leg("alice", "PJSIP/1001")] });
    h.calls.push(mine);
    const alice = h.connect(await h.sign("alice"));
    const tab2 = h.connect(await h.sign("alice"));
    const sue = h.connect(await h.sign("sue"));
    const [a, , s] = await Promise.all([alice.ready(), tab2.ready(), sue.ready()]);
    expect(a.snapshot.calls.map((c: any) => c.callId)).toEqual(["mine"]);
    expect(s.snapshot.calls).toHaveLength(ACTIVE + 1);
    expect(h.activeCallsReads()).toBe(1);

    for (let i = 0; i < 100; i++) alice.send({ type: "claim", callId: i % 2 === 0 ? "mine" : "bg-7" });
    for (let i = 0; i < 20; i++) alice.send({ type: "resume", afterSeq: 0 });
    for (let i = 0; i < 10; i++) sue.send({ type: "resume", afterSeq: 0 });
    await Promise.all([alice.sync(), sue.sync()]);
    await tab2.sync();
    // bg-7 is bob's: not found for alice, as an unknown id would be.
    expect(alice.messages.filter((m) => m.type === "error").map((m) => m.code)).toEqual(Array(50).fill("not_found"));
    expect(tab2.messages.filter((m) => m.type === "call.claimed")).toHaveLength(50);
    const sueSnapshots = sue.messages.filter((m) => m.type === "snapshot");
    expect(sueSnapshots).toHaveLength(11);
    expect(sueSnapshots.at(-1).calls).toEqual(s.snapshot.calls);
    expect(alice.messages.filter((m) => m.type === "snapshot").at(-1).calls.map((c: any) => c.callId)).toEqual(["mine"]);
    expect(h.activeCallsReads()).toBe(1);

    // One change: the next resyncs read once between them.
    h.cti.publish(event("callUpdated", null, mine));
    for (let i = 0; i < 10; i++) sue.send({ type: "resume", afterSeq: 0 });
    for (let i = 0; i < 10; i++) alice.send({ type: "resume", afterSeq: 0 });
    await Promise.all([alice.sync(), sue.sync()]);
    expect(h.activeCallsReads()).toBe(2);
  });
});
