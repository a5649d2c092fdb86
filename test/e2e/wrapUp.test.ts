/**
 * After-call work end to end (issue 11): the fake PBX answers the agent listings with trace 25's
 * recorded QueueStatus, replays trace 07 (a support queue call alice answers and hangs up), and
 * real ws clients see alice's agent.state go talking → wrap_up → idle: by the timer, by
 * `agent.ready`, by a disposition. With `pauseInQueue` the PBX receives QueuePause with reason
 * `wrap-up` and the unpause; a restart mid-wrap-up neither forgets it nor leaves alice paused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { trace25Listing as listing } from "../helpers/listing.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { openDb } from "../../src/store/db.js";
import { DaemonRig, E2E_USERS, waitFor, type DaemonOptions, type RunningDaemon, rest } from "../helpers/daemon.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
const pbxs: AmiServer[] = [];
afterEach(async () => {
  await rig.close();
  for (const p of pbxs.splice(0)) await p.close();
});


/** Trace 25's QueueStatus members, alice's support member paused for `reason` when given. */
function members(aliceReason?: string): [string, string][][] {
  return listing("resync-QueueStatus", "QueueMember").map((m) => {
    const alice = m.some(([k, v]) => k === "Queue" && v === "support") && m.some(([k, v]) => k === "Location" && v === "PJSIP/1001");
    if (!alice || aliceReason === undefined) return m;
    return m.map(([k, v]) => (k === "Paused" ? [k, "1"] : k === "PausedReason" ? [k, aliceReason] : [k, v]) as [string, string]);
  });
}

async function startPbx(aliceReason?: string): Promise<AmiServer> {
  const pbx = await startFakeAmi({ fullyBooted: true });
  pbxs.push(pbx);
  pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...members(aliceReason)]);
  pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
  pbx.handle("QueuePause", () => [["Response", "Success"], ["Message", "Interface paused successfully"]]);
  return pbx;
}

async function start(agents: Record<string, unknown>, o: Partial<DaemonOptions> & { pbx?: AmiServer } = {}): Promise<RunningDaemon> {
  const pbx = o.pbx ?? (await startPbx());
  const d = await rig.start({ users: E2E_USERS, ...o, pbx, agents });
  await waitFor(() => d.logs.some((l) => l.msg === "agent state resynced"), "agent resync");
  return d;
}

/** Trace 07's QueueMemberStatus for alice (support), idle, paused for `reason` (null: unpaused): as the PBX reports a pause. */
function alicePausedEvent(reason: string | null): Buffer {
  const text = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
  const at = text.indexOf("Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: support\r\nMemberName: Alice Agent");
  const msg = text.slice(at, text.indexOf("\r\n\r\n", at) + 4);
  return Buffer.from(msg.replace("Status: 6", "Status: 1").replace("Paused: 0\r\nPausedReason: \r\n", reason === null ? "Paused: 0\r\nPausedReason: \r\n" : `Paused: 1\r\nPausedReason: ${reason}\r\n`), "latin1");
}

const pauses = (pbx: AmiServer) =>
  pbx.received
    .filter((r) => r.action.headers.Action === "QueuePause")
    .map((r) => {
      const { Interface, Queue, Paused, Reason } = r.action.headers as Record<string, string>;
      return { Interface, Queue, Paused, ...(Reason !== undefined ? { Reason } : {}) };
    });

const states = (c: { messages: any[] }, agent = "alice") => c.messages.filter((m) => m.type === "agent.state" && m.agent === agent).map((m) => m.state);
const support = { queue: "support", loggedIn: true, paused: false, reason: null };
const ms = (iso: string) => Date.parse(iso);


