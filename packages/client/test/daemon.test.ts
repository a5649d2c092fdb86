/**
 * The SDK against the whole daemon on loopback: the fake PBX replays recorded traces, a raw ws
 * client records what the server sent, and the SDK's folded state, pops and events must agree
 * with it, also across a dropped socket (resume), a journal that no longer reaches back
 * (resync_required), commands that fail or time out, and a JWT that is refreshed before it expires.
 */
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createApiToken, revokeApiToken } from "../../../src/publish/apiTokens.js";
import { stripTracePreamble } from "../../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor, type RunningDaemon } from "../../../test/helpers/daemon.js";
import type { TestClient } from "../../../test/helpers/cti.js";
import { traceBytes } from "../../../test/helpers/traces.js";
import { CommandError, type CallMessage } from "../src/index.js";
import { recordingClient, startProxy, traceSplit, type Proxy, type RecordingClient } from "./rig.js";

const rig = new DaemonRig();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rig.close();
});

function sdk(d: RunningDaemon, userId: string, o: { port?: number; instance?: string; popTiming?: "ringing" | "answered" | "off" } = {}): RecordingClient {
  const r = recordingClient({ url: `ws://127.0.0.1:${o.port ?? d.port}/ws`, token: d.token(userId), ...(o.instance ? { instance: o.instance } : {}), ...(o.popTiming ? { popTiming: o.popTiming } : {}) });
  cleanups.push(() => r.client.close());
  return r;
}

async function proxy(d: RunningDaemon): Promise<Proxy> {
  const p = await startProxy(d.port);
  cleanups.push(() => p.close());
  return p;
}

const open = (r: RecordingClient) => waitFor(() => r.client.status === "open", "client open");
/** Every call frame the raw client got (not hello/snapshot/pong/agent.state …). */
const callFrames = (c: TestClient): CallMessage[] => c.messages.filter((m) => typeof m.type === "string" && m.type.startsWith("call.") && m.type !== "call.claimed");
const seqsOf = (r: RecordingClient) => r.of("call").map((e) => e.message.seq);
/** A trace (default 01) cut right after alice's phone started ringing. */
const ringingHalves = (trace = "01-inbound-answered") =>
  traceSplit(trace, (m) => m.startsWith("Event: Newstate") && m.includes("Channel: PJSIP/1001-") && m.includes("ChannelStateDesc: Ringing"));

describe("the SDK on a recorded scenario", () => {
  it("pops once, folds the call as the server sent it, and drops it on call.ended", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const raw = d.connect("alice");
    await raw.ready();
    const alice = sdk(d, "alice");
    await open(alice);
    expect(alice.client.user).toMatchObject({ id: "alice", role: "agent", devices: ["PJSIP/1001"] });

    const [head, tail] = trace01Halves();
    await d.replay(head);
    await raw.sync();
    await alice.client.ping();
    const frames = callFrames(raw);
    expect(frames.map((m) => m.type)).toEqual(["call.ringing", "call.answered"]);
    // The folded call is exactly the last call snapshot the server sent.
    expect([...alice.client.calls.values()]).toEqual([frames[1]!.call]);
    expect(alice.of("pop")).toEqual([{ call: frames[0]!.call, message: frames[0] }]);
    expect(seqsOf(alice)).toEqual(frames.map((m) => m.seq));

    await d.replay(tail);
    await raw.sync();
    await alice.client.ping();
    const all = callFrames(raw);
    expect(all.map((m) => m.type)).toEqual(["call.ringing", "call.answered", "call.ended"]);
    expect(alice.client.calls.size).toBe(0);
    expect(alice.of("ended")).toEqual([{ call: all[2]!.call, message: all[2], replayed: false }]);
    expect(alice.of("pop")).toHaveLength(1);
    expect(alice.client.lastSeq).toBe(raw.messages.at(-1).seq);
  });

  it("a missed queue call: missed with the number to call back, no call left", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const raw = d.connect("bob");
    await raw.ready();
    const bob = sdk(d, "bob");
    await open(bob);
    await d.replay(stripTracePreamble(traceBytes("08-queue-support-abandoned")));
    await raw.sync();
    await bob.client.ping();
    const missed = callFrames(raw).find((m) => m.type === "call.missed")!;
    expect(bob.of("missed")).toEqual([{ call: missed.call, message: missed, callbackNumber: "+49309876543", replayed: false }]);
    expect(bob.of("pop").map((p) => p.message.seq)).toEqual(callFrames(raw).filter((m) => m.pop).map((m) => m.seq));
    expect(bob.client.calls.size).toBe(0);
  });

  it("a call already ringing when the client connects pops from the snapshot, once", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const [ringing, rest] = ringingHalves();
    await d.replay(ringing);
    const alice = sdk(d, "alice");
    await open(alice);
    const [pop] = alice.of("pop");
    expect(pop?.message.type).toBe("snapshot");
    expect(pop?.call.legs).toEqual([expect.objectContaining({ userId: "alice", state: "ringing" })]);
    await d.replay(rest);
    await alice.client.ping();
    expect(alice.of("pop")).toHaveLength(1);
    expect(alice.of("ended")).toHaveLength(1);
  });
});

