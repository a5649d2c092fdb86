/**
 * Agent state end to end: the fake PBX answers the resync's QueueStatus and DeviceStateList
 * with trace 25's recorded listings (or refuses them, as a PBX without them would), replays a
 * recorded call trace, and real ws clients record the agent.state messages they receive.
 */
import { afterEach, describe, expect, it } from "vitest";
import { trace25Listing as listing } from "../helpers/listing.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor } from "../helpers/daemon.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
const pbxs: AmiServer[] = [];
afterEach(async () => {
  await rig.close();
  for (const p of pbxs.splice(0)) await p.close();
});


async function start(withListings: boolean) {
  const pbx = await startFakeAmi({ fullyBooted: true });
  pbxs.push(pbx);
  if (withListings) {
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
    pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
  }
  const d = await rig.start({ users: E2E_USERS, pbx });
  await waitFor(() => d.logs.some((l) => l.msg === "agent state resynced"), "agent resync");
  return d;
}

const agentStates = (messages: any[]) => messages.filter((m) => m.type === "agent.state");
const support = { queue: "support", loggedIn: true, paused: false, reason: null };
const sales = { queue: "sales", loggedIn: true, paused: false, reason: null };

describe("agent.state end to end", () => {
  it("after the resync a user gets their state right after the snapshot, then each change of trace 07", async () => {
    const d = await start(true);
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    const dave = d.connect("dave");
    await Promise.all([alice.ready(), sam.ready(), dave.ready()]);
    const first = await alice.next();
    expect(first).toMatchObject({ type: "agent.state", userId: "alice", agent: "alice", state: { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null } });
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    for (const c of [alice, sam, dave]) await c.sync();

    expect(agentStates(alice.messages).map((m) => m.state)).toEqual([
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "ringing", queues: [support], activity: "ringing", wrapUp: null },
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null },
    ]);
    // The connect-time copy is a reply (it repeats the latest seq); live ones take new seqs.
    const seqs = agentStates(alice.messages).slice(1).map((m) => m.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    // The supervisor gets every agent's state at connect (as trace 25's listings left them),
    // then every agent's changes (bob's phone rang too); dave saw none of them.
    expect(agentStates(sam.messages).map((m) => `${m.agent}:${m.state.deviceState}`)).toEqual([
      "alice:inuse",
      "bob:inuse",
      "carol:inuse",
      "dave:inuse",
      "eve:not_inuse",
      "frank:ringing",
      "bob:ringing",
      "alice:ringing",
      "alice:inuse",
      "bob:not_inuse",
      "alice:not_inuse",
    ]);
    expect(agentStates(dave.messages).map((m) => m.state)).toEqual([{ deviceState: "inuse", queues: [sales], activity: "talking", wrapUp: null }]);
  });

  it("dave, a Local/1004@agents/n member, follows trace 09, and queue.pause names his member interface", async () => {
    const d = await start(true);
    const dave = d.connect("dave");
    await dave.ready();
    await dave.nextOf("agent.state");
    await d.replay(stripTracePreamble(traceBytes("09-queue-sales-local-members")));
    await dave.sync();
    expect(agentStates(dave.messages).map((m) => m.state.deviceState)).toEqual(["inuse", "ringing", "inuse", "not_inuse"]);
    expect(agentStates(dave.messages).every((m) => m.state.queues.length === 1 && m.state.queues[0].queue === "sales")).toBe(true);

    d.pbx.handle("QueuePause", () => [["Response", "Success"], ["Message", "Interface paused successfully"]]);
    dave.send({ type: "command", id: "p1", action: "queue.pause", args: { queue: "sales", reason: "lunch" } });
    const result = await dave.nextOf("command.result");
    expect(result).toMatchObject({ id: "p1", ok: true, data: { devices: [{ device: "PJSIP/1004", interface: "Local/1004@agents/n", ok: true }] } });
    const pause = d.pbx.received.find((r) => r.action.headers.Action === "QueuePause")!.action.headers;
    expect(pause).toMatchObject({ Interface: "Local/1004@agents/n", Queue: "sales", Paused: "true", Reason: "lunch" });
  });

  it("a PBX that refuses the listings: nothing at connect, the state builds up from live events", async () => {
    const d = await start(false);
    expect(d.logs.filter((l) => l.msg === "agent state listing failed").map((l) => l.action)).toEqual(["QueueStatus", "DeviceStateList"]);
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    await alice.sync();
    // Trace 07 sends alice's DeviceStateChange RINGING and her first QueueMemberStatus back to
    // back: one frame, never the intermediate "ringing, member of no queue".
    expect(agentStates(alice.messages).map((m) => m.state)).toEqual([
      { deviceState: "ringing", queues: [support], activity: "ringing", wrapUp: null },
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null },
    ]);
  });

  it("a phone that unregisters and comes back: one agent.state per change, never a mixed state", async () => {
    const d = await start(true);
    const alice = d.connect("alice");
    await alice.ready();
    await alice.nextOf("agent.state");
    // Trace 07's pair for alice (DeviceStateChange, then QueueMemberStatus, in one write as
    // Asterisk sends them), with the states of a phone that drops off and registers again.
    const text = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
    const start07 = text.indexOf("Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1001\r\nState: RINGING");
    const pair = text.slice(start07, text.indexOf("Event: DialState", start07));
    const as = (device: string, status: string) => Buffer.from(pair.replace("State: RINGING", `State: ${device}`).replace("Status: 6", `Status: ${status}`), "latin1");
    await d.replay(as("UNAVAILABLE", "5"));
    await d.replay(as("NOT_INUSE", "1"));
    await alice.sync();
    expect(agentStates(alice.messages).map((m) => m.state)).toEqual([
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "unavailable", queues: [{ ...support, loggedIn: false }], activity: "offline", wrapUp: null },
      { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null },
    ]);
  });
});

