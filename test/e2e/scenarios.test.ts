/**
 * End to end, through the whole daemon: the fake PBX (real TCP on 127.0.0.1) replays a
 * recorded trace to the daemon's AMI client, and one real ws client per lab user plus a
 * supervisor records what it receives. Asserts the exact message sequence per user, that an
 * agent sees only their own calls and legs, and that the supervisor sees every call.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS } from "../helpers/daemon.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { FIXTURES, scenarioJson, traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

const AGENTS = ["alice", "bob", "carol", "dave", "eve", "frank"];
const EVERYONE = [...AGENTS, "sam"];

/** Replay `trace` (banner and login response stripped) once every client has hello + snapshot. */
async function play(trace: Buffer) {
  const d = await rig.start({ users: E2E_USERS });
  const clients = new Map(EVERYONE.map((u) => [u, d.connect(u)]));
  for (const c of clients.values()) await c.ready();
  // Every AMI event handled means every call event published (publish is synchronous); a ping
  // round trip per client then means every message sent has arrived.
  await d.replay(stripTracePreamble(trace));
  for (const c of clients.values()) await c.sync();
  // queue.state (supervisors) is coalesced in time: test/e2e/desk.test.ts and test/queueBoard.test.ts.
  const got = (u: string): any[] => clients.get(u)!.messages.filter((m) => m.type !== "pong" && m.type !== "agent.state" && m.type !== "queue.state");
  const seq = (u: string) => got(u).map((m) => m.type + (m.reason ? `(${m.reason})` : ""));
  return { d, got, seq };
}

const HS = ["hello", "snapshot"];
const R = "call.ringing";
const A = "call.answered";
const E = "call.ended";
const H = "call.held";
const M = "call.missed";
const T = "call.transferred";
const stopped = (reason: string) => `call.ringing_stopped(${reason})`;
const SCENARIOS = RECORDED_FRAMES;