describe("pop timing answered", () => {
  it("a ringing call in the snapshot does not pop; it pops at the answer, as the server says; a later client pops the answered call from its snapshot", async () => {
    const d = await rig.start({ users: E2E_USERS, pop: { timing: "answered" } });
    const [ringing, rest] = ringingHalves();
    await d.replay(ringing);
    const alice = sdk(d, "alice", { popTiming: "answered" });
    await open(alice);
    expect(alice.client.calls.size).toBe(1);
    expect(alice.of("pop")).toEqual([]);
    const [, bridged] = traceSplit("01-inbound-answered", (m) => m.startsWith("Event: BridgeEnter") && m.includes("Channel: PJSIP/carrier-00000000"));
    await d.replay(rest.subarray(0, rest.length - bridged.length));
    await alice.client.ping();
    expect(alice.of("pop").map((p) => [p.message.type, p.message.seq])).toEqual(
      alice.of("call").filter((c) => c.message.pop).map((c) => [c.message.type, c.message.seq]),
    );
    expect(alice.of("pop").map((p) => p.message.type)).toEqual(["call.answered"]);
    const later = sdk(d, "alice", { popTiming: "answered" });
    await open(later);
    expect(later.of("pop").map((p) => [p.message.type, p.call.state])).toEqual([["snapshot", "connected"]]);
  });
});

