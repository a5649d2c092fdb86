/**
 * An AMI field the tracker cannot use falls back (arrival time for a time) and is never
 * half-applied: a recorded trace with one bad header mid-call yields exactly the calls of
 * the clean trace, and the calls after it are tracked as usual.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AmiDecoder } from "../../src/ami/codec.js";
import { toPbxEvent } from "../../src/ami/events.js";
import { replayFiles } from "../../src/replay.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES, traceBytes } from "../helpers/traces.js";

/** The trace with `line` added after the Event line of the first message that contains `marker`. */
function withHeader(trace: string, marker: string, line: string): string {
  const text = traceBytes(trace).toString("latin1");
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${marker} not in ${trace}`);
  const start = text.lastIndexOf("\r\n\r\n", at) + 4;
  const eol = text.indexOf("\r\n", start) + 2;
  const path = join(mkdtempSync(join(tmpdir(), "ctib-bad-")), `${trace}.ami`);
  writeFileSync(path, Buffer.from(text.slice(0, eol) + line + "\r\n" + text.slice(eol), "latin1"));
  return path;
}

const BOB_UP = "Channel: PJSIP/1002-0000000e\r\nChannelState: 6\r\nChannelStateDesc: Up";
const LATER = ["01-inbound-answered", "08-queue-support-abandoned"].map((n) => `${FIXTURES}/${n}.ami`);

describe("unparseable AMI fields mid-call", () => {
  it.each([
    ["Timestamp: 1e300", "out of Date's range"],
    ["Timestamp: 99999999999999", "year 10000 and later"],
    ["Timestamp: 4102444800", "a day or more away from arrival (year 2100)"],
    ["Timestamp: -1795305921", "negative"],
    ["Timestamp: 17953x05921", "garbage"],
    ["Timestamp: ", "empty"],
  ])("%s (%s): the exact calls of the clean trace, later calls tracked right", async (line) => {
    const clean = await replayFiles([`${FIXTURES}/06-ringgroup-answered.ami`, ...LATER], labConfig());
    const bad = await replayFiles([withHeader("06-ringgroup-answered", BOB_UP, line), ...LATER], labConfig());
    expect(bad.events).toEqual(clean.events);
    expect(bad.tracker.activeCalls()).toEqual([]);
    const ended = bad.events.filter((e) => e.name === "callEnded" && e.userId === null).map((e) => [e.call.callId, e.call.outcome]);
    expect(ended).toEqual([
      ["call-0001", "answered"],
      ["call-0002", "answered"],
      ["call-0003", "abandoned"],
    ]);
  });

  it.each(["x", "1e400", "-3", "16.5", "128"])("a hangup cause %j is stored as 0, the call ends normally", async (cause) => {
    const path = withHeader("01-inbound-answered", "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/carrier", `Cause: ${cause}`);
    const { events } = await replayFiles([path], labConfig());
    const ended = events.find((e) => e.name === "callEnded" && e.userId === null)!;
    // The first Cause header is ours (inserted before the real one): unusable, so 0.
    expect(ended.call).toMatchObject({ outcome: "answered", endReason: "hangup", hangupCause: { code: 0 } });
  });

  it("an empty Uniqueid, Channel or Linkedid: no channel (the first two) or the channel's own id (Linkedid)", () => {
    const msg = (h: string) => new AmiDecoder({ expectBanner: false, now: () => 5 }).push(Buffer.from(`Event: Newchannel\r\n${h}\r\n\r\n`))[0]!;
    expect(toPbxEvent(msg("Channel: PJSIP/1001-1\r\nUniqueid: "))).toBeNull();
    expect(toPbxEvent(msg("Channel: \r\nUniqueid: 1.1"))).toBeNull();
    expect(toPbxEvent(msg("Channel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nLinkedid: "))).toMatchObject({ ch: { channelId: "1.1", linkedId: "1.1" }, at: 5 });
  });

  it("a Duration past a year counts as unknown (0); each fallback is reported for the debug log", () => {
    const d = new AmiDecoder({ expectBanner: false, now: () => 1_795_305_921_000 });
    const [m] = d.push(Buffer.from("Event: CoreShowChannel\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nDuration: 99999999999:00:00\r\n\r\n"));
    const bad: unknown[] = [];
    expect(toPbxEvent(m!, undefined, (f) => bad.push(f))).toMatchObject({ type: "channelListed", durationS: 0 });
    expect(bad).toEqual([{ field: "Duration", value: "99999999999:00:00", event: "CoreShowChannel" }]);
    const [n] = d.push(Buffer.from("Event: Newstate\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nTimestamp: 1e300\r\n\r\n"));
    expect(toPbxEvent(n!, undefined, (f) => bad.push(f))).toMatchObject({ type: "channelState", at: 1_795_305_921_000 });
    expect(bad[1]).toEqual({ field: "Timestamp", value: "1e300", event: "Newstate" });
  });
});
