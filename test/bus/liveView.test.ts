/**
 * A gateway's live view (what snapshots, claims and command routing read): the newest
 * call-level copy per call, ended calls kept keepEndedMs then forgotten, agent states, and
 * which PBX a command goes to.
 */
import { describe, expect, it } from "vitest";
import { LiveView } from "../../src/bus/liveView.js";
import type { AnyCallEvent, Call } from "../../src/calls/model.js";

const call = (callId: string, state: string, pbxId: string) => ({ callId, state, pbxId }) as unknown as Call;
const ev = (c: Call, at: number, userId: string | null = null) => ({ name: "callUpdated", userId, call: c, at }) as AnyCallEvent;

describe("LiveView", () => {
  it("keeps the newest call-level copy, forgets ended calls after keepEndedMs, ignores user copies for the call list", () => {
    const v = new LiveView(1000);
    v.call(ev(call("c1", "ringing", "berlin"), 0), "berlin");
    v.call(ev(call("c1", "connected", "berlin"), 10, "alice"), "berlin"); // a user copy: routing only
    expect(v.getCall("c1")!.state).toBe("ringing");
    v.call(ev(call("c1", "ended", "berlin"), 20), "berlin");
    v.call(ev(call("c2", "ringing", "hamburg"), 500), "hamburg");
    expect(v.activeCalls().map((c) => c.callId)).toEqual(["c2"]);
    expect(v.getCall("c1")!.state).toBe("ended");
    v.call(ev(call("c2", "connected", "hamburg"), 1020), "hamburg");
    expect(v.getCall("c1")).toBeUndefined();
  });

  it("routes a command to the call's PBX, else the user's last PBX, else the only PBX known", () => {
    const v = new LiveView(1000);
    expect(v.pbxFor(undefined, "alice")).toBeNull();
    v.call(ev(call("c1", "ringing", "berlin"), 0), "berlin");
    expect(v.pbxFor("c1", "alice")).toBe("berlin");
    expect(v.pbxFor(undefined, "alice")).toBe("berlin"); // the only one
    v.agent("bob", { deviceState: null, queues: [], activity: "idle", wrapUp: null, pbxId: "hamburg" }, "hamburg");
    expect(v.pbxFor(undefined, "bob")).toBe("hamburg");
    expect(v.pbxFor(undefined, "carol")).toBeNull(); // two PBXs, nothing known of carol
    expect(v.agentStateOf("bob")!.activity).toBe("idle");
  });
});
