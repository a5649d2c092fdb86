/** The `CoreShowChannels` listing a PBX would answer after part of a recorded trace was played. */
import { AmiDecoder } from "../../src/ami/codec.js";
import type { Fields } from "../../src/sim/replay.js";
import { traceBytes } from "./traces.js";

/** Live channels after `head` (CRLF trace bytes): Newchannel minus Hangup, last state, dialplan place, bridge. */
export function listingAfter(head: Buffer, durationS = 2): Fields[] {
  const live = new Map<string, Map<string, string>>();
  for (const text of head.toString("utf8").split("\r\n\r\n")) {
    const h = new Map(text.split("\r\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)] as [string, string]));
    const id = h.get("Uniqueid");
    if (!id) continue;
    const ev = h.get("Event");
    if (ev === "Newchannel") live.set(id, h);
    else if (ev === "Hangup") live.delete(id);
    else if (live.has(id)) {
      const ch = live.get(id)!;
      if (ev === "Newstate") ch.set("ChannelStateDesc", h.get("ChannelStateDesc")!);
      // A listing names where the channel is now: after a transfer, the target's context and exten.
      if (ev === "Newexten") for (const k of ["Context", "Exten"]) ch.set(k, h.get(k)!);
      if (ev === "BridgeEnter") ch.set("BridgeId", h.get("BridgeUniqueid")!);
      if (ev === "BridgeLeave") ch.delete("BridgeId");
    }
  }
  const hms = `00:00:${String(durationS).padStart(2, "0")}`;
  return [...live.values()].map((ch) => [
    ["Event", "CoreShowChannel"],
    ...["Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "Context", "Exten"].map((k) => [k, ch.get(k) ?? ""] as const),
    ["Application", "Dial"],
    ["Duration", hms],
    ["BridgeId", ch.get("BridgeId") ?? ""],
  ]);
}

/** Trace 25's list items of one action (e.g. "resync-QueueStatus", "QueueMember"), without their ActionID (the fake PBX adds its own). */
export function trace25Listing(actionId: string, event: string): [string, string][][] {
  return new AmiDecoder()
    .push(traceBytes("25-resync-actions"))
    .filter((m) => m.get("ActionID") === actionId && m.event === event)
    .map((m) => m.keys.map((k, i) => [k, m.values[i]!] as [string, string]).filter(([k]) => k !== "ActionID"));
}
