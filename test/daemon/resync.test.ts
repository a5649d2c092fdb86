/**
 * Calls survive reconnects and restarts: the fake PBX (real TCP on 127.0.0.1) replays the
 * first half of a recorded call, the link drops or the daemon restarts, and the listing
 * after the new login decides whether the call is still up.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Daemon } from "../../src/daemon.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { DaemonRig, trace01Halves, waitFor } from "../helpers/daemon.js";

/** What CoreShowChannels lists while the trace-01 call is up. */
const LISTING: [string, string][][] = [
  ["PJSIP/carrier-00000000", "1795305921.0", "+4930123456", "from-carrier", "4930555000", "Dial"],
  ["PJSIP/1001-00000001", "1795305921.1", "1001", "from-internal", "", "AppDial"],
].map(([channel, uniqueid, cid, context, exten, app]) => [
  ["Event", "CoreShowChannel"],
  ["Channel", channel!],
  ["ChannelState", "6"],
  ["ChannelStateDesc", "Up"],
  ["CallerIDNum", cid!],
  ["CallerIDName", cid!],
  ["ConnectedLineNum", ""],
  ["ConnectedLineName", ""],
  ["Language", "en"],
  ["AccountCode", ""],
  ["Context", context!],
  ["Exten", exten!],
  ["Priority", "1"],
  ["Uniqueid", uniqueid!],
  ["Linkedid", "1795305921.0"],
  ["Application", app!],
  ["ApplicationData", ""],
  ["Duration", "00:00:04"],
  ["BridgeId", "28d6a1b2-0000-4000-8000-000000000000"],
]);

const rig = new DaemonRig();
afterEach(() => rig.close());

function setup(dbPath?: string, pbx?: AmiServer) {
  return rig.start({ ...(dbPath ? { dbPath } : {}), ...(pbx ? { pbx } : {}) });
}

async function connectedCall(daemon: Daemon) {
  return waitFor(() => daemon.tracker.activeCalls().find((c) => c.state === "connected"), "connected call");
}

describe("resync after reconnect", () => {
  it("closes a call that ended while the link was down, with unknown_end", async () => {
    const { pbx, daemon, listings } = await setup();
    await pbx.replay(trace01Halves()[0], { raw: true });
    const call = await connectedCall(daemon);
    const n = listings();
    pbx.setList("CoreShowChannels", []);
    pbx.dropConnections();
    await waitFor(() => listings() > n, "resync listing");
    const stored = await waitFor(() => daemon.callLog.list().find((c) => c.callId === call.callId && c.state === "ended"), "ended call");
    expect(stored).toMatchObject({ callId: call.callId, outcome: "answered", endReason: "unknown_end" });
    expect(daemon.tracker.activeCalls()).toEqual([]);
  });

  it("ends a call that vanished in a PBX outage when the link was lost (not at the reconnect), flagged endEstimated", async () => {
    const t0 = Date.parse("2026-11-30T10:00:00.000Z");
    let clock = t0;
    const { pbx, daemon, listings } = await rig.start({ now: () => clock });
    await pbx.replay(trace01Halves()[0], { raw: true });
    const call = await connectedCall(daemon);
    expect(call.times.answered).toBe(new Date(t0).toISOString());
    // The PBX is killed 11.1 s into the call and is back 8 s later without the call.
    clock = t0 + 11_100;
    pbx.setList("CoreShowChannels", []);
    const n = listings();
    await pbx.close();
    await waitFor(() => daemon.ami?.isConnected === false, "link lost");
    clock = t0 + 19_100;
    await pbx.listen();
    await waitFor(() => listings() > n, "resync listing");
    const stored = await waitFor(() => daemon.callLog.get(call.callId)?.state === "ended" && daemon.callLog.get(call.callId), "ended call");
    const lost = new Date(t0 + 11_100).toISOString();
    expect(stored).toMatchObject({ outcome: "answered", endReason: "unknown_end" });
    expect(stored.times).toMatchObject({ ended: lost, talkSeconds: 11.1, endEstimated: true });
    expect(stored.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me", endedAt: lost, talkSeconds: 11.1 })]);
  });

  it("keeps the same callId when the call is still up, and ends it normally later", async () => {
    const { pbx, daemon, listings } = await setup();
    const [first, rest] = trace01Halves();
    await pbx.replay(first, { raw: true });
    const call = await connectedCall(daemon);
    const n = listings();
    pbx.setList("CoreShowChannels", LISTING);
    pbx.dropConnections();
    await waitFor(() => listings() > n && daemon.ami?.isConnected, "resync listing");
    expect(daemon.tracker.activeCalls().map((c) => [c.callId, c.state])).toEqual([[call.callId, "connected"]]);
    await waitFor(() => pbx.connections.length > 0, "connection");
    await pbx.replay(rest, { raw: true });
    const stored = await waitFor(() => daemon.callLog.list().find((c) => c.state === "ended"), "ended call");
    expect(stored).toMatchObject({ callId: call.callId, outcome: "answered", endReason: "hangup" });
    expect(stored.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me" })]);
  });
});

describe("daemon restart mid-call", () => {
  it("keeps the callId of a call still up and marks it restored", async () => {
    const first = await setup();
    const [head, rest] = trace01Halves();
    await first.pbx.replay(head, { raw: true });
    const call = await connectedCall(first.daemon);
    await rig.stop(first.daemon);
    first.pbx.setList("CoreShowChannels", LISTING);
    const second = await setup(first.dbPath, first.pbx);
    const restored = await connectedCall(second.daemon);
    expect(restored).toMatchObject({ callId: call.callId, restored: true, direction: "inbound", from: { raw: "+4930123456" } });
    expect(restored.legs.map((l) => [l.userId, l.state])).toEqual([["alice", "connected"]]);
    // An agent who connects now finds the rebuilt call in her snapshot (her own-calls index
    // learns calls from the listing too, not only from live events).
    const { snapshot } = await second.connect("alice").ready();
    expect(snapshot.calls.map((c: { callId: string; state: string }) => [c.callId, c.state])).toEqual([[call.callId, "connected"]]);
    await first.pbx.replay(rest, { raw: true });
    const stored = await waitFor(() => second.daemon.callLog.list().find((c) => c.state === "ended"), "ended call");
    expect(stored).toMatchObject({ callId: call.callId, outcome: "answered", endReason: "hangup", restored: true });
  });

  it("closes a call that ended while the daemon was down", async () => {
    const first = await setup();
    await first.pbx.replay(trace01Halves()[0], { raw: true });
    const call = await connectedCall(first.daemon);
    await rig.stop(first.daemon);
    first.pbx.setList("CoreShowChannels", []);
    const second = await setup(first.dbPath, first.pbx);
    const stored = await waitFor(() => second.daemon.callLog.list().find((c) => c.callId === call.callId && c.state === "ended"), "closed call");
    expect(stored).toMatchObject({ outcome: "answered", endReason: "unknown_end" });
    expect(second.daemon.callLog.openCallIds().size).toBe(0);
  });
});
