/**
 * AMI events → typed PBX input for the call tracker. This is the one place that knows AMI
 * event and header names; the tracker sees `PbxEvent`s only. Events the tracker does not
 * act on map to `null` with one switch on the event name (the hot path).
 */
import { header, type AmiMessage, type DecoderOptions } from "./codec.js";

import { DEVICE_STATES, type ChannelInfo, type DeviceState, type PbxEvent } from "../calls/pbxEvents.js";

// The tracker's input types live with the call core (calls/ never imports ami/); re-exported here.
export { DEVICE_STATES, type ChannelInfo, type DeviceState, type PbxEvent, type PbxEventType } from "../calls/pbxEvents.js";

/** DeviceStateChange `State` text (`NOT_INUSE` …) → ours; a fixed table, no per-event string work. */
const DEVICE_STATE_TEXT: ReadonlyMap<string, DeviceState> = new Map(DEVICE_STATES.map((s) => [s.toUpperCase(), s]));


/** Read a channel header group; null when the group is absent (`DialBegin` of an Originate has no caller). */
const FIELDS = ["Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Context", "Exten"] as const;
const keyCache = new Map<string, readonly string[]>();

/** The header names of a prefixed group (`DestChannel`, `DestUniqueid` …), built once per prefix. */
function keysFor(prefix: string): readonly string[] {
  let keys = keyCache.get(prefix);
  if (!keys) keyCache.set(prefix, (keys = FIELDS.map((f) => prefix + f)));
  return keys;
}

export function readChannel(msg: AmiMessage, prefix = ""): ChannelInfo | null {
  const k = keysFor(prefix);
  const name = msg.get(k[0]!);
  const channelId = msg.get(k[1]!);
  // An empty Channel or Uniqueid names no channel: the group counts as absent.
  if (!name || !channelId) return null;
  return {
    channelId,
    linkedId: msg.get(k[2]!) || channelId,
    name,
    state: msg.get(k[3]!) ?? "",
    callerNum: msg.get(k[4]!) ?? "",
    callerName: msg.get(k[5]!) ?? "",
    connectedNum: msg.get(k[6]!) ?? "",
    connectedName: msg.get(k[7]!) ?? "",
    context: msg.get(k[8]!) ?? "",
    exten: msg.get(k[9]!) ?? "",
  };
}

/**
 * Told about each header that could not be used (its field fell back), for a debug log.
 * Every field is parsed and checked here, before the tracker sees the event: a value the
 * tracker cannot use never reaches a state change half-way.
 */
export type OnBadField = (f: { field: string; value: string; event: string }) => void;

/** How far a `Timestamp` may be from the moment its bytes arrived (a PBX clock that is a day off is not a clock). */
const MAX_CLOCK_SKEW_MS = 24 * 3600_000;

/**
 * When the event happened: the `Timestamp` header when `timestampevents = yes` in
 * manager.conf (exact PBX time), else when its bytes reached us. A Timestamp that is not a
 * number of seconds within a day of the arrival time falls back to the arrival time.
 */
export function eventTime(msg: AmiMessage, onBad?: OnBadField): number {
  const ts = msg.get("Timestamp");
  if (ts === undefined) return msg.receivedAt;
  const ms = Math.round(Number(ts) * 1000);
  // NaN fails the comparison; "" would be 0.
  if (ts !== "" && Math.abs(ms - msg.receivedAt) <= MAX_CLOCK_SKEW_MS) return ms;
  onBad?.({ field: "Timestamp", value: ts, event: msg.event ?? "" });
  return msg.receivedAt;
}

/** A Q.850 cause (0..127); anything else is 0 ("unknown"), as Asterisk itself reports it. */
function hangupCause(msg: AmiMessage, onBad?: OnBadField): number {
  const c = msg.get("Cause");
  if (c === undefined || c === "") return 0;
  if (/^\d{1,3}$/.test(c) && Number(c) <= 127) return Number(c);
  onBad?.({ field: "Cause", value: c, event: "Hangup" });
  return 0;
}

/** `H:MM:SS` of a listed channel, at most a year; anything else is 0 (started now). */
function durationSeconds(msg: AmiMessage, onBad?: OnBadField): number {
  const d = msg.get("Duration") ?? "";
  const m = /^(\d{1,4}):([0-5]\d):([0-5]\d)$/.exec(d);
  if (m && Number(m[1]) <= 8784) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (d !== "") onBad?.({ field: "Duration", value: d, event: "CoreShowChannel" });
  return 0;
}

/**
 * Frequent events the tracker never reads: the daemon's AMI client drops them before they
 * are decoded (RTCP reports alone are a tenth of a busy PBX's messages, and the largest).
 */