/** The first word of an expected outcome string in a scenario .json (`answered (by 1002)`). */
const word = (s: string) => s.split(/[\s(,]/)[0]!;

describe("recorded scenarios through the daemon", () => {
  it.each(SCENARIOS)("%s: each user's exact message sequence", async (name, expected) => {
    const { got, seq } = await play(traceBytes(name));
    for (const u of EVERYONE) expect(seq(u), u).toEqual([...HS, ...(expected[u] ?? [])]);

    const callIds = new Set(EVERYONE.flatMap((u) => got(u).filter((m) => m.call).map((m) => m.call.callId)));
    expect(callIds.size).toBe(1);
    for (const u of AGENTS) {
      for (const m of got(u).filter((x) => x.call)) {
        expect(m.userId).toBe(u);
        // Narrowed: an agent never sees a colleague's leg.
        expect(m.call.legs.every((l: any) => l.userId === u), `${u} ${m.type}`).toBe(true);
      }
      const ringing = got(u).find((m) => m.type === R);
      if (ringing) expect(ringing.pop).toBe(true);
    }
    // The supervisor's copies carry every leg; its call.ended lists all who rang.
    const rung = AGENTS.filter((u) => got(u).some((m) => m.type === R));
    const samEnd = got("sam").find((m) => m.type === E);
    expect(samEnd.call.legs.map((l: any) => l.userId).sort()).toEqual(rung.sort());
    expect(samEnd.call.outcome).toBe(word(scenarioJson(name).expected_outcomes.calls[0].outcome));
    expect(got("sam").every((m, i, all) => i < 3 || m.seq > all[i - 1].seq)).toBe(true);
  });

  it("06: alice's view of a ring group answered by bob", async () => {
    const { got } = await play(traceBytes("06-ringgroup-answered"));
    const [stop, end] = got("alice").slice(3);
    expect(stop).toMatchObject({ type: "call.ringing_stopped", reason: "answered_elsewhere", pop: false });
    expect(end.call).toMatchObject({ state: "ended", outcome: "answered", answeredBy: { userId: "bob", device: "PJSIP/1002" } });
    expect(end.call.legs).toEqual([expect.objectContaining({ userId: "alice", device: "PJSIP/1001", outcome: "answered_elsewhere" })]);
    expect(got("bob").find((m) => m.type === E).call.legs).toEqual([expect.objectContaining({ userId: "bob", outcome: "answered_by_me" })]);
  });

  it("16: the transfer target's pop shows the original caller and who transferred", async () => {
    const { got } = await play(traceBytes("16-blind-transfer-refer"));
    const pop = got("bob").find((m) => m.type === R);
    expect(pop.pop).toBe(true);
    expect(pop.call.from.raw).toBe("0309876543");
    expect(pop.call.transfer).toMatchObject({ kind: "blind", by: { userId: "alice", device: "PJSIP/1001" }, to: { raw: "1002", userId: "bob" } });
    expect(got("alice").find((m) => m.type === "call.transferred").call.transfer.by.userId).toBe("alice");
  });

  it("39: the ring group's external member answered: answeredBy names the number on the wire", async () => {
    const { got } = await play(traceBytes("39-ringgroup-external-answered"));
    const end = got("alice").find((m) => m.type === E);
    expect(end.call.answeredBy).toEqual({ userId: null, device: null, external: "0301234567" });
    expect(got("sam").find((m) => m.type === A).call.answeredBy).toEqual({ userId: null, device: null, external: "0301234567" });
  });

  it("28: carol's pop shows alice calling about the customer; after the transfer her call is the customer's; alice's end is her own", async () => {
    const { got } = await play(traceBytes("28-attended-transfer-dtmf"));
    const [ring, answered, transferred, ended] = got("carol").slice(2);
    expect(ring).toMatchObject({ type: R, pop: true, call: { from: { raw: "1001", userId: "alice" }, consultationFor: { raw: "+4930123456" } } });
    expect(answered.call).toMatchObject({ from: { raw: "1001" }, consultationFor: { raw: "+4930123456" } });
    for (const m of [transferred, ended]) {
      expect(m.call.from.raw).toBe("+4930123456");
      expect(m.call).not.toHaveProperty("consultationFor");
    }
    expect(transferred.call.transfer).toMatchObject({ kind: "attended", by: { userId: "alice" }, to: { raw: "1003", userId: "carol" } });
    for (const m of got("sam")) expect(m.call ?? {}).not.toHaveProperty("consultationFor");
    const aliceEnd = got("alice").at(-1);
    expect(aliceEnd).toMatchObject({ type: E, call: { state: "connected" } });
    expect(aliceEnd.call.legs).toEqual([expect.objectContaining({ userId: "alice", state: "ended", outcome: "answered_by_me", transferred: true })]);
  });

  it("31: REFER attended transfer: no call.resumed for alice, the consultation call ends merged, alice's end is her own", async () => {
    const { got, seq } = await play(traceBytes("31-attended-transfer-refer"));
    expect(seq("alice")).toEqual([...HS, R, A, H, "call.dialing", A, E, T, E]);
    expect(seq("carol")).toEqual([...HS, R, A, E, T, E]);
    const merged = got("carol")[4];
    expect(merged.call).toMatchObject({ state: "ended", endReason: "merged", mergedInto: got("carol")[5].call.callId });
    expect(merged.call.times.ended).not.toBeNull();
    const aliceEnd = got("alice").at(-1);
    expect(aliceEnd.call.legs).toEqual([expect.objectContaining({ userId: "alice", state: "ended", transferred: true })]);
    expect(got("carol").at(-1).call).toMatchObject({ state: "ended", outcome: "answered", transfer: { kind: "attended", to: { userId: "carol" } } });
  });

  it("08: a missed queue call carries the number to call back", async () => {
    const { got } = await play(traceBytes("08-queue-support-abandoned"));
    for (const u of ["alice", "bob"]) {
      const missed = got(u).find((m) => m.type === M);
      expect(missed).toMatchObject({ callbackNumber: "+49309876543", call: { outcome: "abandoned", queue: "support", from: { raw: "0309876543" } } });
      expect(missed.call.legs).toEqual([expect.objectContaining({ userId: u, outcome: "missed" })]);
    }
  });
});

describe("pickup (synthetic trace, no recording exists)", () => {
  const trace = () => readFileSync(join(FIXTURES, "..", "synthetic", "pickup.ami"));

  it("bob picks alice's ringing call up with *8: picked_up for bob, answered_elsewhere for alice, nobody missed it", async () => {
    const { got, seq } = await play(trace());
    expect(seq("alice")).toEqual([...HS, R, stopped("picked_up_elsewhere"), E]);
    // The *8 dial is no call of its own: bob's pop is the caller's call, as if his phone had rung.
    expect(seq("bob")).toEqual([...HS, R, A, E]);
    for (const u of ["carol", "dave", "eve", "frank"]) expect(seq(u)).toEqual(HS);

    const [ringing, answered, ended] = got("bob").slice(2);
    expect(ringing).toMatchObject({ pop: true, call: { callId: answered.call.callId, from: { raw: "+4930123456" } } });
    expect(answered.call).toMatchObject({ direction: "inbound", from: { raw: "+4930123456" }, answeredBy: { userId: "bob", device: "PJSIP/1002" } });
    expect(answered.call.legs).toEqual([expect.objectContaining({ userId: "bob", state: "connected", outcome: "picked_up" })]);
    expect(ended.call).toMatchObject({ callId: answered.call.callId, outcome: "answered" });
    expect(ended.call.legs).toEqual([expect.objectContaining({ userId: "bob", outcome: "picked_up" })]);

    const aliceEnd = got("alice").find((m) => m.type === E);
    expect(aliceEnd.call.callId).toBe(answered.call.callId);
    expect(aliceEnd.call.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_elsewhere" })]);
    expect(EVERYONE.some((u) => got(u).some((m) => m.type === M))).toBe(false);

    const samEnd = got("sam").filter((m) => m.type === E).at(-1);
    expect(samEnd.call.legs.map((l: any) => [l.userId, l.outcome])).toEqual([
      ["alice", "answered_elsewhere"],
      ["bob", "picked_up"],
    ]);
  });
});
