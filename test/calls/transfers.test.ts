/**
 * Attended transfer and pickup by typed events (the recorded traces 26-31, 40, 43 run in
 * scenarios.test.ts): these tests drive the tracker with
 * typed PBX events shaped like Asterisk 22's (the AttendedTransfer header groups
 * OrigTransferer / SecondTransferer / Transferee / TransferTarget; Pickup's Channel/Target).
 */
import { describe, expect, it } from "vitest";
import type { ChannelInfo, PbxEvent } from "../../src/ami/events.js";
import type { AnyCallEvent } from "../../src/calls/model.js";
import { CallTracker } from "../../src/calls/tracker.js";
import { labConfig } from "../helpers/labConfig.js";
import { Directory } from "../../src/directory/users.js";

function tracker() {
  const config = labConfig();
  const dir = new Directory({});
  dir.applyConfig(config.users);
  const events: AnyCallEvent[] = [];
  let n = 0;
  const t = new CallTracker({
    userForDevice: (d) => dir.userForDevice(d),
    deviceForExtension: (e) => dir.deviceForExtension(e),
    trunks: new Set(config.trunks),
    numbers: config.numbers,
    missedPolicy: "all-rung",
    ivrVariables: [],
    keepEndedMs: 60_000,
    onEvent: (e) => events.push(e),
    newCallId: () => `call-${++n}`,
  });
  let at = 1_000;
  const feed = (...evs: PbxInput[]) => {
    for (const e of evs) t.handle({ ...e, at: (at += 100) } as PbxEvent);
  };
  return { t, events, feed };
}

/** A PbxEvent without its time (the test clock adds it). */
type PbxInput = PbxEvent extends infer E ? (E extends PbxEvent ? Omit<E, "at"> : never) : never;

function ch(name: string, id: string, linkedId: string, state: string, callerNum = "", exten = "s"): ChannelInfo {
  return { channelId: id, linkedId, name, state, callerNum, callerName: "", connectedNum: "", connectedName: "", context: "", exten };
}

const carrier = (state: string) => ch("PJSIP/carrier-00000001", "a.1", "a.1", state, "+4930123456", "4930555000");
const alice1 = (state: string) => ch("PJSIP/1001-00000002", "a.2", "a.1", state, "1001");
const alice2 = (state: string) => ch("PJSIP/1001-00000003", "b.1", "b.1", state, "1001", "1002");
const bob = (state: string) => ch("PJSIP/1002-00000004", "b.2", "b.1", state, "1002");

/** Alice has answered an inbound call (A) and then called Bob (B), who answered. */
function twoCalls(feed: ReturnType<typeof tracker>["feed"]) {
  feed(
    { type: "channelNew", ch: carrier("Ring") },
    { type: "channelNew", ch: alice1("Down") },
    { type: "dialBegin", caller: carrier("Ring"), dest: alice1("Down"), dialString: "1001" },
    { type: "channelState", ch: alice1("Ringing") },
    { type: "channelState", ch: alice1("Up") },
    { type: "dialEnd", caller: carrier("Ring"), dest: alice1("Up"), status: "ANSWER" },
    { type: "channelNew", ch: alice2("Ring") },
    { type: "channelNew", ch: bob("Down") },
    { type: "dialBegin", caller: alice2("Ring"), dest: bob("Down"), dialString: "1002" },
    { type: "channelState", ch: bob("Ringing") },
    { type: "channelState", ch: bob("Up") },
  );
}