export const UNUSED_EVENTS: ReadonlySet<string> = new Set([
  "RTCPSent",
  "RTCPReceived",
  "Cdr",
  "CEL",
  "ExtensionStatus",
  "PresenceStatus",
  "NewConnectedLine",
  "NewCallerid",
  "NewAccountCode",
  "HangupRequest",
  "SoftHangupRequest",
  "MusicOnHoldStart",
  "MusicOnHoldStop",
  "BridgeCreate",
  "BridgeDestroy",
  "LocalBridge",
  "DTMFBegin",
  "DTMFEnd",
  "SuccessfulAuth",
  "ChallengeSent",
  "PeerStatus",
  "ContactStatus",
  "Registry",
]);

const VARIABLE = Buffer.from("\nVariable: ");
const APPLICATION = Buffer.from("\nApplication: ");
const VOICEMAIL = Buffer.from("VoiceMail\r");

/** The value of a header in raw message bytes, or null (the header must be in [start, end)). */
function rawValue(buf: Buffer, key: Buffer, start: number, end: number): [number, number] | null {
  const at = buf.indexOf(key, start);
  if (at < 0 || at >= end) return null;
  const from = at + key.length;
  let to = buf.indexOf(0x0a, from);
  if (to < 0 || to > end) to = end;
  if (buf[to - 1] === 0x0d) to--;
  return [from, to];
}

/**
 * The daemon's decoder filter: unused events, VarSets of variables nobody wants (half of all
 * AMI traffic) and Newexten of anything but VoiceMail are dropped from their raw bytes,
 * before they are decoded. `VarSet` and `Newexten` always carry these headers.
 */
export function skipUnneeded(wantVariable: (name: string) => boolean): NonNullable<DecoderOptions["skipEvent"]> {
  return (name, buf, start, end) => {
    if (UNUSED_EVENTS.has(name)) return true;
    if (name === "VarSet") {
      const v = rawValue(buf, VARIABLE, start, end);
      return v !== null && !wantVariable(buf.toString("latin1", v[0], v[1]));
    }
    if (name === "Newexten") {
      const v = rawValue(buf, APPLICATION, start, end);
      return v !== null && buf.compare(VOICEMAIL, 0, VOICEMAIL.length - 1, v[0], v[1]) !== 0;
    }
    return false;
  };
}

/**
 * Map one AMI event to tracker input, or null when the tracker does not need it.
 * `wantVariable` (VarSet is half of all events) drops uninteresting variables before any
 * channel is read.
 */