describe("reconnect and resume", () => {
  it("after the socket is cut, resumes from the last seq: no event lost, none twice", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const p = await proxy(d);
    const stayer = d.connect("alice");
    await stayer.ready();
    const alice = sdk(d, "alice", { port: p.port });
    await open(alice);
    const [head, tail] = trace01Halves();
    await d.replay(head);
    await alice.client.ping();
    const before = alice.client.lastSeq;

    p.setDown(true);
    p.cut();
    await waitFor(() => alice.client.status === "reconnecting", "reconnecting");
    // While the client is away: the call ends and another call rings and is missed.
    await d.replay(tail);
    await d.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")));
    await stayer.sync();
    p.setDown(false);
    await waitFor(() => alice.client.status === "open" && alice.of("missed").length === 1, "resumed");
    await alice.client.ping();

    expect(seqsOf(alice)).toEqual(callFrames(stayer).map((m) => m.seq));
    expect(alice.of("call").filter((c) => c.message.seq > before).every((c) => c.replayed)).toBe(true);
    expect(alice.client.calls.size).toBe(0);
    expect(alice.of("ended").map((e) => e.message?.seq)).toEqual(callFrames(stayer).filter((m) => m.type === "call.ended").map((m) => m.seq));
    // The missed call rang while the client was away: reported, but no pop now.
    expect(alice.of("pop")).toHaveLength(1);
    expect(alice.client.lastSeq).toBeGreaterThanOrEqual(callFrames(stayer).at(-1)!.seq);
    const statuses = alice.of("connection").map((c) => c.status);
    expect(statuses[0]).toBe("open");
    expect(statuses.at(-1)).toBe("open");
    expect(statuses).toContain("reconnecting");

    // Live again: the next call reaches it once, and pops.
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    await stayer.sync();
    await alice.client.ping();
    expect(seqsOf(alice)).toEqual(callFrames(stayer).map((m) => m.seq));
    // Three pops were sent; the one of the call that rang and ended while away is not opened late.
    const sent = callFrames(stayer).filter((m) => m.pop).map((m) => m.seq);
    expect(sent).toHaveLength(3);
    expect(alice.of("pop").map((x) => x.message.seq)).toEqual([sent[0], sent[2]]);
  });

  it("closed by the server as too slow (4008): back at once, resumed, every seq exactly once", async () => {
    // As test/e2e/resilience.test.ts: long pop URLs make a burst outgrow the kernel buffers.
    const pop = { urlTemplate: `https://crm.example/pop?phone={e164}&pad=${"x".repeat(64 * 1024)}` };
    const d = await rig.start({ users: E2E_USERS, server: { maxBufferedBytes: 1024 }, pop });
    const p = await proxy(d);
    const watcher = d.connect("sam");
    await watcher.ready();
    const sam = sdk(d, "sam", { port: p.port });
    await open(sam);
    p.holdDownstream(true);
    await d.replay(stripTracePreamble(traceBytes("24-burst-30-concurrent")));
    await waitFor(() => d.logs.some((l) => l.msg === "slow client closed"), "slow client closed");
    p.holdDownstream(false);
    await waitFor(() => sam.of("connection").filter((c) => c.status === "open").length === 2, "open again");
    await sam.client.ping();
    await watcher.sync();

    expect(sam.of("connection").find((c) => c.status === "reconnecting")).toMatchObject({ code: 4008, delayMs: 0 });
    const sent = callFrames(watcher).map((m) => m.seq);
    expect(sent.length).toBeGreaterThan(50);
    expect(seqsOf(sam)).toEqual(sent);
    expect(sam.client.calls.size).toBe(0);
  });

  it("resync_required: the fresh snapshot rebuilds the calls; a call whose end was lost is reported ended", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { journalSize: 2 } });
    const p = await proxy(d);
    const alice = sdk(d, "alice", { port: p.port });
    await open(alice);
    const [head, tail] = trace01Halves();
    await d.replay(head);
    await alice.client.ping();
    const [held] = [...alice.client.calls.values()];
    expect(held?.state).toBe("connected");

    p.setDown(true);
    p.cut();
    await waitFor(() => alice.client.status === "reconnecting", "reconnecting");
    // More facts than the journal keeps: the ended call and a ringing one.
    await d.replay(tail);
    await d.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")));
    await d.replay(ringingHalves("06-ringgroup-answered")[0]);
    p.setDown(false);
    await waitFor(() => alice.of("message").some((m) => m.type === "resync_required"), "resync_required");
    await alice.client.ping();

    const types = alice.of("message").map((m) => m.type);
    const r = types.lastIndexOf("resync_required");
    expect(types[r + 1]).toBe("snapshot");
    const ringingNow = [...alice.client.calls.values()];
    expect(ringingNow.map((c) => [c.state, c.legs.map((l) => [l.userId, l.state])])).toEqual([["ringing", [["alice", "ringing"]]]]);
    // The call that ended while away: its end was not seen, it is reported once, without a frame.
    expect(alice.of("ended")).toEqual([{ call: held, message: null, replayed: true }]);
    // The ringing call pops from the snapshot once (not again from the resync's snapshot).
    expect(alice.of("pop").map((x) => [x.call.callId, x.message.type])).toEqual([
      [held!.callId, "call.ringing"],
      [ringingNow[0]!.callId, "snapshot"],
    ]);
  });
});

describe("a supervisor", () => {
  it("folds every agent's state as sent; a narrowed subscription holds across a reconnect; an agent may not subscribe", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const p = await proxy(d);
    const raw = d.connect("sam");
    await raw.ready();
    const sam = sdk(d, "sam", { port: p.port });
    await open(sam);
    await d.replay(stripTracePreamble(traceBytes("06-ringgroup-answered")));
    await raw.sync();
    await sam.client.ping();
    const lastState = new Map<string, unknown>();
    for (const m of raw.messages) if (m.type === "agent.state") lastState.set(m.agent, m.state);
    expect(lastState.size).toBeGreaterThan(0);
    expect(new Map(sam.client.agents)).toEqual(lastState);
    expect(sam.of("agent").length).toBe(raw.messages.filter((m) => m.type === "agent.state").length);

    await sam.client.subscribe({ users: ["frank"] });
    p.cut();
    await waitFor(() => sam.of("connection").filter((c) => c.status === "open").length === 2, "open again");
    await sam.client.ping();
    // Re-sent after the reconnect: alice's ringing call reaches only the unnarrowed raw client.
    await d.replay(ringingHalves("07-queue-support-answered")[0]);
    await raw.sync();
    await sam.client.ping();
    const ringingForAll = callFrames(raw).filter((m) => m.type === "call.ringing").at(-1)!;
    expect(sam.of("call").some((c) => c.call.callId === ringingForAll.call.callId)).toBe(false);
    const bob = sdk(d, "bob");
    await open(bob);
    await expect(bob.client.subscribe({ users: ["alice"] })).rejects.toMatchObject({ code: "forbidden" });
  });
});

