/**
 * Calls survive reconnects and restarts: the fake PBX (real TCP on 127.0.0.1) replays the
 * first half of a recorded call, the link drops or the daemon restarts, and the listing
 * after the new login decides whether the call is still up.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Daemon } from "../../src/roles/standalone.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

/** Trace 03 (alice's phone rings, the caller gives up) cut before the caller's HangupRequest: it rings. */
function trace03Ringing(): Buffer {
  const msgs = stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = msgs.findIndex((m) => m.startsWith("Event: HangupRequest"));
  return Buffer.from(msgs.slice(0, cut).map((m) => m + "\r\n\r\n").join(""), "utf8");
}

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

  it("rebuilds an inbound call from a listing that names the agent's channel first (Asterisk 22 lists in hash order)", async () => {
    // Live, after kill -9 of the daemon mid-call: CoreShowChannels listed PJSIP/1002 before
    // the carrier channel that created the call, and the call came back "internal from 1002".
    const first = await setup();
    const [head, rest] = trace01Halves();
    await first.pbx.replay(head, { raw: true });
    const call = await connectedCall(first.daemon);
    await rig.stop(first.daemon);
    first.pbx.setList("CoreShowChannels", [...LISTING].reverse());
    const second = await setup(first.dbPath, first.pbx);
    const restored = await connectedCall(second.daemon);
    expect(restored).toMatchObject({ callId: call.callId, direction: "inbound", from: { raw: "+4930123456" }, to: { raw: "4930555000" }, did: "+4930555000", didRaw: "4930555000" });
    await first.pbx.replay(rest, { raw: true });
    const stored = await waitFor(() => second.daemon.callLog.list().find((c) => c.state === "ended"), "ended call");
    expect(stored).toMatchObject({ callId: call.callId, direction: "inbound", from: { raw: "+4930123456" }, outcome: "answered", endReason: "hangup" });
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

  it("a call that rang while the daemon was down and ended meanwhile reaches the agent and her missed list as possibly missed", async () => {
    const first = await rig.start({ users: E2E_USERS });
    await first.pbx.replay(trace03Ringing(), { raw: true });
    const call = await waitFor(() => first.daemon.tracker.activeCalls().find((c) => c.legs.some((l) => l.state === "ringing")), "ringing call");
    const ringingAt = call.legs[0]!.ringingAt;
    await waitFor(() => first.daemon.callLog.openCallIds().size === 1, "open call stored");
    await rig.stop(first.daemon);
    // The caller gives up while the daemon is down; the PBX is unreachable when it starts again.
    first.pbx.setList("CoreShowChannels", []);
    await first.pbx.close();
    const second = await rig.start({ dbPath: first.dbPath, pbx: first.pbx, users: E2E_USERS, noWait: true });
    const alice = second.connect("alice");
    const sam = second.connect("sam");
    await Promise.all([alice.ready(), sam.ready()]);
    await first.pbx.listen();
    const ended = await alice.nextOf("call.ended");
    const leg = { userId: "alice", device: "PJSIP/1001", state: "ended", outcome: "missed", missedUncertain: true, ringingAt, endedAt: ringingAt };
    expect(ended.call).toMatchObject({ callId: call.callId, endReason: "unknown_end", outcome: null, times: { ended: ringingAt, endEstimated: true }, legs: [leg] });
    expect(await alice.nextOf("call.missed")).toMatchObject({ call: { callId: call.callId }, callbackNumber: "+49891234567" });
    expect(await sam.nextOf("call.ended")).toMatchObject({ call: { callId: call.callId, endReason: "unknown_end" } });
    // The missed list (REST, as `ctibridge calls --missed` reads it) has it, flagged.
    const missed = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${second.port}/api/calls?missed=1`, { headers: { Authorization: `Bearer ${second.token("alice")}` } });
      const body = (await res.json()) as { calls: { callId: string; legs: unknown[] }[] };
      return body.calls.length > 0 && body.calls;
    }, "missed list");
    expect(missed.map((c) => c.callId)).toEqual([call.callId]);
    expect(missed[0]!.legs).toEqual([expect.objectContaining({ ...leg, done: false })]);
    expect(second.daemon.callLog.openCallIds().size).toBe(0);
  });

  it("an agent who resumes from before the restart gets the calls closed meanwhile after her fresh snapshot", async () => {
    const first = await rig.start({ users: E2E_USERS });
    const before = first.connect("alice");
    await before.ready();
    await first.pbx.replay(trace03Ringing(), { raw: true });
    const ringing = await before.nextOf("call.ringing");
    await waitFor(() => first.daemon.callLog.openCallIds().size === 1, "open call stored");
    await rig.stop(first.daemon);
    // The caller gives up while the daemon is down; the daemon is back before the CRM reconnects.
    first.pbx.setList("CoreShowChannels", []);
    const second = await rig.start({ dbPath: first.dbPath, pbx: first.pbx, users: E2E_USERS });
    await waitFor(() => second.daemon.callLog.openCallIds().size === 0, "call closed at the restart");
    const alice = second.connect("alice");
    await alice.ready();
    alice.send({ type: "resume", afterSeq: ringing.seq });
    expect((await alice.nextOf("resync_required")).afterSeq).toBe(ringing.seq);
    expect((await alice.next()).type).toBe("snapshot");
    const ended = await alice.nextOf("call.ended");
    expect(ended.call).toMatchObject({ callId: ringing.call.callId, endReason: "unknown_end", legs: [{ userId: "alice", outcome: "missed", missedUncertain: true }] });
    expect((await alice.nextOf("call.missed")).call.callId).toBe(ringing.call.callId);
    // A resume within the same daemon's life is a plain replay, as before.
    const again = second.connect("alice");
    await again.ready();
    again.send({ type: "resume", afterSeq: ended.seq });
    await again.sync();
    expect(again.messages.filter((m) => m.type.startsWith("call.") || m.type === "resync_required").map((m) => m.type)).toEqual(["call.missed"]);
  });
});

