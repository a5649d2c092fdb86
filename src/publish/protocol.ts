/**
 * The WebSocket protocol, server → client: one discriminated union keyed by `type`, and the one
 * place that maps a domain Call to its JSON snapshot (camelCase, explicit field list, so a
 * change to the model never leaks onto the wire by accident). Client → server: incoming.ts.
 */
import type { AgentState, Call, CallEventName, LegOutcome, LegState, Party, RingStopReason } from "../calls/model.js";

export const PROTOCOL_VERSION = 1;
/** The subprotocol a browser asks for; the server selects it when offered. */
export const SUBPROTOCOL = "ctibridge.v1";

/** Every error code a client or REST caller can see, with the HTTP status REST uses. */
export const ERROR_CODES = {
  bad_message: 400,
  unknown_type: 400,
  invalid_argument: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_state: 409,
  rate_limited: 429,
  pbx_unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export const CLOSE_CODES = { unauthorized: 4001, tokenExpired: 4003, tooSlow: 4008, superseded: 4009, rateLimited: 4029 } as const;

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
} as const satisfies Record<CallEventName, string>;
export type CallMessageType = (typeof CALL_EVENT_TYPES)[CallEventName];

/** The call as one recipient sees it: legs narrowed to theirs, the pop URL rendered. */
export type CallSnapshot = Omit<Call, "legs"> & { legs: Call["legs"]; popUrl: string | null };

// The agent state is the engine's (calls/model.ts): publish/ depends on calls/, never the reverse.
export type { AgentState };

export interface Envelope<T extends string> {
  v: 1;
  /** Global, monotonic. Replies to a client repeat the latest seq instead of taking one. */
  seq: number;
  type: T;
  /** ISO-8601 UTC. */
  ts: string;
  /** The recipient. */
  userId: string;
}

export interface UserInfo {
  id: string;
  name: string;
  role: "agent" | "supervisor";
  devices: string[];
  /** When this user's screen pops (`users[].popTiming`, default `pop.timing`): a client pops calls found in a snapshot by it. */
  popTiming: "ringing" | "answered";
}

export type CallMessage = Envelope<CallMessageType> & {
  call: CallSnapshot;
  /** Open the screen pop now (per the user's pop timing). */
  pop: boolean;
  reason?: RingStopReason;
  /** call.missed: the number to call back (E.164 when known). */
  callbackNumber?: string;
};

export type OutgoingMessage =
  | (Envelope<"hello"> & { server: { name: "ctibridge"; version: string }; protocol: 1; connectionId: string; user: UserInfo; expiresAt: string | null })
  | (Envelope<"snapshot"> & { calls: CallSnapshot[] })
  | CallMessage
  | (Envelope<"call.claimed"> & { callId: string; by: string })
  | (Envelope<"agent.state"> & { agent: string; state: AgentState })
  /** A missed leg of `user` was marked done (`marked`) or closed by an answered call back (`called_back`, `by` the caller-back). */
  | (Envelope<"call.done"> & { callId: string; user: string; doneAt: string; by: string; reason: "marked" | "called_back" })
  /** Supervisors: one queue's figures changed (not journaled; coalesced per queue). */
  | (Envelope<"queue.state"> & { queue: QueueInfo })
  | (Envelope<"pbx.disconnected"> & { reason: string | null })
  | (Envelope<"pbx.resynced"> & { calls: number | null })
  | (Envelope<"resync_required"> & { afterSeq: number; oldestSeq: number | null })
  | (Envelope<"command.result"> & { id: string; ok: boolean; data?: unknown; error?: { code: string; message: string } })
  | (Envelope<"error"> & { code: ErrorCode; message: string; ref?: string })
  | Envelope<"pong">;

export type OutgoingType = OutgoingMessage["type"];

/** One queue as the supervisor board shows it: `GET /api/queues` items and the `queue.state` frame. */
export interface QueueInfo {
  queue: string;
  members: {
    userId: string | null;
    name: string;
    interface: string;
    deviceState: string | null;
    loggedIn: boolean;
    paused: boolean;
    reason: string | null;
    inCall: boolean;
    activity: string | null;
  }[];
  /** Live calls of the queue not answered yet. */
  waiting: number;
  longestWaitSeconds: number | null;
  callers: { callId: string; from: Party; since: string; waitSeconds: number }[];
  /** Ended calls of the queue started since local midnight (`agents.timezone`). */
  today: { answered: number; abandoned: number; avgWaitSeconds: number | null };
}

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
