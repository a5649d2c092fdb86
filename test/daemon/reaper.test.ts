/**
 * Calls whose Hangup never arrives are reaped: the fake PBX (real TCP on 127.0.0.1) replays a
 * recorded call with its Hangup events removed, and the daemon's periodic CoreShowChannels
 * listing (answered when the test says so) closes it with `unknown_end`: the client gets its
 * `call.ended`, the store closes it, a metric counts it. Calls that began or changed while a
 * listing ran are not closed on that listing.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AmiMessage } from "../../src/ami/codec.js";
import type { Daemon } from "../../src/roles/standalone.js";
import type { AmiServer, SimConnection } from "../../src/sim/amiServer.js";
import type { Fields } from "../../src/sim/replay.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, trace01Halves, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

const CALL_ID = /^[0-9a-f-]{36}$/;

/** Trace 01 (alice answers +4930123456) with every `Event: Hangup` removed. */
function trace01WithoutHangups(): Buffer {
  const msgs = stripTracePreamble(traceBytes("01-inbound-answered")).toString("utf8").split("\r\n\r\n");
  return Buffer.from(
    msgs
      .filter((m) => m.trim() !== "" && !m.startsWith("Event: Hangup\r\n"))
      .map((m) => m + "\r\n\r\n")
      .join(""),
    "utf8",
  );
}

/** The CoreShowChannels entry of a channel of trace 01's call. */
function listed(channel: string, uniqueid: string): Fields {
  return [
    ["Event", "CoreShowChannel"],
    ["Channel", channel],
    ["ChannelState", "6"],
    ["ChannelStateDesc", "Up"],
    ["CallerIDNum", "+4930123456"],
    ["CallerIDName", "+4930123456"],
    ["ConnectedLineNum", ""],
    ["ConnectedLineName", ""],
    ["Language", "en"],
    ["AccountCode", ""],
    ["Context", "from-carrier"],
    ["Exten", "4930555000"],
    ["Priority", "1"],
    ["Uniqueid", uniqueid],
    ["Linkedid", "1795305921.0"],
    ["Application", "Dial"],
    ["ApplicationData", ""],
    ["Duration", "00:00:04"],
    ["BridgeId", "28d6a1b2-0000-4000-8000-000000000000"],
  ];
}
const TRACE01_LISTING = [listed("PJSIP/carrier-00000000", "1795305921.0"), listed("PJSIP/1001-00000001", "1795305921.1")];

/**
 * Holds every CoreShowChannels request until the test answers it, so the test decides what
 * happens while a listing runs. Installed after the first resync (which it would hold too).
 */
class HeldListings {
  private readonly held: { conn: SimConnection; id: string }[] = [];

  constructor(pbx: AmiServer) {
    pbx.handle("CoreShowChannels", (msg: AmiMessage, conn) => {
      this.held.push({ conn, id: msg.get("ActionID") ?? "" });
    });
  }

  /** Wait for the next listing request (the reaper sends one per tick while none runs). */
  async next(): Promise<{ conn: SimConnection; id: string }> {
    return waitFor(() => this.held.shift(), "a listing request");
  }

  /** Answer a held request with these channels, then make sure the daemon has read it all. */
  async answer(d: RunningDaemon, req: { conn: SimConnection; id: string }, channels: Fields[]): Promise<void> {
    req.conn.send([["Response", "Success"], ["ActionID", req.id], ["EventList", "start"], ["Message", "Events will follow"]]);
    for (const [first, ...rest] of channels) req.conn.send([first!, ["ActionID", req.id], ...rest]);
    req.conn.send([["Event", "CoreShowChannelsComplete"], ["ActionID", req.id], ["EventList", "Complete"], ["ListItems", String(channels.length)]]);
    await d.daemon.ami!.action("Ping", []);
  }
}

async function metric(port: number, line: string): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split("\n").find((l) => l.startsWith(line));
}

const active = (daemon: Daemon) => daemon.tracker.activeCalls().map((c) => [c.state, c.from.raw]);

