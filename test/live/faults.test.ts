/**
 * Live faults against the lab PBX: the daemon is the built CLI (`npm run build`) as a child
 * process on a file database; real SIP phones (test/live/phones.py) make the calls; an agent
 * (alice) and a supervisor (sam) are WebSocket clients. Each test compares what ctibridge
 * stored and sent with what the phones and the PBX did. `npm run test:live`; skipped when no
 * lab AMI answers. These tests stop and restart the lab's Asterisk (each leaves it up).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TestClient } from "../helpers/cti.js";
import { labUnavailable } from "./lab.js";
import { astcli, asteriskPid, Daemon, labUp, Phones, within } from "./rig.js";

const unavailable = await labUnavailable();
if (unavailable) console.warn(`test:live skipped: ${unavailable}`);

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
  cleanup = [];
});

async function rig(ami: Record<string, unknown> = {}) {
  const daemon = new Daemon(ami);
  const phones = new Phones();
  cleanup.push(() => daemon.close(), () => phones.quit());
  await daemon.start();
  return { daemon, phones };
}

const ms = (iso: string | null) => (iso === null ? NaN : Date.parse(iso));
const types = (c: TestClient, type: string) => c.messages.filter((m) => m.type === type);
const aliceState = (c: TestClient) => types(c, "agent.state").filter((m) => m.agent === "alice");

describe.skipIf(unavailable !== null)("live faults against the lab PBX", () => {
  it("kill -9 of the daemon mid-call and mid-ring: same callIds and times; the call given up meanwhile reaches alice as possibly missed", async () => {
    const { daemon, phones } = await rig();
    const alice = await daemon.client(daemon.token("alice"));
    await phones.do("agents 1001 1002");
    // Bob's direct line answered; then alice's line rings.
    await phones.do("call c1 +4930111001 4930555012");
    const bobRang = await phones.do("ring 1002");
    const bobAnswered = await phones.do("answer 1002");
    await phones.do("call c2 +4930111002 4930555000");
    const aliceRang = await phones.do("ring 1001");
    await alice.nextOf("call.ringing", 5000);
    const lastSeq = Math.max(...alice.messages.map((m) => m.seq ?? 0));
    const before = await within(() => {
      const r = daemon.read();
      return r.calls.length === 2 && r.calls.some((c) => c.state === "connected") && r.calls.some((c) => c.state === "ringing") ? r : null;
    }, "both calls stored", 5);
    await daemon.kill("SIGKILL");
    alice.ws.terminate();
    const killedAt = Date.now();
    // The caller gives up while no daemon runs.
    const gaveUp = await phones.do("hangup c2");
    await phones.do("gone 1001");
    await daemon.start();
    const alice2 = await daemon.client(daemon.token("alice"));
    alice2.send({ type: "resume", afterSeq: lastSeq });
    const ended = await alice2.nextOf("call.ended", 5000);
    const missed = await alice2.nextOf("call.missed", 5000);
    const ringing = before.calls.find((c) => c.state === "ringing")!;
    const connected = before.calls.find((c) => c.state === "connected")!;
    expect(ended.call.callId).toBe(ringing.call_id);
    expect(ended.call.endReason).toBe("unknown_end");
    expect(ended.call.times.endEstimated).toBe(true);
    expect(missed.call.callId).toBe(ringing.call_id);
    expect(JSON.stringify(missed)).toContain('"missedUncertain":true');
    // Bob hangs up after the restart: a normal end, the times from before the kill.
    await phones.do("hangup 1002");
    await phones.do("gone c1");
    const after = await within(() => {
      const r = daemon.read();
      return r.calls.every((c) => c.state === "ended") ? r : null;
    }, "both calls ended", 10);
    const bobCall = after.calls.find((c) => c.call_id === connected.call_id)!;
    const aliceCall = after.calls.find((c) => c.call_id === ringing.call_id)!;
    expect(after.calls).toHaveLength(2);
    expect([bobCall.ringing_at, bobCall.answered_at, bobCall.outcome, bobCall.end_reason]).toEqual([connected.ringing_at, connected.answered_at, "answered", "hangup"]);
    // Rebuilt from a listing that may name bob's channel first: still the carrier's call to bob's DID.
    expect([bobCall.direction, bobCall.from_raw, bobCall.to_raw]).toEqual(["inbound", "+4930111001", "4930555012"]);
    // The stored times are those the phones saw (before the kill), not the restart time.
    expect(ms(bobCall.answered_at)).toBeLessThanOrEqual(bobAnswered.at);
    expect(ms(bobCall.ringing_at)).toBeLessThanOrEqual(bobRang.at);
    expect(ms(aliceCall.ringing_at)).toBeLessThanOrEqual(aliceRang.at);
    expect(ms(aliceCall.ended_at)).toBeLessThanOrEqual(gaveUp.at);
    expect([aliceCall.outcome, aliceCall.end_reason, aliceCall.end_estimated]).toEqual([null, "unknown_end", 1]);
    const aliceLeg = after.legs.find((l) => l.call_id === ringing.call_id && l.user_id === "alice")!;
    expect([aliceLeg.outcome, aliceLeg.missed_uncertain]).toEqual(["missed", 1]);
    console.log("kill9", JSON.stringify({ killedAt: new Date(killedAt).toISOString(), gaveUp: new Date(gaveUp.at).toISOString(), bobAnswered: new Date(bobAnswered.at).toISOString(), bobCall, aliceCall, aliceLeg }));
  });

  it("core restart now mid-call with alice paused: the PBX hangs the call up before the link drops; listings after FullyBooted clear the pause; one pbx.disconnected", async () => {
    const { daemon, phones } = await rig();
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1001 1002");
    astcli("queue pause member PJSIP/1001 queue support reason lunch");
    await within(() => aliceState(sam).some((m) => JSON.stringify(m).includes('"paused":true')), "alice paused", 5);
    await phones.do("call c1 +4930111003 4930555012");
    await phones.do("ring 1002");
    const answered = await phones.do("answer 1002");
    const mark = daemon.lines.length;
    const restartAt = Date.now();
    astcli("core restart now");
    const lost = await within(() => daemon.lines.slice(mark).find((l) => l.msg === "ami disconnected"), "link lost", 10);
    await within(() => daemon.lines.slice(mark).some((l) => l.msg === "agent state resynced"), "agent state resynced after the restart", 60);
    // Asterisk 22 hangs the channels up before it closes the AMI sessions on `core restart
    // now`: the daemon sees the Hangup events, the call ends normally, before the link is lost.
    const call = await within(() => daemon.read().calls.find((c) => c.state === "ended"), "call ended", 10);
    expect([call.outcome, call.end_reason, call.end_estimated]).toEqual(["answered", "hangup", 0]);
    const reconnected = daemon.lines.slice(mark).find((l) => l.msg === "ami connected")!;
    expect(ms(call.ended_at)).toBeGreaterThanOrEqual(answered.at - 1000);
    expect(ms(call.ended_at)).toBeLessThanOrEqual(ms(lost.time));
    expect(ms(call.ended_at)).toBeLessThan(ms(reconnected.time));
    // The pause from before the restart is gone; one pbx.disconnected for this outage.
    await within(() => JSON.stringify(aliceState(sam).at(-1) ?? {}).includes('"paused":false'), "alice not paused after the restart", 10);
    expect(types(sam, "pbx.disconnected")).toHaveLength(1);
    const log = daemon.lines.slice(mark).filter((l) => /ami|resync|booted|listing/i.test(String(l.msg))).map((l) => `${l.time} ${l.msg}`);
    console.log("core restart now", JSON.stringify({ restartAt: new Date(restartAt).toISOString(), answered: new Date(answered.at).toISOString(), lost: lost.time, call, log }, null, 1));
    await phones.do("hangup c1");
    await phones.do("hangup 1002");
  });

  it("core stop now mid-call, PBX started again: the PBX hangs the call up before the link drops; one pbx.disconnected", async () => {
    const { daemon, phones } = await rig();
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1002");
    await phones.do("call c1 +4930111006 4930555012");
    await phones.do("ring 1002");
    await phones.do("answer 1002");
    const mark = daemon.lines.length;
    astcli("core stop now");
    const lost = await within(() => daemon.lines.slice(mark).find((l) => l.msg === "ami disconnected"), "link lost", 10);
    const call = await within(() => daemon.read().calls.find((c) => c.state === "ended"), "call ended", 10);
    expect([call.outcome, call.end_reason, call.end_estimated]).toEqual(["answered", "hangup", 0]);
    expect(ms(call.ended_at)).toBeLessThanOrEqual(ms(lost.time));
    await new Promise((r) => setTimeout(r, 3000));
    labUp();
    await within(() => daemon.lines.slice(mark).some((l) => l.msg === "pbx resynced"), "resynced after the stop", 30);
    await sam.sync();
    expect(sam.messages.filter((m) => m.type.startsWith("pbx.")).map((m) => m.type)).toEqual(["pbx.disconnected", "pbx.resynced"]);
  });

  it("kill -9 of Asterisk mid-call, 30 s outage: one pbx.disconnected, the call ends when the link was lost", async () => {
    const { daemon, phones } = await rig();
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1002");
    await phones.do("call c1 +4930111004 4930555012");
    await phones.do("ring 1002");
    await phones.do("answer 1002");
    const mark = daemon.lines.length;
    process.kill(asteriskPid(), "SIGKILL");
    const lost = await within(() => daemon.lines.slice(mark).find((l) => l.msg === "ami disconnected"), "link lost", 10);
    await new Promise((r) => setTimeout(r, 30_000));
    labUp();
    await within(() => daemon.lines.slice(mark).some((l) => l.msg === "pbx resynced"), "resynced after the outage", 30);
    const call = await within(() => daemon.read().calls.find((c) => c.state === "ended"), "call closed by the resync", 10);
    expect([call.outcome, call.end_reason, call.end_estimated]).toEqual(["answered", "unknown_end", 1]);
    // At the moment the link was lost (the log line is written a millisecond or so after the
    // daemon took that time), not at the reconnect 30 s later.
    expect(Math.abs(ms(call.ended_at) - ms(lost.time))).toBeLessThan(1000);
    await sam.sync();
    expect(types(sam, "pbx.disconnected")).toHaveLength(1);
    const attempts = daemon.lines.slice(mark).filter((l) => l.msg === "ami reconnecting").length;
    console.log("kill -9 asterisk", JSON.stringify({ lost: lost.time, attempts, call, frames: sam.messages.filter((m) => m.type.startsWith("pbx.")).map((m) => m.type) }));
    await phones.do("hangup c1");
    await phones.do("hangup 1002");
  });

  it("Asterisk hangs (SIGSTOP) mid-call past the ping timeout, then goes on: the link is dropped, the call is found again and ends normally", async () => {
    const { daemon, phones } = await rig({ pingIntervalMs: 1000, actionTimeoutMs: 1000, connectTimeoutMs: 1000 });
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1002");
    await phones.do("call c1 +4930111007 4930555012");
    await phones.do("ring 1002");
    await phones.do("answer 1002");
    const before = await within(() => daemon.read().calls.find((c) => c.state === "connected"), "call connected", 5);
    const mark = daemon.lines.length;
    const pid = asteriskPid();
    process.kill(pid, "SIGSTOP");
    try {
      await within(() => daemon.lines.slice(mark).some((l) => l.msg === "ami disconnected"), "ping timeout drops the link", 10);
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await within(() => daemon.lines.slice(mark).some((l) => l.msg === "pbx resynced"), "resynced after the hang", 30);
    // The call was still up: same callId, still connected, nothing closed by the resync.
    expect(daemon.read().calls.map((c) => [c.call_id, c.state])).toEqual([[before.call_id, "connected"]]);
    await phones.do("hangup c1");
    await phones.do("gone 1002");
    const call = await within(() => daemon.read().calls.find((c) => c.state === "ended"), "call ended", 10);
    expect([call.call_id, call.outcome, call.end_reason, call.end_estimated, call.answered_at]).toEqual([before.call_id, "answered", "hangup", 0, before.answered_at]);
    await sam.sync();
    expect(sam.messages.filter((m) => m.type.startsWith("pbx.")).map((m) => m.type)).toEqual(["pbx.disconnected", "pbx.resynced"]);
    const log = daemon.lines.slice(mark).filter((l) => /^(ami|pbx)/.test(String(l.msg))).map((l) => `${l.time} ${l.msg}${l.reason ? ` (${l.reason})` : ""}`);
    console.log("SIGSTOP asterisk", JSON.stringify(log, null, 1));
  });

  it("a pjsua phone unregisters and registers again (3 times): one agent.state per change", async () => {
    // CTIBRIDGE_LIVE_SETTLE_MS=0 runs it with the old flush (end of each read) to see the split write.
    const settle = process.env.CTIBRIDGE_LIVE_SETTLE_MS;
    const { daemon, phones } = await rig(settle === undefined ? {} : { agentStateSettleMs: Number(settle) });
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1001");
    await within(() => JSON.stringify(aliceState(sam).at(-1) ?? {}).includes("not_inuse"), "alice idle", 10);
    await sam.sync();
    const shape = (m: any) => `${m.state.deviceState}/${m.state.queues.map((q: any) => (q.loggedIn ? "in" : "out")).join(",")}`;
    for (let round = 0; round < 3; round++) {
      const from = aliceState(sam).length;
      await phones.do("unregister 1001");
      await within(() => aliceState(sam).at(-1)?.state.deviceState === "unavailable", "alice unavailable", 10);
      await new Promise((r) => setTimeout(r, 800));
      await phones.do("register 1001");
      await within(() => aliceState(sam).at(-1)?.state.deviceState === "not_inuse", "alice back", 10);
      await new Promise((r) => setTimeout(r, 800));
      await sam.sync();
      expect(aliceState(sam).slice(from).map(shape), `round ${round + 1}`).toEqual(["unavailable/out", "not_inuse/in"]);
    }
    void daemon;
  });

  it("manager reload mid-call: the AMI session survives, the call goes on and is stored normally", async () => {
    const { daemon, phones } = await rig();
    const sam = await daemon.client(daemon.token("sam"));
    await phones.do("agents 1002");
    await phones.do("call c1 +4930111005 4930555012");
    await phones.do("ring 1002");
    await phones.do("answer 1002");
    const mark = daemon.lines.length;
    astcli("manager reload");
    await new Promise((r) => setTimeout(r, 2000));
    await phones.do("hangup c1");
    await phones.do("gone 1002");
    const call = await within(() => daemon.read().calls.find((c) => c.state === "ended"), "call ended", 10);
    expect([call.outcome, call.end_reason, call.end_estimated]).toEqual(["answered", "hangup", 0]);
    expect(daemon.lines.slice(mark).filter((l) => /^ami (disconnected|reconnecting|connected)$/.test(String(l.msg)))).toEqual([]);
    await sam.sync();
    expect(types(sam, "pbx.disconnected")).toHaveLength(0);
  });
});
