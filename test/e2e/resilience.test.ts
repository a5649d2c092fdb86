/**
 * Staying correct when things go wrong, end to end: a client that reconnects resumes from the
 * journal (or is told to resync when it no longer reaches back), a paused client is closed 4008
 * without costing a healthy client one event, and PBX link loss and recovery reach every client.
 */
import { afterEach, describe, expect, it } from "vitest";
import { replayFiles } from "../../src/replay.js";
import { CALL_EVENT_TYPES } from "../../src/publish/protocol.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor } from "../helpers/daemon.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES, traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

const isEvent = (m: any) => !["hello", "snapshot", "pong", "command.result", "error", "resync_required", "agent.state"].includes(m.type);

describe("resume after a reconnect", () => {
  it("replays from the journal exactly the messages missed, by seq", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const [head, tail] = trace01Halves();
    const stayer = d.connect("alice");
    const leaver = d.connect("alice");
    await Promise.all([stayer.ready(), leaver.ready()]);
    await d.replay(head);
    await leaver.sync();
    const lastSeen = leaver.messages.filter(isEvent).at(-1).seq;
    expect(leaver.messages.filter(isEvent).map((m) => m.type)).toEqual(["call.ringing", "call.answered"]);
    leaver.ws.close();
    await leaver.closed;

    await d.replay(tail);
    await stayer.sync();
    const missed = stayer.messages.filter((m) => isEvent(m) && m.seq > lastSeen);
    expect(missed.map((m) => m.type)).toEqual(["call.ended"]);

    const back = d.connect("alice");
    const { snapshot } = await back.ready();
    expect(snapshot.calls).toEqual([]);
    back.send({ type: "resume", afterSeq: lastSeen });
    await back.sync();
    expect(back.messages.filter(isEvent)).toEqual(missed);
  });

  it("answers resync_required and a fresh snapshot when the journal no longer reaches back", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { journalSize: 2 } });
    const [head] = trace01Halves();
    const leaver = d.connect("alice");
    await leaver.ready();
    await leaver.sync();
    const lastSeen = leaver.messages.at(-1).seq;
    leaver.ws.close();
    await leaver.closed;

    // Ringing and answer of alice's call plus the call-level copies: more than 2 entries.
    await d.replay(head);
    const back = d.connect("alice");
    const { snapshot } = await back.ready();
    expect(snapshot.calls).toHaveLength(1);
    back.send({ type: "resume", afterSeq: lastSeen });
    const r = await back.nextOf("resync_required");
    expect(r).toMatchObject({ type: "resync_required", afterSeq: lastSeen });
    expect(r.oldestSeq).toBeGreaterThan(lastSeen + 1);
    const fresh = await back.next();
    expect(fresh.type).toBe("snapshot");
    expect(fresh.calls.map((c: any) => [c.state, c.legs.map((l: any) => l.userId)])).toEqual([["connected", ["alice"]]]);
    await back.sync();
    expect(back.messages.filter(isEvent)).toEqual([]);
  });
});

describe("slow consumers", () => {
  it("closes a paused client with 4008 while healthy clients get every event of a burst", async () => {
    // A long pop URL (a CRM that passes a lot in it) makes the burst's ~110 supervisor messages
    // outgrow what the loopback kernel buffers absorb (a few MiB) before bufferedAmount grows.
    const pop = { urlTemplate: `https://crm.example/pop?phone={e164}&pad=${"x".repeat(64 * 1024)}` };
    const d = await rig.start({ users: E2E_USERS, server: { maxBufferedBytes: 1024 }, pop });
    const slow = d.connect("sam");
    const healthy = d.connect("alice");
    const watcher = d.connect("sam");
    await Promise.all([slow.ready(), healthy.ready(), watcher.ready()]);
    // Stop reading: the server's writes pile up in the kernel buffers, then in bufferedAmount.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();

    await d.replay(stripTracePreamble(traceBytes("24-burst-30-concurrent")));
    await waitFor(() => d.logs.some((l) => l.msg === "slow client closed"), "slow client closed");
    socket.resume(); // read what was buffered, then the close frame
    expect((await slow.closed).code).toBe(4008);

    // What the tracker emits when fed the same trace offline: every bit of it must arrive.
    const { events } = await replayFiles([`${FIXTURES}/24-burst-30-concurrent.ami`], labConfig());
    const expected = events.filter((e) => e.userId === "alice").map((e) => CALL_EVENT_TYPES[e.name]);
    await Promise.all([healthy.sync(), watcher.sync()]);
    expect(expected.length).toBeGreaterThan(10);
    expect(healthy.messages.filter(isEvent).map((m) => m.type)).toEqual(expected);
    const ends = new Set(events.filter((e) => e.userId === null && e.name === "callEnded" && !e.call.mergedInto).map((e) => e.call.callId));
    const watched = watcher.messages.filter(isEvent);
    expect(new Set(watched.filter((m) => m.type === "call.ended").map((m) => m.call.callId)).size).toBe(ends.size);
    expect(slow.messages.filter(isEvent).length).toBeLessThan(watched.length);
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    expect(watcher.ws.readyState).toBe(watcher.ws.OPEN);
  });
});

describe("PBX link", () => {
  it("tells every client when the PBX link drops, and when it is back and resynced", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    await Promise.all([alice.ready(), sam.ready()]);
    const resyncs = d.resyncs();
    d.pbx.dropConnections();
    for (const c of [alice, sam]) {
      const down = await c.nextOf("pbx.disconnected");
      expect(typeof down.reason).toBe("string");
    }
    await waitFor(() => d.resyncs() > resyncs, "resync after reconnect");
    for (const c of [alice, sam]) expect(await c.nextOf("pbx.resynced")).toMatchObject({ calls: 0 });
    expect(d.listings()).toBeGreaterThanOrEqual(2);
  });

  it("sends one pbx.disconnected per outage, not one per failed reconnect attempt", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const alice = d.connect("alice");
    await alice.ready();
    const resyncs = d.resyncs();
    // The PBX is gone (stopped, port closed): every reconnect attempt is refused.
    await d.pbx.close();
    const attempts = () => d.logs.filter((l) => l.msg === "ami reconnecting").length;
    await waitFor(() => attempts() >= 5, "five failed reconnect attempts");
    await d.pbx.listen();
    await waitFor(() => d.resyncs() > resyncs, "resync after the outage");
    await alice.nextOf("pbx.resynced");
    await alice.sync();
    expect(alice.messages.filter((m) => m.type.startsWith("pbx.")).map((m) => m.type)).toEqual(["pbx.disconnected", "pbx.resynced"]);
  });
});