describe("the reaper of stuck calls", () => {
  it("closes a call whose Hangup never arrived once the PBX's listing no longer has it", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(trace01WithoutHangups());
    const call = await waitFor(() => d.daemon.tracker.activeCalls().find((c) => c.state === "connected"), "connected call");
    // The request held now may have started before the replay (the call is spared); the next one did not.
    await listings.answer(d, await listings.next(), []);
    await listings.answer(d, await listings.next(), []);
    expect(d.daemon.tracker.activeCalls()).toEqual([]);

    const ended = await alice.nextOf("call.ended");
    // Times are arrival times (the trace has no Timestamp headers); the end is the last moment
    // the call was known up (here its answer: no listing ever named it), flagged as estimated.
    const { ended: endedAt, waitSeconds, talkSeconds } = ended.call.times;
    expect(Date.parse(endedAt)).toBeGreaterThanOrEqual(Date.parse(call.times.answered!));
    expect(ended).toEqual({
      v: 1,
      seq: ended.seq,
      ts: endedAt,
      userId: "alice",
      type: "call.ended",
      pop: false,
      call: {
        callId: call.callId,
        linkedIds: ["1795305921.0"],
        direction: "inbound",
        state: "ended",
        from: { raw: "+4930123456", e164: "+4930123456", display: "+49 30 123456", name: null, extension: null, userId: null },
        to: { raw: "4930555000", e164: "+4930555000", display: "+49 30 555000", name: null, extension: null, userId: null },
        did: "+4930555000",
        didRaw: "4930555000",
        queue: null,
        legs: [
          {
            userId: "alice",
            device: "PJSIP/1001",
            state: "ended",
            outcome: "answered_by_me",
            placed: false,
            ringingAt: call.times.ringing,
            answeredAt: call.times.answered,
            endedAt,
            waitSeconds: ended.call.legs[0].waitSeconds,
            talkSeconds: ended.call.legs[0].talkSeconds,
          },
        ],
        answeredBy: { userId: "alice", device: "PJSIP/1001" },
        times: { started: call.times.started, ringing: call.times.ringing, answered: call.times.answered, ended: endedAt, waitSeconds, talkSeconds, endEstimated: true },
        outcome: "answered",
        hangupCause: null,
        endReason: "unknown_end",
        transfer: null,
        ivr: { DID: "4930555000" },
        recording: null,
        restored: false,
        clickToDial: false,
        conference: null,
        match: { status: "none", count: 0, records: [] },
        annotation: null,
        mergedInto: null, park: null,
        popUrl: null,
      },
    });

    const stored = await waitFor(() => d.daemon.callLog.list().find((c) => c.state === "ended"), "stored call");
    // The stored call is the call every client saw (the same shape: REST = WebSocket), legs with `done`.
    const { popUrl: _popUrl, ...seen } = ended.call;
    expect(stored).toEqual({ ...seen, legs: seen.legs.map((l: object) => ({ ...l, done: false })) });
    expect(stored.callId).toMatch(CALL_ID);
    expect(d.daemon.callLog.openCallIds().size).toBe(0);
    expect(await metric(d.port, 'ctibridge_calls_reaped_total{reason="not_listed"}')).toBe('ctibridge_calls_reaped_total{reason="not_listed"} 1');
  });

  it("ends a reaped call at the last listing that still named it, not at the reaper's clock", async () => {
    const t0 = Date.parse("2026-11-30T10:00:00.000Z");
    let clock = t0;
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 }, now: () => clock });
    const listings = new HeldListings(d.pbx);
    await d.replay(trace01WithoutHangups());
    const call = await waitFor(() => d.daemon.tracker.activeCalls().find((c) => c.state === "connected"), "connected call");
    expect(call.times.answered).toBe(new Date(t0).toISOString());
    // A listing that may predate the call, then one sent at t0 + 60 s that names it (the next
    // request goes out only once the held one is answered, so the clock moves first).
    const first = await listings.next();
    clock = t0 + 60_000;
    await listings.answer(d, first, TRACE01_LISTING);
    const second = await listings.next();
    // Its Hangup is lost; the listing sent at t0 + 120 s no longer has it.
    clock = t0 + 120_000;
    await listings.answer(d, second, TRACE01_LISTING);
    await listings.answer(d, await listings.next(), []);
    const stored = await waitFor(() => d.daemon.callLog.get(call.callId)?.state === "ended" && d.daemon.callLog.get(call.callId), "reaped call");
    const lastListed = new Date(t0 + 60_000).toISOString();
    expect(stored).toMatchObject({ endReason: "unknown_end", outcome: "answered" });
    expect(stored.times).toMatchObject({ ended: lastListed, talkSeconds: 60, endEstimated: true });
  });

  it("keeps a call the PBX still lists", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    await d.replay(trace01WithoutHangups());
    for (let i = 0; i < 3; i++) await listings.answer(d, await listings.next(), TRACE01_LISTING);
    expect(active(d.daemon)).toEqual([["connected", "+4930123456"]]);
  });

  it("does not close a call whose channels appeared after the listing started", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    const req = await listings.next();
    await d.replay(trace01Halves()[0]);
    expect(active(d.daemon)).toEqual([["connected", "+4930123456"]]);
    await listings.answer(d, req, []);
    expect(active(d.daemon)).toEqual([["connected", "+4930123456"]]);
    // A listing that started after the call did, without it, closes it.
    await listings.answer(d, await listings.next(), []);
    expect(active(d.daemon)).toEqual([]);
  });

  it("does not close a call that got an event while the listing ran", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    await d.replay(trace01Halves()[0]);
    await listings.answer(d, await listings.next(), TRACE01_LISTING);
    const req = await listings.next();
    // The IVR variable reaches the tracker (call.updated) while the listing is out.
    d.pbx.broadcast([
      ["Event", "VarSet"],
      ["Channel", "PJSIP/carrier-00000000"],
      ["ChannelState", "6"],
      ["ChannelStateDesc", "Up"],
      ["CallerIDNum", "+4930123456"],
      ["CallerIDName", "+4930123456"],
      ["ConnectedLineNum", "1001"],
      ["ConnectedLineName", "Alice"],
      ["Language", "en"],
      ["AccountCode", ""],
      ["Context", "from-carrier"],
      ["Exten", "4930555000"],
      ["Priority", "1"],
      ["Uniqueid", "1795305921.0"],
      ["Linkedid", "1795305921.0"],
      ["Variable", "CRM_ACCOUNT"],
      ["Value", "A-77"],
    ]);
    await d.daemon.ami!.action("Ping", []);
    expect(d.daemon.tracker.activeCalls()[0]!.ivr).toMatchObject({ CRM_ACCOUNT: "A-77" });
    await listings.answer(d, req, []);
    expect(active(d.daemon)).toEqual([["connected", "+4930123456"]]);
    await listings.answer(d, await listings.next(), []);
    expect(active(d.daemon)).toEqual([]);
  });

  it("closes a click-to-dial call whose channel never appeared, but not on a listing sent before it began", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    const req = await listings.next();
    // The Originate went out (beginClickToDial is what the dial command does first) but the
    // PBX never made its channel: no Newchannel, no OriginateResponse.
    const call = d.daemon.tracker.beginClickToDial({ userId: "alice", device: "PJSIP/1001", to: "004930999888", channelId: "ctd-0001", at: Date.now() });
    // This listing was sent before the Originate: it cannot know the channel.
    await listings.answer(d, req, []);
    expect(active(d.daemon)).toEqual([["dialing", "1001"]]);
    const closed = async () => {
      await listings.answer(d, await listings.next(), []);
      return d.daemon.tracker.getCall(call.callId)?.state === "ended";
    };
    await waitFor(closed, "the click-to-dial call closed", 20);
    expect(d.daemon.tracker.getCall(call.callId)).toMatchObject({ state: "ended", endReason: "unknown_end", clickToDial: true });
  });

  it("keeps a click-to-dial call while the PBX lists its channel (Uniqueid = our ChannelId), even if its Newchannel was lost", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20 } });
    const listings = new HeldListings(d.pbx);
    const call = d.daemon.tracker.beginClickToDial({ userId: "alice", device: "PJSIP/1001", to: "004930999888", channelId: "ctd-0002", at: Date.now() });
    for (let i = 0; i < 4; i++) await listings.answer(d, await listings.next(), [listed("PJSIP/1001-00000009", "ctd-0002")]);
    expect(d.daemon.tracker.getCall(call.callId)?.state).toBe("dialing");
  });

  it("closes a call open longer than calls.maxCallAgeMs even while the PBX lists it", async () => {
    const d = await rig.start({ calls: { reconcileIntervalMs: 20, maxCallAgeMs: 1 } });
    d.pbx.setList("CoreShowChannels", TRACE01_LISTING);
    await d.replay(trace01WithoutHangups());
    const stored = await waitFor(() => d.daemon.callLog.list().find((c) => c.state === "ended"), "reaped call");
    expect(stored).toMatchObject({ outcome: "answered", endReason: "unknown_end", from: { raw: "+4930123456" } });
    expect(await metric(d.port, 'ctibridge_calls_reaped_total{reason="max_age"}')).toBe('ctibridge_calls_reaped_total{reason="max_age"} 1');
  });
});