describe("a daemon restart", () => {
  it("resumes across it: resync, and the call that ended while the daemon was down is reported by its replayed call.ended", async () => {
    const first = await rig.start({ users: E2E_USERS });
    const p = await proxy(first);
    const alice = sdk(first, "alice", { port: p.port });
    await open(alice);
    await first.replay(trace01Halves()[0]);
    await alice.client.ping();
    const [held] = [...alice.client.calls.values()];
    expect(held?.state).toBe("connected");

    await rig.stop(first.daemon);
    // The call ended while the daemon was down: the PBX no longer lists it.
    first.pbx.setList("CoreShowChannels", []);
    const second = await rig.start({ dbPath: first.dbPath, pbx: first.pbx, users: E2E_USERS });
    p.setTarget(second.port);
    await waitFor(() => alice.of("ended").length === 1, "the call's end", 800);
    await alice.client.ping();

    const types = alice.of("message").map((m) => m.type);
    expect(types.slice(types.lastIndexOf("resync_required"), types.lastIndexOf("resync_required") + 2)).toEqual(["resync_required", "snapshot"]);
    const [ended] = alice.of("ended");
    expect(ended).toMatchObject({ replayed: true, call: { callId: held!.callId, state: "ended", endReason: "unknown_end" }, message: { type: "call.ended" } });
    expect(alice.client.calls.size).toBe(0);
    expect(alice.client.status).toBe("open");
  });
});

describe("commands", () => {
  it("times out without a result, then a dial resolves with its callId and channelId", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const originates: { conn: any; actionId: string; channelId: string }[] = [];
    d.pbx.handle("Originate", (msg: any, conn: any) => {
      originates.push({ conn, actionId: msg.headers.ActionID, channelId: msg.headers.ChannelId });
    });
    const alice = recordingClient({ url: `ws://127.0.0.1:${d.port}/ws`, token: d.token("alice"), commandTimeoutMs: 200 });
    cleanups.push(() => alice.client.close());
    await open(alice);
    const err = await alice.client.dial("0301234567").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ code: "timeout" });
    expect((err as CommandError).commandId).toMatch(/^[0-9a-z]{6}-1$/);

    const quick = recordingClient({ url: `ws://127.0.0.1:${d.port}/ws`, token: d.token("bob"), commandTimeoutMs: 5_000 });
    cleanups.push(() => quick.client.close());
    await open(quick);
    const dialed = quick.client.dial("0301234568");
    const o = await waitFor(() => originates[1], "second Originate");
    o.conn.send([["Response", "Success"], ["ActionID", o.actionId], ["Message", "Originate successfully queued"]]);
    o.conn.send([["Event", "OriginateResponse"], ["ActionID", o.actionId], ["Response", "Success"], ["Channel", "PJSIP/1002-00000099"], ["Context", "from-internal"], ["Exten", "0301234568"], ["Reason", "4"], ["Uniqueid", o.channelId]]);
    const result = await dialed;
    expect(result).toEqual({ callId: quick.of("call")[0]!.call.callId, channelId: o.channelId });
    // The timed-out command's late result (the daemon's own AMI timeout) is ignored: nothing thrown, no error event.
    expect(alice.of("error")).toEqual([]);
  });

  it("a forbidden command rejects with the server's code; a claim of no active call with not_found", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const [head] = trace01Halves();
    await d.replay(head);
    const bob = sdk(d, "bob");
    const alice = sdk(d, "alice");
    await Promise.all([open(bob), open(alice)]);
    const [call] = [...alice.client.calls.values()];
    const err = await bob.client.annotate(call!.callId, { comment: "not mine" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ code: "forbidden", message: "not a call of this user" });
    await expect(alice.client.annotate(call!.callId, { recordId: "C-981" })).resolves.toMatchObject({ annotation: { recordId: "C-981", by: "alice" } });
    await expect(bob.client.claim(call!.callId)).rejects.toMatchObject({ code: "not_found" });
    expect(bob.of("error")).toEqual([]);
  });

  it("claim: the other tab of the user gets claimed, the claimant's promise resolves", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const [ringing] = ringingHalves();
    await d.replay(ringing);
    const tab1 = sdk(d, "alice", { instance: "tab-1" });
    const tab2 = sdk(d, "alice", { instance: "tab-2" });
    await Promise.all([open(tab1), open(tab2)]);
    const [call] = [...tab1.client.calls.values()];
    await tab1.client.claim(call!.callId);
    await tab2.client.ping();
    expect(tab2.of("claimed")).toEqual([{ callId: call!.callId, by: tab1.client.connectionId, byMe: false }]);
  });

  it("a command while not connected, and one in flight when the socket drops, reject as disconnected", async () => {
    const d = await rig.start({ users: E2E_USERS });
    d.pbx.handle("Originate", () => undefined);
    const p = await proxy(d);
    const alice = sdk(d, "alice", { port: p.port });
    await expect(alice.client.hangup("nope")).rejects.toMatchObject({ code: "disconnected" });
    await open(alice);
    const inFlight = alice.client.dial("0301234567").catch((e: unknown) => e);
    await waitFor(() => alice.of("call").length > 0, "call.dialing");
    p.cut();
    expect(await inFlight).toMatchObject({ code: "disconnected" });
  });
});

