/**
 * AgentTracker over the recorded traces: the QueueStatus and DeviceStateList answers of trace
 * 25 as a resync, then the live QueueMemberStatus/DeviceStateChange events of the call traces.
 */
import { describe, expect, it } from "vitest";
import { AmiDecoder, type AmiMessage } from "../../src/ami/codec.js";
import { toPbxEvent } from "../../src/ami/events.js";
import { AgentTracker, isAgentEvent, type AgentState } from "../../src/calls/agents.js";
import { LAB_USERS } from "../helpers/labConfig.js";
import { traceBytes } from "../helpers/traces.js";

const USER_OF = new Map(LAB_USERS.map((u) => [u.devices[0]!, u.id]));

function messages(trace: string): AmiMessage[] {
  return new AmiDecoder().push(traceBytes(trace));
}

function rig(extra: { userForExtension?: (e: string) => string | null; userForDevice?: (d: string) => string | null } = {}) {
  const changes: { userId: string; state: AgentState }[] = [];
  const agents = new AgentTracker({
    userForDevice: extra.userForDevice ?? ((d) => USER_OF.get(d) ?? null),
    ...(extra.userForExtension ? { userForExtension: extra.userForExtension } : {}),
    onChange: (userId, state) => changes.push({ userId, state }),
  });
  const feed = (msgs: AmiMessage[]) => {
    for (const m of msgs) {
      const ev = toPbxEvent(m);
      if (ev && isAgentEvent(ev)) agents.handle(ev);
    }
  };
  /** The live events of a trace (list items carry an ActionID). */
  const live = (trace: string) => feed(messages(trace).filter((m) => m.get("ActionID") === undefined));
  /** Trace 25's listings, applied as the daemon's resync applies them. */
  const resync25 = (which: string[] = ["resync-QueueStatus", "resync-DeviceStateList"]) => {
    const msgs = messages("25-resync-actions");
    agents.beginResync();
    for (const id of which) feed(msgs.filter((m) => m.get("ActionID") === id));
    agents.endResync(which.includes("resync-QueueStatus"), which.includes("resync-DeviceStateList"));
  };
  const of = (u: string) => changes.filter((c) => c.userId === u).map((c) => c.state);
  return { agents, changes, live, resync25, of, feed };
}

const q = (queue: string, over: Partial<AgentState["queues"][number]> = {}) => ({ queue, loggedIn: true, paused: false, reason: null, ...over });

describe("AgentTracker: resync from trace 25 (QueueStatus + DeviceStateList)", () => {
  it("alice and bob are members of support, dave and eve of sales through their state interface", () => {
    const { agents, changes, resync25 } = rig();
    resync25();
    expect(agents.stateOf("alice")).toEqual({ deviceState: "inuse", queues: [q("support")], activity: "talking", wrapUp: null });
    expect(agents.stateOf("bob")).toEqual({ deviceState: "inuse", queues: [q("support")], activity: "talking", wrapUp: null });
    // Local/1004@agents/n has StateInterface PJSIP/1004: Dave's phone.
    expect(agents.stateOf("dave")).toEqual({ deviceState: "inuse", queues: [q("sales")], activity: "talking", wrapUp: null });
    expect(agents.stateOf("eve")).toEqual({ deviceState: "not_inuse", queues: [q("sales")], activity: "idle", wrapUp: null });
    // Carol and Frank are in no queue; their phones still have a state.
    expect(agents.stateOf("carol")).toEqual({ deviceState: "inuse", queues: [], activity: "talking", wrapUp: null });
    expect(agents.stateOf("frank")).toEqual({ deviceState: "ringing", queues: [], activity: "ringing", wrapUp: null });
    expect(agents.stateOf("nobody")).toBeNull();
    // One onChange per user for the whole resync.
    expect(changes.map((c) => c.userId).sort()).toEqual(["alice", "bob", "carol", "dave", "eve", "frank"]);
    expect(agents.memberInterfacesOf("PJSIP/1004")).toEqual(["Local/1004@agents/n"]);
    expect(agents.memberInterfacesOf("PJSIP/1001", "sales")).toEqual([]);
  });

  it("without DeviceStateList (older Asterisk) the member Status gives the device state", () => {
    const { agents, resync25 } = rig();
    resync25(["resync-QueueStatus"]);
    expect(agents.stateOf("alice")).toEqual({ deviceState: "inuse", queues: [q("support")], activity: "talking", wrapUp: null });
    expect(agents.stateOf("eve")).toEqual({ deviceState: "not_inuse", queues: [q("sales")], activity: "idle", wrapUp: null });
    expect(agents.stateOf("carol")).toBeNull();
  });

  it("a member the next QueueStatus does not list is removed; a failed listing removes nobody", () => {
    const { agents, resync25, of, feed } = rig();
    resync25();
    const msgs = messages("25-resync-actions").filter((m) => m.get("ActionID") === "resync-QueueStatus" && m.get("Name") !== "Bob Agent");
    agents.beginResync();
    agents.endResync(false);
    expect(agents.stateOf("bob")!.queues).toEqual([q("support")]);
    agents.beginResync();
    feed(msgs);
    agents.endResync(true);
    expect(agents.stateOf("bob")).toEqual({ deviceState: "inuse", queues: [], activity: "talking", wrapUp: null });
    expect(of("bob").at(-1)).toEqual({ deviceState: "inuse", queues: [], activity: "talking", wrapUp: null });
    expect(agents.stateOf("alice")!.queues).toEqual([q("support")]);
  });
});