describe("after-call work (wrap-up)", () => {
  it("trace 07, support's wrap-up time (1 s) with pauseInQueue: talking → wrap_up → idle, QueuePause wrap-up and the unpause, the seconds in the call record", async () => {
    const d = await start({ wrapUp: { mode: "queue", queues: { support: 1 }, pauseInQueue: true } });
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    await Promise.all([alice.ready(), sam.ready()]);
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const ended = await alice.nextOf("call.ended");
    const callId = ended.call.callId;
    await waitFor(() => pauses(d.pbx).length === 2, "pause and unpause");
    await waitFor(() => states(alice).at(-1)?.wrapUp === null && states(alice).some((s) => s.wrapUp !== null), "wrap-up over");
    await alice.sync();

    const wrap = states(alice).find((s) => s.wrapUp !== null)!.wrapUp;
    expect(wrap.callId).toBe(callId);
    expect(ms(wrap.until) - ms(wrap.since)).toBe(1000);
    expect(states(alice)).toEqual([
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "ringing", queues: [support], activity: "ringing", wrapUp: null },
      { deviceState: "inuse", queues: [support], activity: "talking", wrapUp: null },
      { deviceState: "not_inuse", queues: [support], activity: "wrap_up", wrapUp: wrap },
      { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null },
    ]);
    // The supervisor sees alice's wrap-up too.
    await sam.sync();
    expect(states(sam).map((s) => s.activity)).toContain("wrap_up");
    expect(pauses(d.pbx)).toEqual([
      { Interface: "PJSIP/1001", Queue: "support", Paused: "true", Reason: "wrap-up" },
      { Interface: "PJSIP/1001", Queue: "support", Paused: "false" },
    ]);
    // The call record: alice's answered leg has the seconds (REST and the call.updated frame).
    const updated = alice.messages.filter((m) => m.type === "call.updated").at(-1);
    expect(updated.call.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me", wrapUpSeconds: 1 })]);
    const listed = await rest(d, "alice", "GET", "/api/calls");
    expect(listed.json.calls[0].legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me", wrapUpSeconds: 1, done: false })]);
    expect(d.logs.filter((l) => l.msg === "wrap-up ended").map((l) => ({ userId: l.userId, callId: l.callId, seconds: l.seconds, reason: l.reason }))).toEqual([
      { userId: "alice", callId, seconds: 1, reason: "timeout" },
    ]);
  });

  it("mode queue: the member's own Wrapuptime from the PBX's listing (Asterisk 16+) wins over the configured queue time", async () => {
    const pbx = await startPbx();
    const withWrapUp = members().map((m) =>
      m.some(([k, v]) => k === "Location" && v === "PJSIP/1001") && m.some(([k, v]) => k === "Queue" && v === "support")
        ? m.map(([k, v]) => (k === "Wrapuptime" ? [k, "45"] : [k, v]) as [string, string])
        : m,
    );
    expect(withWrapUp.flat().filter(([k, v]) => k === "Wrapuptime" && v === "45")).toHaveLength(1);
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...withWrapUp]);
    const d = await start({ wrapUp: { mode: "queue", queues: { support: 5 } } }, { pbx });
    const alice = d.connect("alice");
    await alice.ready();
    // The PBX's member events during the call say the same (trace 07 recorded them with 0).
    const t07 = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
    expect(t07.split("Wrapuptime: 0").length - 1).toBe(5);
    await d.replay(Buffer.from(t07.replaceAll("Wrapuptime: 0", "Wrapuptime: 45"), "latin1"));
    await alice.nextOf("call.ended");
    await alice.sync();
    const wrap = states(alice).find((s) => s.wrapUp !== null)!.wrapUp;
    expect(ms(wrap.until) - ms(wrap.since)).toBe(45_000);
  });

  it("a second answered queue call ends the first wrap-up (superseded, its seconds stored) and starts its own", async () => {
    const d = await start({ wrapUp: { mode: "seconds", seconds: 600 } });
    const alice = d.connect("alice");
    await alice.ready();
    const t07 = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
    await d.replay(Buffer.from(t07, "latin1"));
    const first = (await alice.nextOf("call.ended")).call.callId;
    // The same call again with other channel ids: a new call.
    await d.replay(Buffer.from(t07.replaceAll("1795306056.", "1795309056.").replaceAll("1795306057.", "1795309057."), "latin1"));
    const second = (await alice.nextOf("call.ended")).call.callId;
    expect(second).not.toBe(first);
    await waitFor(() => alice.messages.some((m) => m.type === "call.updated" && m.call.callId === first), "first call's update");
    await alice.sync();
    expect(states(alice).at(-1)).toMatchObject({ activity: "wrap_up", wrapUp: { callId: second } });
    const rows = openDb(d.dbPath).prepare("SELECT call_id, end_reason, ended_at IS NULL AS running FROM wrap_ups ORDER BY started_at").all();
    expect(rows).toEqual([
      { call_id: first, end_reason: "superseded", running: 0 },
      { call_id: second, end_reason: null, running: 1 },
    ]);
    const updated = alice.messages.find((m) => m.type === "call.updated" && m.call.callId === first);
    expect(updated.call.legs[0]).toMatchObject({ userId: "alice", outcome: "answered_by_me", wrapUpSeconds: expect.any(Number) });
  });

  it("until-ready: agent.ready ends it (once); bob, who did not answer, never enters wrap-up", async () => {
    const d = await start({ wrapUp: { mode: "until-ready", calls: "all" } });
    const alice = d.connect("alice");
    const bob = d.connect("bob");
    await Promise.all([alice.ready(), bob.ready()]);
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const ended = await alice.nextOf("call.ended");
    await alice.sync();
    const wrap = states(alice).at(-1);
    expect(wrap).toEqual({ deviceState: "not_inuse", queues: [support], activity: "wrap_up", wrapUp: { callId: ended.call.callId, since: wrap.wrapUp.since, until: null } });

    alice.send({ type: "command", id: "r1", action: "agent.ready", args: {} });
    const r1 = await alice.nextOf("command.result");
    expect(r1).toMatchObject({ id: "r1", ok: true, data: { wrapUp: { callId: ended.call.callId, since: wrap.wrapUp.since, reason: "ready" } } });
    expect(r1.data.wrapUp.seconds).toBe(Math.max(0, Math.round((ms(r1.data.wrapUp.endedAt) - ms(wrap.wrapUp.since)) / 100) / 10));
    await waitFor(() => states(alice).at(-1)?.activity === "idle", "idle");
    expect(states(alice).at(-1)).toEqual({ deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null });
    alice.send({ type: "command", id: "r2", action: "agent.ready", args: {} });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "r2", ok: false, error: { code: "invalid_state", message: "not in wrap-up" } });
    await bob.sync();
    expect(states(bob, "bob").every((s) => s.wrapUp === null && s.activity !== "wrap_up")).toBe(true);
    // Nothing was paused: pauseInQueue is off by default.
    expect(pauses(d.pbx)).toEqual([]);
  });

  it("a wrap-up that outlives the tracker's memory of the call (calls.keepEndedMs): call.updated carries the stored call with wrapUpSeconds", async () => {
    const d = await start({ wrapUp: { mode: "until-ready" } }, { calls: { keepEndedMs: 1 } });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const callId = (await alice.nextOf("call.ended")).call.callId;
    await waitFor(async () => (await rest(d, "alice", "GET", "/api/calls")).json.calls.length === 1, "stored");
    // Another call's events make the tracker forget trace 07's call.
    await d.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")));
    expect(d.daemon.tracker.getCall(callId)).toBeUndefined();
    alice.send({ type: "command", id: "r1", action: "agent.ready", args: {} });
    const seconds = (await alice.nextOf("command.result")).data.wrapUp.seconds;
    await waitFor(() => alice.messages.some((m) => m.type === "call.updated" && m.call.callId === callId), "call.updated");
    const updated = alice.messages.find((m) => m.type === "call.updated" && m.call.callId === callId);
    expect(updated.call.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me", wrapUpSeconds: seconds, done: false })]);
    expect(updated.call).toMatchObject({ callId, state: "ended", outcome: "answered", queue: "support" });
  });

  it("a disposition set by alice on the call ends her wrap-up; a comment does not", async () => {
    const d = await start({ wrapUp: { mode: "until-ready" } });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const callId = (await alice.nextOf("call.ended")).call.callId;
    await alice.sync();
    expect(states(alice).at(-1).activity).toBe("wrap_up");
    alice.send({ type: "command", id: "a1", action: "call.annotate", args: { callId, comment: "customer wants a quote" } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "a1", ok: true });
    await alice.sync();
    expect(states(alice).at(-1).activity).toBe("wrap_up");
    const annotated = await rest(d, "alice", "POST", `/api/calls/${callId}/annotate`, { disposition: "sale" });
    expect(annotated.status).toBe(200);
    await waitFor(() => states(alice).at(-1)?.activity === "idle", "idle");
    expect(d.logs.filter((l) => l.msg === "wrap-up ended").map((l) => l.reason)).toEqual(["disposition"]);
  });

  it("with the PBX's pause events (QueueMemberStatus paused for wrap-up, then unpaused): wrap_up → idle, never paused in between", async () => {
    const d = await start({ wrapUp: { mode: "until-ready", pauseInQueue: true } });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const callId = (await alice.nextOf("call.ended")).call.callId;
    await waitFor(() => pauses(d.pbx).length === 1, "wrap-up pause");
    await d.replay(alicePausedEvent("wrap-up"));
    alice.send({ type: "command", id: "r1", action: "agent.ready", args: {} });
    await alice.nextOf("command.result");
    await waitFor(() => pauses(d.pbx).length === 2, "unpause");
    await d.replay(alicePausedEvent(null));
    await alice.sync();
    const wrap = states(alice).find((s) => s.wrapUp !== null)!.wrapUp;
    expect(wrap.callId).toBe(callId);
    const paused = { ...support, paused: true, reason: "wrap-up" };
    expect(states(alice).slice(3)).toEqual([
      { deviceState: "not_inuse", queues: [support], activity: "wrap_up", wrapUp: wrap },
      { deviceState: "not_inuse", queues: [paused], activity: "wrap_up", wrapUp: wrap },
      { deviceState: "not_inuse", queues: [paused], activity: "idle", wrapUp: null },
      { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null },
    ]);
  });

  it("alice pauses herself (lunch) during wrap-up: its end does not unpause her", async () => {
    const d = await start({ wrapUp: { mode: "until-ready", pauseInQueue: true } });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    await alice.nextOf("call.ended");
    await waitFor(() => pauses(d.pbx).length === 1, "wrap-up pause");
    await d.replay(alicePausedEvent("lunch"));
    alice.send({ type: "command", id: "r1", action: "agent.ready", args: {} });
    expect(await alice.nextOf("command.result")).toMatchObject({ ok: true });
    await alice.sync();
    await d.daemon.ami!.action("Ping", []);
    expect(pauses(d.pbx)).toEqual([{ Interface: "PJSIP/1001", Queue: "support", Paused: "true", Reason: "wrap-up" }]);
    expect(states(alice).at(-1)).toEqual({ deviceState: "not_inuse", queues: [{ ...support, paused: true, reason: "lunch" }], activity: "paused", wrapUp: null });
  });

  it("a restart mid-wrap-up: the running wrap-up comes back (same since/until); one past its time ends at its deadline and unpauses", async () => {
    const pbx = await startPbx();
    const first = await start({ wrapUp: { mode: "seconds", seconds: 600, pauseInQueue: true } }, { pbx });
    const alice = first.connect("alice");
    await alice.ready();
    await first.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const callId = (await alice.nextOf("call.ended")).call.callId;
    await waitFor(() => pauses(pbx).length === 1, "wrap-up pause");
    await alice.sync();
    const wrap = states(alice).at(-1).wrapUp;
    await rig.stop(first.daemon);

    // Restarted 5 minutes later: still in wrap-up, shown at connect, nothing unpaused.
    const t5 = Date.now() + 300_000;
    const second = await start({ wrapUp: { mode: "seconds", seconds: 600, pauseInQueue: true } }, { pbx, dbPath: first.dbPath, now: () => t5 });
    const again = second.connect("alice");
    await again.ready();
    // Trace 25's device listing has alice's phone in use: she shows talking, her wrap-up still there.
    expect((await again.nextOf("agent.state")).state).toMatchObject({ activity: "talking", wrapUp: wrap });
    expect(pauses(pbx).filter((p) => p.Paused === "false")).toEqual([]);
    await rig.stop(second.daemon);

    // Restarted an hour later (the PBX still lists alice paused for wrap-up): ended at its deadline, unpaused once.
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...members("wrap-up")]);
    const t60 = Date.now() + 3_600_000;
    const third = await start({ wrapUp: { mode: "seconds", seconds: 600, pauseInQueue: true } }, { pbx, dbPath: first.dbPath, now: () => t60 });
    await waitFor(() => pauses(pbx).some((p) => p.Paused === "false"), "unpause");
    expect(pauses(pbx)).toEqual([
      { Interface: "PJSIP/1001", Queue: "support", Paused: "true", Reason: "wrap-up" },
      { Interface: "PJSIP/1001", Queue: "support", Paused: "false" },
    ]);
    const row = openDb(first.dbPath).prepare("SELECT call_id, user_id, started_at, until, ended_at, seconds, end_reason FROM wrap_ups").all();
    expect(row).toEqual([{ call_id: callId, user_id: "alice", started_at: wrap.since, until: wrap.until, ended_at: wrap.until, seconds: 600, end_reason: "timeout" }]);
    expect(third.logs.filter((l) => l.msg === "wrap-up ended").map((l) => l.reason)).toEqual(["timeout"]);
  });

  it("a member left paused for wrap-up that no running wrap-up owns is unpaused after the listing; a pause for lunch is left alone", async () => {
    const pbx = await startPbx("wrap-up");
    await start({ wrapUp: { pauseInQueue: true } }, { pbx });
    await waitFor(() => pauses(pbx).length === 1, "unpause");
    expect(pauses(pbx)).toEqual([{ Interface: "PJSIP/1001", Queue: "support", Paused: "false" }]);

    const lunch = await startPbx("lunch");
    const d = await start({ wrapUp: { pauseInQueue: true } }, { pbx: lunch });
    await d.daemon.ami!.action("Ping", []);
    expect(pauses(lunch)).toEqual([]);
  });
});