/** Trace 07's QueueMemberStatus of alice (support), paused for `reason` (null: unpaused). */
function alicePaused(reason: string | null): Buffer {
  const text = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
  const at = text.indexOf("Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: support\r\nMemberName: Alice Agent");
  const msg = text.slice(at, text.indexOf("\r\n\r\n", at) + 4);
  return Buffer.from(msg.replace("Status: 6", "Status: 2").replace("Paused: 0\r\nPausedReason: \r\n", reason === null ? "Paused: 0\r\nPausedReason: \r\n" : `Paused: 1\r\nPausedReason: ${reason}\r\n`), "latin1");
}

const refuse = () => [["Response", "Error"], ["Message", "Invalid/unknown command"]] as [string, string][];

describe("agent state after a PBX restart", () => {
  it("waits for FullyBooted when the reconnect wins the race against app_queue, then the listing clears a pause Asterisk forgot", async () => {
    const d = await start(true);
    const alice = d.connect("alice");
    await alice.ready();
    await alice.nextOf("agent.state");
    await d.replay(alicePaused("lunch"));
    expect((await alice.nextOf("agent.state")).state.queues).toEqual([{ ...support, paused: true, reason: "lunch" }]);

    // Asterisk restarts; the daemon logs in while its modules still load: no FullyBooted yet,
    // and the queue and device listings are unknown commands.
    const resyncs = d.resyncs();
    d.pbx.unboot();
    d.pbx.handle("QueueStatus", refuse).handle("DeviceStateList", refuse);
    d.pbx.dropConnections();
    await waitFor(() => d.resyncs() > resyncs && d.daemon.ami?.isConnected, "reconnected");
    const asked = () => d.pbx.received.filter((r) => r.action.headers.Action === "QueueStatus").length;
    const before = asked();
    await d.daemon.ami!.action("Ping", []);
    expect(asked()).toBe(before);
    // Boot completes: the listings work and say alice is not paused any more.
    d.pbx.unhandle("QueueStatus").unhandle("DeviceStateList");
    d.pbx.boot();
    await waitFor(() => asked() > before, "listing after FullyBooted");
    const next = await alice.nextOf("agent.state");
    expect(next.state).toEqual({ deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null });
    expect(d.logs.filter((l) => l.msg === "agent state listing failed")).toEqual([]);
  });

  it("retries listings that fail after FullyBooted, with one warning per action, until the listing replaces the state", async () => {
    const d = await start(true);
    const alice = d.connect("alice");
    await alice.ready();
    await alice.nextOf("agent.state");
    await d.replay(alicePaused("lunch"));
    await alice.nextOf("agent.state");

    // Refused twice after the reconnect, answered the third time (the rig allows 3 attempts).
    let refusals = 0;
    d.pbx.handle("QueueStatus", () => {
      if (++refusals === 2) d.pbx.unhandle("QueueStatus");
      return refuse();
    });
    const resyncs = d.resyncs();
    d.pbx.dropConnections();
    await waitFor(() => d.resyncs() > resyncs, "reconnected");
    const next = await alice.nextOf("agent.state");
    expect(next.state).toEqual({ deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null });
    expect(refusals).toBe(2);
    expect(d.logs.filter((l) => l.msg === "agent state listing failed").map((l) => l.action)).toEqual(["QueueStatus"]);
  });
});