export function toPbxEvent(msg: AmiMessage, wantVariable?: (name: string) => boolean, onBad?: OnBadField): PbxEvent | null {
  const name = msg.event;
  if (name === undefined) return null;
  const str = (k: string): string => header(msg, k) ?? "";
  const when = (): number => eventTime(msg, onBad);
  switch (name) {
    case "Newchannel":
    case "Newstate": {
      const ch = readChannel(msg);
      if (!ch) return null;
      return { type: name === "Newchannel" ? "channelNew" : "channelState", ch, at: when() };
    }
    case "CoreShowChannel": {
      const ch = readChannel(msg);
      if (!ch) return null;
      return {
        type: "channelListed",
        ch,
        application: str("Application"),
        bridgeId: str("BridgeId"),
        durationS: durationSeconds(msg, onBad),
        at: when(),
      };
    }
    case "DialBegin": {
      const dest = readChannel(msg, "Dest");
      if (!dest) return null;
      return { type: "dialBegin", caller: readChannel(msg), dest, dialString: str("DialString"), at: when() };
    }
    case "DialState":
    case "DialEnd": {
      const dest = readChannel(msg, "Dest");
      if (!dest) return null;
      return {
        type: name === "DialState" ? "dialState" : "dialEnd",
        caller: readChannel(msg),
        dest,
        status: str("DialStatus"),
        at: when(),
      };
    }
    case "BridgeEnter":
    case "BridgeLeave": {
      const ch = readChannel(msg);
      if (!ch) return null;
      return { type: name === "BridgeEnter" ? "bridgeEnter" : "bridgeLeave", ch, bridgeId: str("BridgeUniqueid"), at: when() };
    }
    case "Hold":
    case "Unhold": {
      const ch = readChannel(msg);
      return ch ? { type: name === "Hold" ? "hold" : "unhold", ch, at: when() } : null;
    }
    case "Hangup": {
      const ch = readChannel(msg);
      if (!ch) return null;
      return { type: "hangup", ch, cause: hangupCause(msg, onBad), causeText: str("Cause-txt"), at: when() };
    }
    case "VarSet": {
      if (wantVariable && !wantVariable(str("Variable"))) return null;
      const ch = readChannel(msg);
      if (!ch) return null;
      return { type: "varSet", ch, name: str("Variable"), value: str("Value"), at: when() };
    }
    case "QueueCallerJoin":
    case "QueueCallerLeave":
    case "QueueCallerAbandon": {
      const ch = readChannel(msg);
      if (!ch) return null;
      const type = name === "QueueCallerJoin" ? "queueJoin" : name === "QueueCallerLeave" ? "queueLeave" : "queueAbandon";
      return { type, ch, queue: str("Queue"), at: when() };
    }
    case "AgentCalled":
    case "AgentConnect":
    case "AgentRingNoAnswer":
    case "AgentComplete": {
      const ch = readChannel(msg);
      if (!ch) return null;
      const type =
        name === "AgentCalled" ? "agentCalled" : name === "AgentConnect" ? "agentConnect" : name === "AgentRingNoAnswer" ? "agentRingNoAnswer" : "agentComplete";
      return {
        type,
        ch,
        dest: readChannel(msg, "Dest"),
        queue: str("Queue"),
        memberInterface: str("Interface"),
        memberName: str("MemberName"),
        at: when(),
      };
    }
    case "BlindTransfer":
      return {
        type: "blindTransfer",
        transferer: readChannel(msg, "Transferer"),
        transferee: readChannel(msg, "Transferee"),
        exten: str("Extension"),
        context: str("Context"),
        ok: str("Result") === "Success",
        at: when(),
      };
    case "AttendedTransfer":
      return {
        type: "attendedTransfer",
        origTransferer: readChannel(msg, "OrigTransferer"),
        secondTransferer: readChannel(msg, "SecondTransferer"),
        transferee: readChannel(msg, "Transferee"),
        target: readChannel(msg, "TransferTarget"),
        ok: str("Result") === "Success",
        at: when(),
      };
    case "ParkedCall":
    case "UnParkedCall":
    case "ParkedCallTimeOut":
    case "ParkedCallGiveUp": {
      const parkee = readChannel(msg, "Parkee");
      if (!parkee) return null;
      const type = name === "ParkedCall" ? "parked" : name === "UnParkedCall" ? "parkRetrieved" : name === "ParkedCallTimeOut" ? "parkTimedOut" : "parkGaveUp";
      return { type, parkee, parkerDial: str("ParkerDialString"), slot: str("ParkingSpace"), retriever: readChannel(msg, "Retriever"), at: when() };
    }
    case "Pickup": {
      const ch = readChannel(msg);
      const target = readChannel(msg, "Target");
      return ch && target ? { type: "pickup", ch, target, at: when() } : null;
    }
    case "Rename": {
      const channelId = str("Uniqueid");
      const newName = str("Newname");
      return channelId && newName ? { type: "rename", channelId, newName, at: when() } : null;
    }
    case "ConfbridgeJoin":
    case "ConfbridgeLeave": {
      const ch = readChannel(msg);
      if (!ch) return null;
      return { type: name === "ConfbridgeJoin" ? "conferenceJoin" : "conferenceLeave", ch, conference: str("Conference"), at: when() };
    }
    case "Newexten": {
      // Only the voicemail application matters (the `voicemail` call outcome).
      const app = header(msg, "Application");
      if (app !== "VoiceMail") return null;
      const ch = readChannel(msg);
      return ch ? { type: "voicemail", ch, at: when() } : null;
    }
    case "OriginateResponse":
      return {
        type: "originateResponse",
        actionId: str("ActionID"),
        channelId: str("Uniqueid"),
        name: str("Channel"),
        ok: str("Response") === "Success",
        reason: str("Reason"),
        exten: str("Exten"),
        at: when(),
      };
    case "QueueMember":
    case "QueueMemberStatus":
    case "QueueMemberAdded":
    case "QueueMemberPause": {
      // The QueueStatus list item names the member `Name`/`Location` (Asterisk 22, trace 25);
      // the live events call them `MemberName`/`Interface`.
      const memberInterface = msg.get("Interface") ?? msg.get("Location");
      const queue = msg.get("Queue");
      if (!memberInterface || !queue) return null;
      const paused = msg.get("Paused") === "1";
      // Asterisk 16 QueueMemberPause also sent the reason as `Reason`.
      const reason = paused ? msg.get("PausedReason") || msg.get("Reason") || null : null;
      const status = Number(msg.get("Status"));
      const wrapUp = Math.trunc(Number(msg.get("Wrapuptime") ?? "0")) || 0;
      return {
        type: "queueMember",
        queue,
        memberInterface,
        stateInterface: msg.get("StateInterface") ?? "",
        memberName: msg.get("MemberName") ?? msg.get("Name") ?? "",
        paused,
        pausedReason: reason,
        status: status >= 0 && status < DEVICE_STATES.length ? status : 0,
        inCall: msg.get("InCall") === "1",
        wrapUpSeconds: wrapUp >= 0 && wrapUp <= 86_400 ? wrapUp : 0,
        at: when(),
      };
    }
    case "QueueMemberRemoved": {
      const memberInterface = msg.get("Interface") ?? msg.get("Location");
      const queue = msg.get("Queue");
      return memberInterface && queue ? { type: "queueMemberRemoved", queue, memberInterface, at: when() } : null;
    }
    case "DeviceStateChange": {
      const device = msg.get("Device");
      if (!device) return null;
      return { type: "deviceState", device, state: DEVICE_STATE_TEXT.get(msg.get("State") ?? "") ?? "unknown", at: when() };
    }
    default:
      return null;
  }
}
