/**
 * What the simulator knows of the lab PBX the scenarios were recorded on
 * (test/fixtures/ami/README.md): its phones, its queues and their members. The simulator's
 * QueueStatus and DeviceStateList answers are built from it and from the device states the
 * replayed scenarios report, as a real Asterisk's would be.
 */
import type { Fields } from "./replay.js";

export const LAB_DEVICES = ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004", "PJSIP/1005", "PJSIP/1006", "PJSIP/carrier"];

export const LAB_QUEUES: { queue: string; strategy: string; members: { name: string; location: string; stateInterface: string }[] }[] = [
  {
    queue: "support",
    strategy: "ringall",
    members: [
      { name: "Alice Agent", location: "PJSIP/1001", stateInterface: "PJSIP/1001" },
      { name: "Bob Agent", location: "PJSIP/1002", stateInterface: "PJSIP/1002" },
    ],
  },
  {
    queue: "sales",
    strategy: "rrmemory",
    members: [
      { name: "Dave Sales", location: "Local/1004@agents/n", stateInterface: "PJSIP/1004" },
      { name: "Eve Sales", location: "Local/1005@agents/n", stateInterface: "PJSIP/1005" },
    ],
  },
];

/** Asterisk's device state names in the order of their numbers (QueueMember `Status`). */
const STATE_NUMBER = ["UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"];

/** The QueueStatus list items (QueueParams, then its QueueMember items) as Asterisk 22 sends them (trace 25). */
export function queueStatusItems(stateOf: (device: string) => string, paused: (location: string, queue: string) => boolean): Fields[] {
  return LAB_QUEUES.flatMap((q) => [
    [
      ["Event", "QueueParams"],
      ["Queue", q.queue],
      ["Max", "0"],
      ["Strategy", q.strategy],
      ["Calls", "0"],
      ["Holdtime", "0"],
      ["TalkTime", "0"],
      ["Completed", "0"],
      ["Abandoned", "0"],
      ["ServiceLevel", "0"],
      ["ServicelevelPerf", "0.0"],
      ["ServicelevelPerf2", "0.0"],
      ["Weight", "0"],
    ] as Fields,
    ...q.members.map((m): Fields => {
      const state = stateOf(m.stateInterface);
      return [
        ["Event", "QueueMember"],
        ["Queue", q.queue],
        ["Name", m.name],
        ["Location", m.location],
        ["StateInterface", m.stateInterface],
        ["Membership", "static"],
        ["Penalty", "0"],
        ["CallsTaken", "0"],
        ["LastCall", "0"],
        ["LastPause", "0"],
        ["LoginTime", "0"],
        ["InCall", state === "INUSE" || state === "ONHOLD" ? "1" : "0"],
        ["Status", String(Math.max(0, STATE_NUMBER.indexOf(state)))],
        ["Paused", paused(m.location, q.queue) ? "1" : "0"],
        ["PausedReason", ""],
        ["Wrapuptime", "0"],
      ];
    }),
  ]);
}