describe("AgentTracker: a listing after a reconnect replaces the state", () => {
  it("a pause and a device the new listings do not name do not survive them", () => {
    const { agents, resync25, feed } = rig({ userForDevice: (d) => (d === "PJSIP/1001-soft" ? "alice" : (USER_OF.get(d) ?? null)) });
    resync25();
    // Before the PBX restart: alice paused, and a second phone of hers that reported a state.
    const enc = (fields: [string, string][]) => new AmiDecoder({ expectBanner: false }).push(Buffer.from(fields.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n"));
    feed(enc([["Event", "QueueMemberPause"], ["Queue", "support"], ["MemberName", "Alice Agent"], ["Interface", "PJSIP/1001"], ["StateInterface", "PJSIP/1001"], ["Status", "2"], ["Paused", "1"], ["PausedReason", "lunch"]]));
    feed(enc([["Event", "DeviceStateChange"], ["Device", "PJSIP/1001-soft"], ["State", "RINGING"]]));
    expect(agents.stateOf("alice")).toEqual({ deviceState: "ringing", queues: [q("support", { paused: true, reason: "lunch" })], activity: "ringing", wrapUp: null });
    // After it: both listings of trace 25 (alice not paused, no such softphone).
    resync25();
    expect(agents.stateOf("alice")).toEqual({ deviceState: "inuse", queues: [q("support")], activity: "talking", wrapUp: null });
  });
});

describe("AgentTracker: live events", () => {
  it("trace 07: alice's phone rings, is in use, then idle; bob's rings and goes idle", () => {
    const { live, of, changes } = rig();
    live("07-queue-support-answered");
    expect(of("alice")).toEqual([
      { deviceState: "ringing", queues: [], activity: "ringing", wrapUp: null },
      { deviceState: "ringing", queues: [q("support")], activity: "ringing", wrapUp: null },
      { deviceState: "inuse", queues: [q("support")], activity: "talking", wrapUp: null },
      { deviceState: "not_inuse", queues: [q("support")], activity: "idle", wrapUp: null },
    ]);
    expect(of("bob").map((s) => s.deviceState)).toEqual(["ringing", "ringing", "not_inuse"]);
    expect(of("bob").at(-1)).toEqual({ deviceState: "not_inuse", queues: [q("support")], activity: "idle", wrapUp: null });
    // The carrier trunk and the Queue:… pseudo-devices are nobody's.
    expect(new Set(changes.map((c) => c.userId))).toEqual(new Set(["alice", "bob"]));
  });

  it("after a resync only real changes are published (repeated QueueMemberStatus are not)", () => {
    const { resync25, live, of, changes } = rig();
    resync25();
    changes.length = 0;
    live("07-queue-support-answered");
    // Trace 07 starts from idle while trace 25 ended mid-call: the first state differs.
    expect(of("alice").map((s) => s.deviceState)).toEqual(["ringing", "inuse", "not_inuse"]);
    expect(of("alice").every((s) => s.queues.length === 1)).toBe(true);
    expect(of("bob").map((s) => s.deviceState)).toEqual(["ringing", "not_inuse"]);
  });

  it("trace 09: dave, a Local/1004@agents/n member of sales, goes ringing → inuse → not_inuse", () => {
    const { resync25, live, of, changes } = rig();
    resync25();
    changes.length = 0;
    live("09-queue-sales-local-members");
    expect(of("dave")).toEqual([
      { deviceState: "ringing", queues: [q("sales")], activity: "ringing", wrapUp: null },
      { deviceState: "inuse", queues: [q("sales")], activity: "talking", wrapUp: null },
      { deviceState: "not_inuse", queues: [q("sales")], activity: "idle", wrapUp: null },
    ]);
    expect(of("eve")).toEqual([]);
  });

  it("trace 25's live part ends with every phone idle", () => {
    const { live, agents } = rig();
    live("25-resync-actions");
    for (const u of ["alice", "bob", "carol", "dave", "frank"]) expect(agents.stateOf(u)!.deviceState).toBe("not_inuse");
    expect(agents.stateOf("alice")!.queues).toEqual([q("support")]);
    expect(agents.stateOf("dave")!.queues).toEqual([q("sales")]);
  });
});

describe("AgentTracker: pause, removal, several devices (AMI as the Asterisk 22 docs describe it)", () => {
  const ami = (fields: [string, string][]) => {
    const text = fields.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
    return new AmiDecoder({ expectBanner: false }).push(Buffer.from(text));
  };
  const member = (event: string, iface: string, stateIface: string, over: Record<string, string> = {}): [string, string][] =>
    Object.entries({
      Event: event,
      Queue: "sales",
      MemberName: "Dave Sales",
      Interface: iface,
      StateInterface: stateIface,
      Membership: "dynamic",
      InCall: "0",
      Status: "1",
      Paused: "0",
      PausedReason: "",
      ...over,
    });

  it("QueueMemberPause with a reason, unpause, QueueMemberRemoved", () => {
    const { feed, of } = rig();
    feed(ami(member("QueueMemberAdded", "Local/1004@agents/n", "PJSIP/1004")));
    feed(ami(member("QueueMemberPause", "Local/1004@agents/n", "PJSIP/1004", { Paused: "1", PausedReason: "lunch" })));
    feed(ami(member("QueueMemberStatus", "Local/1004@agents/n", "PJSIP/1004", { Paused: "1", PausedReason: "lunch" })));
    feed(ami(member("QueueMemberPause", "Local/1004@agents/n", "PJSIP/1004", { Paused: "0", PausedReason: "lunch" })));
    feed(ami([["Event", "QueueMemberRemoved"], ["Queue", "sales"], ["MemberName", "Dave Sales"], ["Interface", "Local/1004@agents/n"]]));
    expect(of("dave")).toEqual([
      { deviceState: "not_inuse", queues: [q("sales")], activity: "idle", wrapUp: null },
      { deviceState: "not_inuse", queues: [q("sales", { paused: true, reason: "lunch" })], activity: "paused", wrapUp: null },
      { deviceState: "not_inuse", queues: [q("sales")], activity: "idle", wrapUp: null },
      { deviceState: "not_inuse", queues: [], activity: "idle", wrapUp: null },
    ]);
  });

  it("an unavailable member is not logged in; Asterisk 16's Reason header is read too", () => {
    const { feed, of } = rig();
    feed(ami(member("QueueMemberStatus", "PJSIP/1004", "PJSIP/1004", { Status: "5" })));
    feed(ami(member("QueueMemberPause", "PJSIP/1004", "PJSIP/1004", { Status: "5", Paused: "1", PausedReason: "", Reason: "break" })));
    expect(of("dave")).toEqual([
      { deviceState: "unavailable", queues: [q("sales", { loggedIn: false })], activity: "offline", wrapUp: null },
      { deviceState: "unavailable", queues: [q("sales", { loggedIn: false, paused: true, reason: "break" })], activity: "offline", wrapUp: null },
    ]);
  });

  it("a user with two phones shows the most active one", () => {
    const devices = new Map([["PJSIP/1001", "alice"], ["PJSIP/2001", "alice"]]);
    const { feed, of } = rig({ userForDevice: (d) => devices.get(d) ?? null });
    const dsc = (device: string, state: string) => feed(ami([["Event", "DeviceStateChange"], ["Device", device], ["State", state]]));
    dsc("PJSIP/1001", "NOT_INUSE");
    dsc("PJSIP/2001", "UNAVAILABLE");
    dsc("PJSIP/2001", "RINGING");
    dsc("PJSIP/2001", "INUSE");
    dsc("PJSIP/1001", "INUSE");
    expect(of("alice").map((s) => s.deviceState)).toEqual(["not_inuse", "ringing", "inuse"]);
  });

  it("FreePBX members (state interface hint:…) map through the extension; users can be remapped", () => {
    let users = new Map([["1004", "dave"]]);
    const { agents, feed, of } = rig({ userForExtension: (e) => users.get(e) ?? null });
    feed(ami(member("QueueMemberAdded", "Local/1004@from-queue/n", "hint:1004@ext-local")));
    expect(of("dave")).toEqual([{ deviceState: null, queues: [q("sales")], activity: "idle", wrapUp: null }]);
    users = new Map([["1004", "eve"]]);
    agents.remap();
    expect(of("dave").at(-1)).toEqual({ deviceState: null, queues: [], activity: "idle", wrapUp: null });
    expect(of("eve")).toEqual([{ deviceState: null, queues: [q("sales")], activity: "idle", wrapUp: null }]);
  });
});
