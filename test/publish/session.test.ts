import { afterEach, describe, expect, it } from "vitest";
import { event, leg, makeCall, T0 } from "../helpers/calls.js";
import { startHarness, type Harness } from "../helpers/cti.js";

let h: Harness;
afterEach(async () => h?.close());

const aliceCall = () => makeCall({ legs: [leg("alice", "PJSIP/1001")] });

describe("resume", () => {
  it("replays the user's missed messages in order from the journal", async () => {
    h = await startHarness();
    const first = h.connect(await h.sign("alice"));
    const { snapshot } = await first.ready();
    first.ws.close();
    await first.closed;
    const [a, b] = [aliceCall(), makeCall({ legs: [leg("bob", "PJSIP/1002")] })];
    h.cti.publish(event("callRinging", "alice", a));
    h.cti.publish(event("callRinging", "bob", b));
    h.cti.publish(event("callEnded", "alice", a, T0 + 1000));
    h.cti.publish(event("callMissed", "alice", a, T0 + 1000));
    const again = h.connect(await h.sign("alice"));
    await again.ready();
    again.send({ type: "resume", afterSeq: snapshot.seq });
    const replayed = [await again.next(), await again.next(), await again.next()];
    expect(replayed.map((m) => [m.type, m.seq - snapshot.seq])).toEqual([["call.ringing", 1], ["call.ended", 3], ["call.missed", 4]]);
    expect(replayed[2]).toMatchObject({ callbackNumber: "+4930123456", call: { callId: a.callId } });
    await again.sync();
    expect(again.messages.some((m) => m.call?.callId === b.callId)).toBe(false);
  });

  it("answers resync_required and a fresh snapshot when the journal no longer reaches back", async () => {
    h = await startHarness({ server: { journalSize: 2 } });
    const first = h.connect(await h.sign("alice"));
    const { snapshot } = await first.ready();
    first.ws.close();
    const call = aliceCall();
    h.calls.push(call);
    for (const name of ["callRinging", "callAnswered", "callHeld", "callResumed"] as const) h.cti.publish(event(name, "alice", call));
    const again = h.connect(await h.sign("alice"));
    await again.ready();
    again.send({ type: "resume", afterSeq: snapshot.seq });
    expect(await again.next()).toMatchObject({ type: "resync_required", afterSeq: snapshot.seq, oldestSeq: snapshot.seq + 3 });
    const fresh = await again.next();
    expect(fresh.type).toBe("snapshot");
    expect(fresh.calls.map((c: any) => c.callId)).toEqual([call.callId]);
  });

  it("asks for a resync when afterSeq is from the future (a restarted daemon)", async () => {
    h = await startHarness();
    const c = h.connect(await h.sign("alice"));
    const { hello } = await c.ready();
    c.send({ type: "resume", afterSeq: hello.seq + 10 });
    expect((await c.next()).type).toBe("resync_required");
  });
});

describe("client frames", () => {
  it("answers bad frames with an error and keeps the connection", async () => {
    h = await startHarness();
    const c = h.connect(await h.sign("alice"));
    await c.ready();
    c.send("{not json");
    c.send({ type: "dance" });
    c.send({ type: "resume", afterSeq: -1 });
    c.send([1, 2]);
    const errors = [await c.next(), await c.next(), await c.next(), await c.next()];
    expect(errors.map((e) => e.code)).toEqual(["bad_message", "unknown_type", "invalid_argument", "bad_message"]);
    expect(errors[2].message).toBe("afterSeq: Too small: expected number to be >=0");
    await c.sync();
  });

  it("routes commands to onCommand and answers command.result", async () => {
    const seen: unknown[] = [];
    h = await startHarness({
      onCommand: async (user, cmd) => {
        seen.push([user.userId, cmd]);
        if (cmd.action === "hangup") return { ok: false, error: { code: "not_found", message: "no such call" } };
        if (cmd.action === "boom") throw new Error("bug");
        return { ok: true, data: { callId: "c-9" } };
      },
    });
    const c = h.connect(await h.sign("alice"));
    await c.ready();
    c.send({ type: "command", id: "1", action: "dial", args: { to: "+4930999" } });
    expect(await c.next()).toMatchObject({ type: "command.result", id: "1", ok: true, data: { callId: "c-9" } });
    c.send({ type: "command", id: "2", action: "hangup", args: { callId: "x" } });
    expect(await c.next()).toMatchObject({ type: "command.result", id: "2", ok: false, error: { code: "not_found" } });
    c.send({ type: "command", id: "3", action: "boom" });
    expect(await c.next()).toMatchObject({ type: "command.result", id: "3", ok: false, error: { code: "internal" } });
    expect(seen[0]).toEqual(["alice", { id: "1", action: "dial", args: { to: "+4930999" }, connectionId: expect.any(String) }]);
    // Each command is logged once, by call control (control/commands.ts); the server only logs a handler that threw.
    expect(h.logs.filter((l) => /command/.test(String(l.msg))).map((l) => [l.msg, l.userId, l.action, l.cmdId])).toEqual([["command handler failed", "alice", "boom", "3"]]);
  });
});

describe("status and heartbeats", () => {
  it("sends pbx status to everyone and agent state to the agent and supervisors", async () => {
    h = await startHarness();
    const [alice, bob, sue] = [h.connect(await h.sign("alice")), h.connect(await h.sign("bob")), h.connect(await h.sign("sue"))];
    await Promise.all([alice.ready(), bob.ready(), sue.ready()]);
    h.cti.pbxStatus("disconnected", { reason: "connection refused" });
    h.cti.agentState("alice", { deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: true, reason: "lunch" }], activity: "paused", wrapUp: null });
    for (const c of [alice, bob, sue]) expect(await c.next()).toMatchObject({ type: "pbx.disconnected", reason: "connection refused" });
    expect(await alice.next()).toMatchObject({ type: "agent.state", agent: "alice", state: { deviceState: "not_inuse" } });
    expect(await sue.next()).toMatchObject({ type: "agent.state", agent: "alice" });
    await bob.sync();
    expect(bob.messages.some((m) => m.type === "agent.state")).toBe(false);
  });

  it("terminates a client that stops answering pings; a healthy one stays", async () => {
    h = await startHarness({ server: { heartbeatMs: 20 } });
    const deaf = h.connect(await h.sign("alice"), { autoPong: false });
    const healthy = h.connect(await h.sign("alice"));
    await Promise.all([deaf.ready(), healthy.ready()]);
    expect((await deaf.closed).code).toBe(1006);
    await healthy.sync();
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
  });

  it("counts clients and messages in the metrics registry", async () => {
    h = await startHarness();
    const c = h.connect(await h.sign("alice"));
    await c.ready();
    const text = await h.registry.metrics();
    expect(text).toContain("ctibridge_ws_clients 1");
    expect(text).toMatch(/ctibridge_ws_messages_sent_total [1-9]/);
  });
});
