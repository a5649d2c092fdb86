/**
 * AMI bytes for the screen-pop benchmark: inbound calls from the carrier trunk, each ringing
 * one agent's device, with the headers Asterisk 22 sends (modelled on trace
 * 01-inbound-answered: Newchannel of the carrier leg, Newchannel of the device, DialBegin,
 * Newstate Ringing; Hangup to clear them). Call `i` rings PJSIP/(firstDevice + i); its
 * linkedid (the carrier channel's uniqueid) is how a client's `call.ringing` is matched back.
 */
import type { Fields } from "../src/sim/amiServer.js";
import { encodeMessage } from "../src/sim/replay.js";
import { TRUNK } from "./lab.js";

const EPOCH = 1_795_400_000;
const DID = "4930555000";

export interface PopCall {
  /** Carrier channel uniqueid = the call's linkedid. */
  readonly linkedId: string;
  readonly deviceId: string;
  readonly trunkName: string;
  readonly deviceName: string;
  readonly device: string;
  readonly caller: string;
}

/** Call `i` of round `round` (rounds get fresh ids so no two rounds share a channel). */
export function popCall(i: number, round: number, firstDevice: number): PopCall {
  const n = round * 1_000_000 + 2 * i;
  const hex = (x: number) => x.toString(16).padStart(8, "0");
  const device = `PJSIP/${firstDevice + i}`;
  return {
    linkedId: `${EPOCH}.${n}`,
    deviceId: `${EPOCH}.${n + 1}`,
    trunkName: `${TRUNK}-${hex(n)}`,
    deviceName: `${device}-${hex(n + 1)}`,
    device,
    caller: `+49301${String(2_000_000 + i)}`,
  };
}

type Role = "trunk" | "device";

/** The channel header group (plain or `Dest`-prefixed) of one side of a call. */
function channel(c: PopCall, role: Role, state: [string, string], prefix = ""): Fields {
  const ext = c.device.slice("PJSIP/".length);
  const trunk = role === "trunk";
  const f: [string, string][] = [
    ["Channel", trunk ? c.trunkName : c.deviceName],
    ["ChannelState", state[0]],
    ["ChannelStateDesc", state[1]],
    ["CallerIDNum", trunk ? c.caller : ext],
    ["CallerIDName", trunk ? c.caller : `User ${ext}`],
    ["ConnectedLineNum", trunk ? "<unknown>" : c.caller],
    ["ConnectedLineName", trunk ? "<unknown>" : c.caller],
    ["Language", "en"],
    ["AccountCode", ""],
    ["Context", trunk ? "from-carrier" : "from-internal"],
    ["Exten", DID],
    ["Priority", "1"],
    ["Uniqueid", trunk ? c.linkedId : c.deviceId],
    ["Linkedid", c.linkedId],
  ];
  return f.map(([k, v]) => [prefix + k, v] as const);
}

const RING: [string, string] = ["4", "Ring"];
const DOWN: [string, string] = ["0", "Down"];
const RINGING: [string, string] = ["5", "Ringing"];
const event = (name: string, ...groups: Fields[]): Buffer =>
  encodeMessage([["Event", name], ["Privilege", "call,all"], ...groups.flat()]);

/** Before the ring: the carrier channel enters the dialplan and the device channel is created. */
export function setupBytes(c: PopCall): Buffer {
  return Buffer.concat([event("Newchannel", channel(c, "trunk", RING)), event("Newchannel", channel(c, "device", DOWN))]);
}

/** The bytes that make the leg ring: DialBegin (carrier → device) and the device's Newstate Ringing. */
export function ringBytes(c: PopCall): Buffer {
  const dial = event("DialBegin", channel(c, "trunk", RING), channel(c, "device", DOWN, "Dest"), [["DialString", c.device.slice(6)]]);
  return Buffer.concat([dial, event("Newstate", channel(c, "device", RINGING))]);
}

/** The caller gives up: both channels hang up (cause 16), the call ends unanswered. */
export function hangupBytes(c: PopCall): Buffer {
  const cause: Fields = [["Cause", "16"], ["Cause-txt", "Normal Clearing"]];
  return Buffer.concat([event("Hangup", channel(c, "device", RINGING), cause), event("Hangup", channel(c, "trunk", RING), cause)]);
}
