/** The folded state, frame by frame: replays older than the held snapshot never move it back. */
import { describe, expect, it } from "vitest";
import type { ClientEvents, EventName } from "../src/events.js";
import { FoldedState } from "../src/fold.js";
import type { AgentState, Call, CallMessage, DeviceState, SnapshotMessage } from "../src/wire.js";

const ts = "2026-11-30T04:00:00.000Z";
const leg = (state: string) => ({ userId: "alice", device: "PJSIP/1001", state, outcome: null, placed: false, ringingAt: null, answeredAt: null, endedAt: null, waitSeconds: null, talkSeconds: null });
const call = (callId: string, state: string): Call =>
  ({ callId, state, direction: "inbound", from: { raw: "+4930123456", e164: "+4930123456", display: "x", name: null }, to: { raw: "1001", e164: null, display: "1001", name: null }, legs: [leg(state)] }) as unknown as Call;
const msg = (type: string, seq: number, c: Call, pop = false): CallMessage => ({ v: 1, seq, type, ts, userId: "alice", call: c, pop }) as CallMessage;
const snap = (seq: number, calls: Call[]): SnapshotMessage => ({ v: 1, seq, type: "snapshot", ts, userId: "alice", calls });

function folded() {
  const events: { name: EventName; payload: any }[] = [];
  const s = new FoldedState((name, payload) => void events.push({ name, payload }), () => "alice");
  const of = <K extends EventName>(name: K): ClientEvents[K][] => events.filter((e) => e.name === name).map((e) => e.payload);
  return { s, of };
}

describe("FoldedState", () => {
  it("a replayed ringing older than the snapshot does not turn the connected call back, nor pop", () => {
    const { s, of } = folded();
    s.snapshot(snap(100, [call("a", "connected")]), true);
    s.callMessage(msg("call.ringing", 90, call("a", "ringing"), true));
    expect(s.calls.get("a")?.state).toBe("connected");
    expect(of("call").map((e) => e.replayed)).toEqual([true]);
    expect(of("pop")).toEqual([]);
    s.callMessage(msg("call.held", 101, call("a", "on_hold")));
    expect(s.calls.get("a")?.state).toBe("on_hold");
  });

  it("a replayed call that is not in the snapshot is reported, not added; its end settles it", () => {
    const { s, of } = folded();
    s.snapshot(snap(10, [call("gone", "connected")]), false);
    s.snapshot(snap(100, []), true);
    s.callMessage(msg("call.answered", 95, call("gone", "connected")));
    expect(s.calls.size).toBe(0);
    s.callMessage(msg("call.ended", 96, call("gone", "ended")));
    s.settleVanished();
    expect(of("ended").map((e) => [e.message?.seq ?? null, e.replayed])).toEqual([[96, true]]);
  });

  it("snapshot pops a ringing call of mine once, also across snapshots", () => {
    const { s, of } = folded();
    s.snapshot(snap(10, [call("r", "ringing"), call("c", "connected")]), false);
    s.snapshot(snap(20, [call("r", "ringing")]), true);
    expect(of("pop").map((p) => [p.call.callId, p.message.seq])).toEqual([["r", 10]]);
  });

  it("agent.state: the replies after a snapshot apply, older replays do not", () => {
    const { s, of } = folded();
    const st = (deviceState: DeviceState): AgentState => ({ deviceState, queues: [], activity: "idle", wrapUp: null });
    s.snapshot(snap(50, []), false);
    s.agentMessage({ v: 1, seq: 50, type: "agent.state", ts, userId: "sam", agent: "bob", state: st("inuse") });
    s.agentMessage({ v: 1, seq: 40, type: "agent.state", ts, userId: "sam", agent: "bob", state: st("ringing") });
    s.agentMessage({ v: 1, seq: 60, type: "agent.state", ts, userId: "sam", agent: "bob", state: st("not_inuse") });
    expect(of("agent").map((a) => a.state.deviceState)).toEqual(["inuse", "not_inuse"]);
    expect(s.agents.get("bob")?.deviceState).toBe("not_inuse");
  });

  it("the PBX link: down on pbx.disconnected, up again on pbx.resynced or a cluster's pbx.failover; older frames ignored", () => {
    const { s, of } = folded();
    const env = (seq: number) => ({ v: 1 as const, seq, ts, userId: "alice" });
    s.pbxMessage({ ...env(10), type: "pbx.disconnected", reason: "connection reset" });
    expect(s.pbxConnected).toBe(false);
    s.pbxMessage({ ...env(11), type: "pbx.failover", pbxId: "berlin", calls: 2 });
    expect(s.pbxConnected).toBe(true);
    s.pbxMessage({ ...env(9), type: "pbx.disconnected", reason: null });
    expect(s.pbxConnected).toBe(true);
    expect(of("pbx").map((e) => [e.connected, e.message.type])).toEqual([
      [false, "pbx.disconnected"],
      [true, "pbx.failover"],
    ]);
  });
});
