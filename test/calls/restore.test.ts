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

/** Trace 06 (ring group) cut after `marker`'s message. */
function halves(marker: string): [Buffer, Buffer] {
  const msgs = stripTracePreamble(traceBytes("06-ringgroup-answered")).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = msgs.findIndex((m) => m.includes(marker)) + 1;
  const join = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join(msgs.slice(0, cut)), join(msgs.slice(cut))];
}

const T0 = Date.UTC(2026, 10, 22, 0, 6, 0);
const ended = (events: AnyCallEvent[]) => events.find((e) => e.name === "callEnded" && e.userId === null)!.call;
const byDevice = (c: Call) => ({ ...c, legs: [...c.legs].sort((a, b) => a.device.localeCompare(b.device)) });

describe("a call rebuilt after a restart", () => {
  it.each([
    ["while all three phones ring", "Event: DialBegin\r\nPrivilege: call,all\r\nChannel: PJSIP/carrier-0000000c"],
    ["after bob answered and alice's and carol's rings ended", "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1003-0000000f"],
  ])("%s: ends exactly as the uninterrupted call", (_what, marker) => {
    const [head, rest] = halves(marker);
    const whole: AnyCallEvent[] = [];
    const clock = { t: T0 };
    const reference = tracker(whole);
    feed(reference, head, clock);
    const cutAt = clock.t;
    feed(reference, rest, clock);

    // The first daemon: the store's open_calls snapshot is the last call-level event's call.
    const first: AnyCallEvent[] = [];
    feed(tracker(first), head, { t: T0 });
    const snap = JSON.parse(JSON.stringify([...first].reverse().find((e) => e.userId === null)!.call)) as Call;
    // The second daemon: the listing a minute later, then the rest at the original times.
    const second: AnyCallEvent[] = [];
    const restarted = tracker(second, new Map(snap.linkedIds.map((l) => [l, snap])));
    restarted.beginResync();
    feed(restarted, Buffer.concat(listingAfter(head).map(encodeMessage)), { t: cutAt + 60_000 });
    restarted.endResync(cutAt + 60_000);
    feed(restarted, rest, { t: cutAt });
    expect(byDevice(ended(second))).toEqual(byDevice({ ...ended(whole), restored: true }));
  });
});