describe("attended transfer", () => {
  it("joins the two linkedids into one call; the target sees the original caller", () => {
    const { t, events, feed } = tracker();
    twoCalls(feed);
    feed(
      { type: "attendedTransfer", origTransferer: alice1("Up"), secondTransferer: alice2("Up"), transferee: carrier("Up"), target: bob("Up"), ok: true },
      { type: "hangup", ch: alice1("Up"), cause: 16, causeText: "Normal Clearing" },
      { type: "hangup", ch: alice2("Up"), cause: 16, causeText: "Normal Clearing" },
    );
    const [active] = t.activeCalls();
    expect(t.activeCalls()).toHaveLength(1);
    expect(active).toMatchObject({
      callId: "call-1",
      linkedIds: ["a.1", "b.1"],
      from: { raw: "+4930123456" },
      answeredBy: { userId: "bob", device: "PJSIP/1002" },
      transfer: { kind: "attended", by: { userId: "alice", device: "PJSIP/1001" }, to: { raw: "1002", userId: "bob", device: "PJSIP/1002" }, originalCaller: { raw: "+4930123456" } },
    });
    const toBob = events.find((e) => e.name === "callTransferred" && e.userId === "bob")!;
    expect(toBob.call.callId).toBe("call-1");
    expect(toBob.call.from.raw).toBe("+4930123456");
    const merged = events.find((e) => e.name === "callEnded" && e.call.callId === "call-2")!;
    expect(merged.call.mergedInto).toBe("call-1");

    feed(
      { type: "hangup", ch: bob("Up"), cause: 16, causeText: "Normal Clearing" },
      { type: "hangup", ch: carrier("Up"), cause: 16, causeText: "Normal Clearing" },
    );
    const ended = events.filter((e) => e.name === "callEnded" && e.userId === null && !e.call.mergedInto);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.call.outcome).toBe("answered");
    expect(ended[0]!.call.legs.map((l) => [l.userId, l.outcome])).toEqual([
      ["alice", "answered_by_me"],
      ["bob", "answered_by_me"],
    ]);
    expect(t.activeCalls()).toEqual([]);
  });
});

describe("pickup", () => {
  it("the picker answered, the rung agent did not miss it", () => {
    const { t, events, feed } = tracker();
    const bobPick = (state: string) => ch("PJSIP/1002-00000005", "p.1", "p.1", state, "1002", "*8");
    feed(
      { type: "channelNew", ch: carrier("Ring") },
      { type: "channelNew", ch: alice1("Down") },
      { type: "dialBegin", caller: carrier("Ring"), dest: alice1("Down"), dialString: "1001" },
      { type: "channelState", ch: alice1("Ringing") },
      { type: "channelNew", ch: bobPick("Ring") },
      { type: "channelState", ch: bobPick("Up") },
      { type: "pickup", ch: bobPick("Up"), target: alice1("Ringing") },
      { type: "hangup", ch: alice1("Ringing"), cause: 26, causeText: "Answered elsewhere" },
    );
    expect(t.activeCalls().map((c) => c.callId)).toEqual(["call-1"]);
    feed(
      { type: "hangup", ch: carrier("Up"), cause: 16, causeText: "Normal Clearing" },
      { type: "hangup", ch: bobPick("Up"), cause: 16, causeText: "Normal Clearing" },
    );
    const ended = events.filter((e) => e.name === "callEnded" && e.userId === null && !e.call.mergedInto);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.call).toMatchObject({ outcome: "answered", answeredBy: { userId: "bob" } });
    expect(ended[0]!.call.legs.map((l) => [l.userId, l.outcome])).toEqual([
      ["alice", "answered_elsewhere"],
      ["bob", "picked_up"],
    ]);
    expect(events.some((e) => e.name === "callMissed")).toBe(false);
    const stopped = events.find((e) => e.name === "callRingingStopped" && e.userId === "alice");
    expect(stopped && "reason" in stopped ? stopped.reason : null).toBe("picked_up_elsewhere");
  });
});

describe("robustness", () => {
  it("skips events for unknown channels and never throws", () => {
    const { t, events, feed } = tracker();
    expect(() =>
      feed(
        { type: "hangup", ch: bob("Up"), cause: 16, causeText: "" },
        { type: "channelState", ch: bob("Up") },
        { type: "dialEnd", caller: null, dest: bob("Up"), status: "ANSWER" },
        { type: "hold", ch: bob("Up") },
        { type: "pickup", ch: bob("Up"), target: alice1("Up") },
        { type: "attendedTransfer", origTransferer: null, secondTransferer: null, transferee: null, target: null, ok: true },
        { type: "blindTransfer", transferer: null, transferee: null, exten: "1", context: "", ok: true },
      ),
    ).not.toThrow();
    expect(events).toEqual([]);
    expect(t.size).toEqual({ calls: 0, channels: 0 });
  });

  it("forgets ended calls after keepEndedMs, and late events for them do nothing", () => {
    const { t, events, feed } = tracker();
    feed(
      { type: "channelNew", ch: carrier("Ring") },
      { type: "hangup", ch: carrier("Ring"), cause: 16, causeText: "" },
      { type: "channelState", ch: carrier("Up") },
    );
    expect(events.filter((e) => e.name === "callEnded")).toHaveLength(1);
    t.handle({ type: "channelState", ch: carrier("Up"), at: 1_000_000 });
    expect(t.size).toEqual({ calls: 0, channels: 0 });
  });
});
