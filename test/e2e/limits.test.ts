/**
 * Budgets end to end (issue 7): a real WebSocket on loopback against the daemon and a fake PBX.
 * A flood of frames is answered up to the connection's budget, refused once with
 * `rate_limited`, then closed 4029; a flood of queue commands reaches the PBX as at most
 * control.limits.queueActionsPerMinute actions. Another user's budget is untouched. The
 * refill rates are set so low that no token can come back while a test runs.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { header } from "../../src/ami/codec.js";
import { CLOSE_CODES } from "../../src/publish/protocol.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor, type RunningDaemon } from "../helpers/daemon.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

async function value(d: RunningDaemon, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await d.daemon.registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
}

describe("frame budget per connection", () => {
  it("answers frameBurst frames, refuses the next once with rate_limited, closes 4029 past closeAfterRefused; bob is unaffected", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { limits: { framesPerSecond: 0.001, frameBurst: 20, closeAfterRefused: 50 } } });
    const bob = d.connect("bob");
    await bob.ready();
    const alice = d.connect("alice");
    await alice.ready();
    for (let i = 0; i < 300; i++) alice.send({ type: "ping" });
    const closed = await alice.closed;
    expect(closed).toEqual({ code: CLOSE_CODES.rateLimited, reason: "rate limited" });
    const types = alice.messages.slice(2).map((m) => (m.type === "error" ? `error:${m.code}` : m.type));
    expect(types.filter((t) => t === "pong")).toHaveLength(20);
    expect(types.filter((t) => t === "error:rate_limited")).toHaveLength(1);
    expect(types).toHaveLength(21);
    // 50 refusals drain the strikes; the 51st closes.
    expect(await value(d, "ctibridge_ws_rate_limited_total", { kind: "frame" })).toBe(51);
    expect(await value(d, "ctibridge_ws_rate_limit_closes_total")).toBe(1);
    await bob.sync();
  });

  it("a resync costs resyncCost tokens", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { limits: { framesPerSecond: 0.001, frameBurst: 30, resyncCost: 10 } } });
    const alice = d.connect("alice");
    await alice.ready();
    for (let i = 0; i < 5; i++) alice.send({ type: "resume", afterSeq: 0 });
    alice.send({ type: "ping" });
    await waitFor(() => alice.messages.some((m) => m.type === "error"), "a refusal");
    const types = alice.messages.slice(2).map((m) => (m.type === "error" ? `error:${m.code}` : m.type));
    // Three resyncs (30 tokens); the fourth is refused and answered; the fifth and the ping are dropped.
    expect(types).toEqual(["resync_required", "snapshot", "resync_required", "snapshot", "resync_required", "snapshot", "error:rate_limited"]);
  });
});

describe("command budget per user", () => {
  it("50 queue.pause frames become queueActionsPerMinute QueuePause actions; bob's still reach the PBX", async () => {
    const d = await rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 }, control: { limits: { queueActionsPerMinute: 5 } } });
    d.pbx.handle("QueuePause", () => [["Response", "Success"], ["Message", "Interface paused successfully"]]);
    const alice = d.connect("alice");
    const bob = d.connect("bob");
    await Promise.all([alice.ready(), bob.ready()]);
    for (let i = 0; i < 50; i++) alice.send({ type: "command", id: `p${i}`, action: "queue.pause", args: { queue: "support" } });
    const results = await waitFor(() => {
      const r = alice.messages.filter((m) => m.type === "command.result");
      return r.length === 50 && r;
    }, "50 command results");
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.filter((r) => !r.ok).map((r) => r.error.code)).toEqual(Array(45).fill("rate_limited"));
    const pauses = () => d.pbx.received.filter((r) => header(r.action, "Action") === "QueuePause");
    expect(pauses().map((r) => header(r.action, "Interface"))).toEqual(Array(5).fill("PJSIP/1001"));
    expect(await value(d, "ctibridge_ws_rate_limited_total", { kind: "command" })).toBe(45);

    bob.send({ type: "command", id: "b1", action: "queue.pause", args: { queue: "support" } });
    expect(await bob.nextOf("command.result")).toMatchObject({ id: "b1", ok: true });
    expect(pauses().map((r) => header(r.action, "Interface")).at(-1)).toBe("PJSIP/1002");
  });
});

describe("the cost of a frame (issue 7: 10,000 claims with 3,400 calls active kept the daemon busy for 19 s)", () => {
  it("an agent's claims and resyncs never read the active-call list; a supervisor's resyncs read it once per change", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { limits: { framesPerSecond: 1_000, frameBurst: 10_000 } } });
    await d.replay(trace01Halves()[0]);
    const [call] = d.daemon.tracker.activeCalls();
    expect(call?.state).toBe("connected");
    const reads = vi.spyOn(d.daemon.tracker, "activeCalls");
    const alice = d.connect("alice");
    const tab2 = d.connect("alice");
    const [{ snapshot }] = await Promise.all([alice.ready(), tab2.ready()]);
    expect(snapshot.calls.map((c: any) => [c.callId, c.state, c.legs.map((l: any) => l.userId)])).toEqual([[call!.callId, "connected", ["alice"]]]);
    for (let i = 0; i < 50; i++) alice.send({ type: "claim", callId: i % 2 === 0 ? call!.callId : "no-such-call" });
    for (let i = 0; i < 10; i++) alice.send({ type: "resume", afterSeq: 0 });
    // alice's frames are all handled once her ping is answered; tab2's ping after that.
    await alice.sync();
    await tab2.sync();
    expect(tab2.messages.filter((m) => m.type === "call.claimed")).toHaveLength(25);
    expect(alice.messages.filter((m) => m.type === "call.claimed" && m.byMe)).toHaveLength(25);
    expect(alice.messages.filter((m) => m.type === "error").map((m) => m.code)).toEqual(Array(25).fill("not_found"));
    const resyncs = alice.messages.filter((m) => m.type === "snapshot").slice(1);
    expect(resyncs).toHaveLength(10);
    for (const r of resyncs) expect(r.calls).toEqual(snapshot.calls);
    expect(reads).not.toHaveBeenCalled();

    const sam = d.connect("sam");
    const { snapshot: all } = await sam.ready();
    expect(all.calls.map((c: any) => c.callId)).toEqual([call!.callId]);
    for (let i = 0; i < 5; i++) sam.send({ type: "resume", afterSeq: 0 });
    await sam.sync();
    expect(sam.messages.filter((m) => m.type === "snapshot")).toHaveLength(6);
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
