/**
 * A call rebuilt after a daemon restart, from the PBX's listing and the store's last snapshot,
 * ends exactly as if the daemon had never stopped: same times, same legs (those that ended
 * before the restart included), same outcomes. Only `restored` tells them apart.
 */
import { describe, expect, it } from "vitest";
import { AmiDecoder } from "../../src/ami/codec.js";
import { toPbxEvent } from "../../src/ami/events.js";
import type { AnyCallEvent, Call } from "../../src/calls/model.js";
import { CallTracker, trackerDepsFromConfig } from "../../src/calls/tracker.js";
import { Directory } from "../../src/directory/users.js";
import { encodeMessage, stripTracePreamble } from "../../src/sim/replay.js";
import { labConfig } from "../helpers/labConfig.js";
import { listingAfter } from "../helpers/listing.js";
import { traceBytes } from "../helpers/traces.js";

function tracker(events: AnyCallEvent[], restore?: Map<string, Call>): CallTracker {
  const config = labConfig();
  const dir = new Directory({});
  dir.applyConfig(config.users);
  let n = 0;
  return new CallTracker({
    ...trackerDepsFromConfig(config, dir),
    newCallId: () => `call-${++n}`,
    onEvent: (ev) => events.push(ev),
    ...(restore ? { knownCallId: (l: string) => restore.get(l)?.callId, restoredCall: (l: string) => restore.get(l) } : {}),
  });
}

function feed(t: CallTracker, bytes: Buffer, clock: { t: number }): void {
  for (const m of new AmiDecoder({ expectBanner: false }).push(bytes)) {
    const ev = toPbxEvent(m.withReceivedAt((clock.t += 1000)));
    if (ev) t.handle(ev);
  }
}

/** A trace cut after `marker`'s message. */
function halves(trace: string, marker: string): [Buffer, Buffer] {
  const msgs = stripTracePreamble(traceBytes(trace)).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = msgs.findIndex((m) => m.includes(marker)) + 1;
  const join = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join(msgs.slice(0, cut)), join(msgs.slice(cut))];
}

const T0 = Date.UTC(2026, 10, 22, 0, 6, 0);
const byDevice = (c: Call) => ({ ...c, legs: [...c.legs].sort((a, b) => a.device.localeCompare(b.device)) });
const endedCalls = (events: AnyCallEvent[]) => events.filter((e) => e.name === "callEnded" && e.userId === null).map((e) => byDevice(e.call));

describe("a call rebuilt after a restart", () => {
  const BOB_ANSWERED = "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1003-0000000f";
  it.each([
    ["06: while alice's phone rings", "06-ringgroup-answered", "Event: DialBegin\r\nPrivilege: call,all\r\nChannel: PJSIP/carrier-0000000c", true, null],
    ["06: while all three phones ring", "06-ringgroup-answered", "Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/1003-0000000f\r\nChannelState: 5", true, null],
    ["06: after bob answered and alice's and carol's rings ended", "06-ringgroup-answered", BOB_ANSWERED, true, null],
    // Asterisk 11/12 list `BridgedChannel`, not `BridgeId`: the listing alone cannot say bob answered.
    ["06: after bob answered, on a PBX whose listing names no bridge", "06-ringgroup-answered", BOB_ANSWERED, false, null],
    // Only the caller is left: alice's answered leg has no channel to list any more. When she
    // hung up is not known (no event was stored for it): her leg ends at the listing.
    ["07: after the queue agent who answered hung up", "07-queue-support-answered", "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1001-00000016", true, "PJSIP/1001"],
    // A conference is answered by the room (ConfbridgeJoin), which no listing repeats.
    // After a transfer the caller's channel runs in another context (Exten 1002, not the DID)
    // and alice's channel is gone: the parties come from the snapshot, not the listing.
    ["27: after the blind transfer, while bob talks", "27-blind-transfer-ami-blindtransfer", "Event: BridgeEnter\r\nPrivilege: call,all\r\nBridgeUniqueid: 4f1c879e-533f-41df-b3bf-429bc206077d\r\nBridgeType: basic\r\nBridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\nBridgeName: <unknown>\r\nBridgeNumChannels: 2", true, null],
    ["20: while three parties talk in the conference", "20-confbridge-three-party", "Event: ConfbridgeJoin\r\nPrivilege: call,all\r\nConference: 800\r\nBridgeUniqueid: b229fbaf-f897-43b5-9c18-7ef4d7a4cdf9\r\nBridgeType: base\r\nBridgeTechnology: softmix\r\nBridgeCreator: ConfBridge\r\nBridgeName: 800\r\nBridgeNumChannels: 4", true, null],
  ])("%s: ends exactly as the uninterrupted call", (_what, trace, marker, bridgeIds, goneWhileAway) => {
    const [head, rest] = halves(trace, marker);
    const whole: AnyCallEvent[] = [];
    const clock = { t: T0 };
    const reference = tracker(whole);
    feed(reference, head, clock);
    const cutAt = clock.t;
    feed(reference, rest, clock);

    // The first daemon: the store's open_calls rows hold the last call-level snapshot of each running call.
    const first: AnyCallEvent[] = [];
    feed(tracker(first), head, { t: T0 });
    const open = new Map<string, Call>();
    for (const e of first) if (e.userId === null) open.set(e.call.callId, JSON.parse(JSON.stringify(e.call)) as Call);
    const store = new Map([...open.values()].filter((c) => c.state !== "ended").flatMap((c) => c.linkedIds.map((l) => [l, c] as const)));
    // The second daemon: the listing a minute later, then the rest at the original times.
    const second: AnyCallEvent[] = [];
    const restarted = tracker(second, store);
    restarted.beginResync();
    const listing = listingAfter(head).map((fields) => (bridgeIds ? fields : fields.filter(([k]) => k !== "BridgeId")));
    feed(restarted, Buffer.concat(listing.map(encodeMessage)), { t: cutAt + 60_000 });
    restarted.endResync(cutAt + 60_000);
    // The listing rebuilds each call leg by leg: the call-level copy (supervisors, the store)
    // of a ringing or changing call goes out once, whole, not once per leg with the legs not
    // listed yet missing (a supervisor's view shrinking to one leg and growing again).
    const duringListing = second.filter((e) => e.userId === null && (e.name === "callRinging" || e.name === "callUpdated"));
    for (const id of new Set(duringListing.map((e) => e.call.callId))) {
      const copies = duringListing.filter((e) => e.call.callId === id);
      expect(copies.map((e) => e.name), `call-level copies of ${id} during the listing`).toEqual(["callUpdated"]);
      expect(copies[0]!.call.legs.map((l) => l.device).sort()).toEqual(open.get(id)!.legs.map((l) => l.device).sort());
    }
    feed(restarted, rest, { t: cutAt });
    // Calls that had ended before the restart are the first daemon's; the others end in the second.
    const endedFirst = new Set(endedCalls(first).map((c) => c.callId));
    const listedAt = new Date(cutAt + 60_000).toISOString();
    const expected = endedCalls(whole)
      .filter((c) => !endedFirst.has(c.callId))
      .map((c) => ({ ...c, restored: true, legs: c.legs.map((l) => (l.device === goneWhileAway ? { ...l, endedAt: listedAt, talkSeconds: (Date.parse(listedAt) - Date.parse(l.answeredAt!)) / 1000 } : l)) }));
    expect(endedCalls(second)).toEqual(expected);
    expect(endedCalls(second).length).toBeGreaterThan(0);
  });
});
