/**
 * A user with phones on two PBXs: each worker reports a state built from its own PBX; the
 * gateway's live view keeps both and answers (snapshots, live frames) their merge, the same
 * whichever PBX spoke last (before: the last one won, so the state flip-flopped).
 */
import { describe, expect, it } from "vitest";
import { mergeAgentStates } from "../../src/bus/agentMerge.js";
import { LiveView } from "../../src/bus/liveView.js";
import type { AgentState } from "../../src/calls/model.js";

const st = (over: Partial<AgentState>): AgentState => ({ deviceState: "not_inuse", queues: [], activity: "idle", wrapUp: null, ...over });
const HAMBURG = st({ pbxId: "hamburg", deviceState: "inuse", activity: "talking", queues: [{ queue: "support", loggedIn: true, paused: false, reason: null }] });
const BERLIN = st({
  pbxId: "berlin",
  deviceState: "not_inuse",
  activity: "wrap_up",
  wrapUp: { callId: "c9", since: "2026-11-30T10:00:00.000Z", until: null },
  queues: [
    { queue: "support", loggedIn: true, paused: true, reason: "wrap-up" },
    { queue: "billing", loggedIn: false, paused: false, reason: null },
  ],
});

describe("agent state over several PBXs", () => {
  it("merges: busiest device and activity, the union of queues with their PBX, the running wrap-up, no pbxId", () => {
    expect(mergeAgentStates(new Map([["hamburg", HAMBURG], ["berlin", BERLIN]]))).toEqual({
      deviceState: "inuse",
      activity: "talking",
      wrapUp: { callId: "c9", since: "2026-11-30T10:00:00.000Z", until: null },
      queues: [
        { queue: "billing", loggedIn: false, paused: false, reason: null, pbxId: "berlin" },
        { queue: "support", loggedIn: true, paused: true, reason: "wrap-up", pbxId: "berlin" },
        { queue: "support", loggedIn: true, paused: false, reason: null, pbxId: "hamburg" },
      ],
    });
  });

  it("offline only when offline everywhere; one PBX keeps its pbxId and names it on each queue", () => {
    const off = st({ deviceState: "unavailable", activity: "offline" });
    expect(mergeAgentStates(new Map([["a", off], ["b", st({ activity: "idle" })]]))).toMatchObject({ deviceState: "not_inuse", activity: "idle" });
    expect(mergeAgentStates(new Map([["a", off], ["b", off]]))).toMatchObject({ deviceState: "unavailable", activity: "offline" });
    expect(mergeAgentStates(new Map([["hamburg", HAMBURG]]))).toEqual({ ...HAMBURG, queues: [{ ...HAMBURG.queues[0]!, pbxId: "hamburg" }] });
  });

  it("the live view answers the merge whichever PBX spoke last, and says when the merge did not change", () => {
    const v = new LiveView(1000);
    v.agent("alice", HAMBURG, "hamburg");
    v.agent("alice", BERLIN, "berlin");
    const both = v.agentStateOf("alice")!;
    expect(both).toMatchObject({ activity: "talking", deviceState: "inuse" });
    expect(both.pbxId).toBeUndefined();
    // Hamburg again, unchanged: nothing new to send; Berlin's state did not replace Hamburg's.
    expect(v.agent("alice", HAMBURG, "hamburg")).toBeNull();
    expect(v.agentStateOf("alice")).toEqual(both);
    const w = new LiveView(1000);
    w.agent("alice", BERLIN, "berlin");
    w.agent("alice", HAMBURG, "hamburg");
    expect(w.agentStateOf("alice")).toEqual(both);
    expect([...v.agentStatesOf("alice").keys()].sort()).toEqual(["berlin", "hamburg"]);
  });
});