describe("close codes", () => {
  it("4009: a newer connection with the same instance takes over; the older client stops", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const first = sdk(d, "alice", { instance: "tab" });
    await open(first);
    const second = sdk(d, "alice", { instance: "tab" });
    await open(second);
    await waitFor(() => first.client.status === "closed", "first closed");
    expect(first.of("error").map((e) => e.code)).toEqual(["superseded"]);
    expect(first.of("connection").at(-1)).toMatchObject({ status: "closed", code: 4009 });
    expect(second.client.status).toBe("open");
  });

  it("4001: a revoked API key ends the session at the next heartbeat; the client stops", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { heartbeatMs: 50 } });
    const { id, token } = createApiToken(d.daemon.db, "alice");
    const alice = recordingClient({ url: `ws://127.0.0.1:${d.port}/ws`, token });
    cleanups.push(() => alice.client.close());
    await open(alice);
    revokeApiToken(d.daemon.db, id);
    await waitFor(() => alice.client.status === "closed", "closed");
    expect(alice.of("connection").at(-1)).toMatchObject({ status: "closed", code: 4001 });
    expect(alice.of("error").map((e) => e.code)).toEqual(["unauthorized"]);
  });

  it("a refused token (HTTP 401) stops a client with a fixed token", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const bad = recordingClient({ url: `ws://127.0.0.1:${d.port}/ws`, token: "ctb_nobody_xxxxxxxx" });
    cleanups.push(() => bad.client.close());
    await waitFor(() => bad.client.status === "closed", "closed");
    expect(bad.of("error").map((e) => e.code)).toEqual(["unauthorized"]);
  });
});

describe("token refresh", () => {
  const SECRET = "sdk-test-secret-that-is-long-enough-for-hs256";
  const sign = (sub: string, seconds: number) =>
    new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + seconds).sign(new TextEncoder().encode(SECRET));

  it("reconnects with a fresh JWT from getToken before expiresAt, resumes, and never sees 4003", async () => {
    const d = await rig.start({ users: E2E_USERS, auth: { jwtSecret: SECRET }, logLevel: "debug" });
    const issued: string[] = [];
    const alice = recordingClient({
      url: `ws://127.0.0.1:${d.port}/ws`,
      getToken: async () => {
        const t = await sign("alice", 3);
        issued.push(t);
        return t;
      },
    });
    cleanups.push(() => alice.client.close());
    await waitFor(() => alice.of("message").filter((m) => m.type === "hello").length >= 2, "a second hello", 800);
    const hellos = alice.of("message").filter((m) => m.type === "hello");
    expect(hellos[0]).toMatchObject({ expiresAt: expect.any(String) });
    expect(new Set(hellos.map((h) => (h as { connectionId: string }).connectionId)).size).toBe(hellos.length);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    await open(alice);
    // The new session resumed where the old one stopped.
    const second = (hellos[1] as { connectionId: string }).connectionId;
    await waitFor(() => d.logs.find((l) => l.msg === "resumed" && l.connectionId === second), "the resume of the second session");
    expect(d.logs.find((l) => l.msg === "resumed" && l.connectionId === second)?.afterSeq).toBe(hellos[0]!.seq);
    expect(alice.of("connection").some((c) => c.code === 4003)).toBe(false);
    expect(alice.of("error")).toEqual([]);
    const [head] = trace01Halves();
    await d.replay(head);
    await alice.client.ping();
    expect(alice.of("pop")).toHaveLength(1);
  });

  it("with a fixed JWT, expiry (4003) stops the client", async () => {
    const d = await rig.start({ users: E2E_USERS, auth: { jwtSecret: SECRET } });
    const alice = recordingClient({ url: `ws://127.0.0.1:${d.port}/ws`, token: await sign("alice", 2) });
    cleanups.push(() => alice.client.close());
    await waitFor(() => alice.client.status === "closed", "closed at expiry", 400);
    expect(alice.of("error").map((e) => e.code)).toEqual(["token_expired"]);
  });
});
