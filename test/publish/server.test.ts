import { afterEach, describe, expect, it } from "vitest";
import { event, leg, makeCall, T0 } from "../helpers/calls.js";
import { startHarness, type Harness } from "../helpers/cti.js";

let h: Harness;
afterEach(async () => h?.close());

function ringGroupCall() {
  return makeCall({ legs: [leg("alice", "PJSIP/1001"), leg("bob", "PJSIP/1002")], ivr: { TICKET: "T 42" } });
}

describe("CtiServer connect and routing", () => {
  it("sends hello, then the narrowed snapshot, then live events", async () => {
    h = await startHarness({ pop: { urlTemplate: "https://crm.example/c?phone={e164}&t={ivr.TICKET}" } });
    const active = ringGroupCall();
    h.calls.push(active);
    const alice = h.connect(await h.sign("alice"));
    const { hello, snapshot } = await alice.ready();
    expect(hello).toMatchObject({ v: 1, type: "hello", userId: "alice", protocol: 1, server: { name: "ctibridge", version: "0.0.0-test" } });
    expect(hello.user).toEqual({ id: "alice", name: "Alice", role: "agent", devices: ["PJSIP/1001"], popTiming: "ringing" });
    expect(snapshot.type).toBe("snapshot");
    expect(snapshot.calls).toHaveLength(1);
    expect(snapshot.calls[0].legs.map((l: any) => l.userId)).toEqual(["alice"]);
    expect(snapshot.calls[0].popUrl).toBe("https://crm.example/c?phone=%2B4930123456&t=T%2042");
    expect(snapshot.seq).toBe(hello.seq);

    h.cti.publish(event("callRinging", "alice", active));
    const ringing = await alice.next();
    expect(ringing).toMatchObject({ type: "call.ringing", userId: "alice", pop: true, ts: new Date(T0).toISOString() });
    expect(ringing.seq).toBe(snapshot.seq + 1);
    expect(ringing.call.legs).toHaveLength(1);
  });

  it("never delivers another user's call to an agent; a supervisor sees every leg once", async () => {
    h = await startHarness();
    const [alice, bob, sue] = [h.connect(await h.sign("alice")), h.connect(await h.sign("bob")), h.connect(await h.sign("sue"))];
    await Promise.all([alice.ready(), bob.ready(), sue.ready()]);
    const aliceOnly = makeCall({ legs: [leg("alice", "PJSIP/1001")] });
    h.cti.publish(event("callRinging", "alice", aliceOnly));
    h.cti.publish(event("callRinging", null, aliceOnly));
    await Promise.all([alice.sync(), bob.sync(), sue.sync()]);
    expect(alice.messages.filter((m) => m.type === "call.ringing")).toHaveLength(1);
    expect(bob.messages.filter((m) => m.type.startsWith("call."))).toEqual([]);
    const sueRings = sue.messages.filter((m) => m.type === "call.ringing");
    expect(sueRings).toHaveLength(1);
    expect(sueRings[0]).toMatchObject({ userId: "sue", pop: false });
    expect(sueRings[0].call.legs).toHaveLength(1);
  });

  it("lets a supervisor narrow to users and queues but never widen again", async () => {
    h = await startHarness();
    const sue = h.connect(await h.sign("sue"));
    await sue.ready();
    sue.send({ type: "subscribe", users: ["bob"] });
    expect((await sue.next()).type).toBe("snapshot");
    const both = ringGroupCall();
    h.cti.publish(event("callRinging", "alice", both));
    h.cti.publish(event("callRinging", "bob", both));
    h.cti.publish(event("callRinging", null, both));
    const r = await sue.next();
    expect(r).toMatchObject({ type: "call.ringing", userId: "sue" });
    expect(r.call.legs.map((l: any) => l.userId)).toEqual(["bob"]);
    sue.send({ type: "subscribe", users: ["bob", "alice"] });
    expect(await sue.next()).toMatchObject({ type: "error", code: "forbidden" });
    sue.send({ type: "subscribe" });
    expect(await sue.next()).toMatchObject({ type: "error", code: "forbidden" });
    await sue.sync();
    expect(sue.messages.filter((m) => m.type === "call.ringing")).toHaveLength(1);
  });

  it("refuses subscribe from an agent", async () => {
    h = await startHarness();
    const alice = h.connect(await h.sign("alice"));
    await alice.ready();
    alice.send({ type: "subscribe", users: ["bob"] });
    expect(await alice.next()).toMatchObject({ type: "error", code: "forbidden" });
  });

  it("delivers one call.ringing per (call, user) and pops per the user's timing", async () => {
    h = await startHarness();
    const bob = h.connect(await h.sign("bob"));
    await bob.ready();
    const call = ringGroupCall();
    h.cti.publish(event("callRinging", "bob", call));
    h.cti.publish(event("callRinging", "bob", call, T0 + 500));
    const answered = makeCall({ ...call, state: "connected", legs: [leg("bob", "PJSIP/1002", { state: "connected", outcome: "answered_by_me" })] });
    h.cti.publish(event("callAnswered", "bob", answered, T0 + 900));
    await bob.sync();
    const calls = bob.messages.filter((m) => m.type.startsWith("call."));
    expect(calls.map((m) => [m.type, m.pop])).toEqual([["call.ringing", false], ["call.answered", true]]);
  });

  it("collapses a ringing/stopped pair inside the debounce window", async () => {
    h = await startHarness({ server: { ringDebounceMs: 10_000 } });
    const alice = h.connect(await h.sign("alice"));
    await alice.ready();
    const call = ringGroupCall();
    h.cti.publish(event("callRinging", "alice", call));
    h.cti.publish(event("callRingingStopped", "alice", call, T0 + 100, "answered_elsewhere"));
    h.cti.publish(event("callEnded", "alice", call, T0 + 200));
    await alice.sync();
    expect(alice.messages.filter((m) => m.type.startsWith("call.")).map((m) => m.type)).toEqual(["call.ended"]);
  });

  it("acknowledges a claim to the claimant (byMe: true) and tells the user's other tabs (byMe: false)", async () => {
    h = await startHarness();
    const call = ringGroupCall();
    h.calls.push(call);
    const tab1 = h.connect(await h.sign("alice"));
    const tab2 = h.connect(await h.sign("alice"));
    const bob = h.connect(await h.sign("bob"));
    const [{ hello: hello1 }] = await Promise.all([tab1.ready(), tab2.ready(), bob.ready()]);
    tab1.send({ type: "claim", callId: call.callId });
    expect(await tab1.next()).toMatchObject({ type: "call.claimed", callId: call.callId, by: hello1.connectionId, byMe: true });
    expect(await tab2.next()).toMatchObject({ type: "call.claimed", callId: call.callId, by: hello1.connectionId, byMe: false });
    await bob.sync();
    expect(bob.messages.filter((m) => m.type === "call.claimed")).toEqual([]);
    tab1.send({ type: "claim", callId: "nope" });
    expect(await tab1.next()).toMatchObject({ type: "error", code: "not_found" });
  });

  it("closes the older connection of the same instance with 4009", async () => {
    h = await startHarness();
    const token = await h.sign("alice");
    const old = h.connect(token, { path: "/ws?instance=tab-1" });
    await old.ready();
    const fresh = h.connect(token, { path: "/ws?instance=tab-1" });
    await fresh.ready();
    expect((await old.closed).code).toBe(4009);
  });

  it("gives a queue-scoped supervisor the call-level copies of that queue's calls only", async () => {
    h = await startHarness();
    const sue = h.connect(await h.sign("sue"));
    await sue.ready();
    sue.send({ type: "subscribe", queues: ["support"] });
    await sue.nextOf("snapshot");
    const support = makeCall({ queue: "support", legs: [leg("alice", "PJSIP/1001"), leg("bob", "PJSIP/1002")] });
    const sales = makeCall({ queue: "sales", legs: [leg("bob", "PJSIP/1002")] });
    for (const c of [support, sales]) {
      h.cti.publish(event("callRinging", "bob", c));
      h.cti.publish(event("callRinging", null, c));
    }
    await sue.sync();
    const rings = sue.messages.filter((m) => m.type === "call.ringing");
    expect(rings.map((m) => [m.call.callId, m.call.legs.length])).toEqual([[support.callId, 2]]);
  });
});
