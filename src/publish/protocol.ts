/**
 * The WebSocket protocol, server → client: the message union (defined in schema.ts, its types
 * inferred here) and the one place that maps a domain Call to its JSON snapshot. The model and
 * the schema are checked field for field at compile time (schema.ts `SchemaAgreesWithModel`),
 * so a change to the model never leaks onto the wire undocumented. Client → server: incoming.ts.
 */
import type { Call, CallEventName, LegOutcome, LegState } from "../calls/model.js";
import { CALL_MESSAGE_TYPES, type AgentState, type Call as CallSnapshot, type CallMessage, type QueueInfo, type ServerMessage } from "./schema.js";

export { CLOSE_CODES, ERROR_CODES, PROTOCOL_VERSION, SUBPROTOCOL, SUBPROTOCOLS, type ErrorCode } from "./schema.js";
export type { AgentState, CallMessage, CallSnapshot, QueueInfo };

/** Domain event name → wire type; the table is the whole mapping. */
export const CALL_EVENT_TYPES = {
  callDialing: "call.dialing",
  callRinging: "call.ringing",
  callRingingStopped: "call.ringing_stopped",
  callAnswered: "call.answered",
  callHeld: "call.held",
  callResumed: "call.resumed",
  callTransferred: "call.transferred",
  callUpdated: "call.updated",
  callEnded: "call.ended",
  callMissed: "call.missed",
} as const satisfies Record<CallEventName, (typeof CALL_MESSAGE_TYPES)[number]>;
export type CallMessageType = (typeof CALL_EVENT_TYPES)[CallEventName];

/** Every frame the server sends: inferred from the schema (schema.ts), never validated on the hot path. */
export type OutgoingMessage = ServerMessage;
export type OutgoingType = OutgoingMessage["type"];


/**
 * The call as a client sees it: the Call plus its pop URL. No deep copy here: the tracker
 * already emits a frozen copy per event (`cloneCall`), which the journal may keep as is, and
 * the live calls behind a `snapshot` are serialized before the tracker can move them.
 */
export function toCallSnapshot(call: Call, popTemplate: string | undefined): CallSnapshot {
  return { ...call, popUrl: renderPopUrl(popTemplate, call) };
}

/** `{e164}`, `{raw}`, `{callId}`, `{ivr.NAME}` of the external party, URL-encoded; unknown → "". */
export function renderPopUrl(template: string | undefined, call: Call): string | null {
  if (!template) return null;
  const party = call.direction === "outbound" ? call.to : call.from;
  return template.replace(/\{([A-Za-z0-9_.]+)\}/g, (_m, key: string) => {
    let value: string | null | undefined;
    if (key === "e164") value = party.e164 ?? party.raw;
    else if (key === "raw") value = party.raw;
    else if (key === "callId") value = call.callId;
    else if (key.startsWith("ivr.")) value = call.ivr[key.slice(4)];
    return encodeURIComponent(value ?? "");
  });
}

/** Keep the legs a recipient may see; the call snapshot object itself is shared, never mutated. */
export function narrow(snapshot: CallSnapshot, keep: ((leg: CallSnapshot["legs"][number]) => boolean) | null): CallSnapshot {
  return keep === null ? snapshot : { ...snapshot, legs: snapshot.legs.filter(keep) };
}

const ANSWERED_HERE: ReadonlySet<LegOutcome | LegState | null> = new Set(["answered_by_me", "picked_up", "connected", "on_hold"]);

/** Whether this message should open the recipient's pop, from their own legs in the snapshot. */
export function popFor(type: CallMessageType, call: CallSnapshot, userId: string, timing: "ringing" | "answered"): boolean {
  if (type === "call.ringing" && timing === "ringing") {
    return call.legs.some((l) => l.userId === userId && l.state === "ringing");
  }
  if (type === "call.answered" && timing === "answered") {
    return call.legs.some((l) => l.userId === userId && (ANSWERED_HERE.has(l.outcome) || ANSWERED_HERE.has(l.state)));
  }
  return false;
}

/** The number a missed call should be returned to. */
export function callbackNumber(call: CallSnapshot): string {
  const party = call.direction === "outbound" ? call.to : call.from;
  return party.e164 ?? party.raw;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
