/**
 * The wire protocol as a client sees it (docs/protocol.md), written by hand from the server's
 * own types (src/calls/model.ts, src/publish/protocol.ts, the zod schema src/publish/schema.ts):
 * same names, same shapes, so a compile-time check can hold them against the schema. No zod
 * here: this package has no dependency and must run in a browser.
 */

export type Direction = "inbound" | "outbound" | "internal";
export type CallState = "dialing" | "ringing" | "connected" | "on_hold" | "ended";
export type CallOutcome = "answered" | "abandoned" | "unanswered" | "busy" | "failed" | "voicemail";
export type LegOutcome = "placed" | "answered_by_me" | "picked_up" | "answered_elsewhere" | "missed" | "declined" | "unanswered";
export type LegState = "dialing" | "ringing" | "connected" | "on_hold" | "ended";
export type RingStopReason = "answered" | "answered_elsewhere" | "caller_hangup" | "timeout" | "declined" | "picked_up_elsewhere" | "ended";
export type EndReason = "hangup" | "unknown_end" | "merged";

export interface Party {
  raw: string;
  e164: string | null;
  display: string;
  name: string | null;
  extension?: string | null;
  userId?: string | null;
}

export interface Times {
  started: string;
  ringing: string | null;
  answered: string | null;
  ended: string | null;
  waitSeconds: number | null;
  talkSeconds: number | null;
  /** Present when `ended` is an estimate (`unknown_end`). */
  endEstimated?: true;
}

export interface Leg {
  userId: string | null;
  device: string;
  state: LegState;
  outcome: LegOutcome | null;
  placed: boolean;
  ringingAt: string | null;
  answeredAt: string | null;
  endedAt: string | null;
  waitSeconds: number | null;
  talkSeconds: number | null;
  missedUncertain?: true;
  transferred?: true;
  /** REST history only: a missed leg called back or dismissed. */
  done?: boolean;
}

export interface AnsweredBy {
  userId: string | null;
  device: string | null;
  external?: string;
}

export interface Transfer {
  kind: "blind" | "attended";
  via?: "redirect";
  by: AnsweredBy | null;
  to: { raw: string; userId: string | null; device: string | null };
  originalCaller: Party;
  at: string;
}

export interface Park {
  by: AnsweredBy | null;
  slot: string;
  at: string;
  retrievedBy: AnsweredBy | null;
  retrievedAt: string | null;
  timedOut: boolean;
  abandoned: boolean;
}

export interface ContactRecord {
  name: string;
  company: string | null;
  recordId: string | null;
  url: string | null;
  matchedOn: "e164" | "last_digits";
}

export interface Match {
  status: "none" | "single" | "multiple" | "pending";
  count: number;
  records: ContactRecord[];
}

export interface Annotation {
  recordId?: string;
  comment?: string;
  disposition?: string;
  by: string;
  at: string;
}

export interface AnnotationPatch {
  recordId?: string | null;
  comment?: string | null;
  disposition?: string | null;
}

/** The call as one recipient sees it (the server's `CallSnapshot`): legs narrowed, pop URL rendered. */
export interface Call {
  callId: string;
  /** The PBX the call runs on (cluster mode only). */
  pbxId?: string;
  linkedIds: string[];
  direction: Direction;
  state: CallState;
  from: Party;
  to: Party;
  /** The DID dialled (inbound): E.164 when it normalises, else as the PBX gave it. */
  did: string | null;
  /** The DID exactly as the PBX gave it. */
  didRaw: string | null;
  queue: string | null;
  legs: Leg[];
  answeredBy: AnsweredBy | null;
  times: Times;
  outcome: CallOutcome | null;
  hangupCause: { code: number; text: string } | null;
  endReason: EndReason | null;
  transfer: Transfer | null;
  park: Park | null;
  ivr: Record<string, string>;
  recording: string | null;
  restored: boolean;
  clickToDial: boolean;
  conference: string | null;
  match: Match | null;
  annotation: Annotation | null;
  mergedInto: string | null;
  consultationFor?: Party;
  popUrl: string | null;
}

export type DeviceState = "unknown" | "not_inuse" | "inuse" | "busy" | "invalid" | "unavailable" | "ringing" | "ringinuse" | "onhold";

/** What an agent is doing, in one word (the panel's mode), by precedence. */
export type AgentActivity = "offline" | "idle" | "ringing" | "talking" | "on_hold" | "wrap_up" | "paused";

/** A running after-call work: the call that ended, since when, until when (null: until ready). */
export interface WrapUp {
  callId: string;
  since: string;
  until: string | null;
}

export interface AgentState {
  /** Cluster mode: the PBX this state comes from; absent when merged over several PBXs. */
  pbxId?: string;
  deviceState: DeviceState | null;
  /** `pbxId`: the queue's PBX (cluster mode). */
  queues: { queue: string; loggedIn: boolean; paused: boolean; reason: string | null; pbxId?: string }[];
  activity: AgentActivity;
  wrapUp: WrapUp | null;
}

/** One queue as the supervisor board shows it (`queue.state`, `GET /api/queues`). */
export interface QueueInfo {
  queue: string;
  /** Cluster mode: the PBX of this queue (two PBXs may both have a queue of this name). */
  pbxId?: string;
  members: {
    userId: string | null;
    name: string;
    interface: string;
    deviceState: DeviceState | null;
    loggedIn: boolean;
    paused: boolean;
    reason: string | null;
    inCall: boolean;
    activity: AgentActivity | null;
  }[];
  waiting: number;
  longestWaitSeconds: number | null;
  callers: { callId: string; from: Party; since: string; waitSeconds: number }[];
  today: { answered: number; abandoned: number; avgWaitSeconds: number | null };
}

export interface UserInfo {
  id: string;
  name: string;
  role: "agent" | "supervisor";
  devices: string[];
  /** When this user's screen pops: a client pops calls found in a snapshot by it. */
  popTiming: "ringing" | "answered";
}

export type ErrorCode = "bad_message" | "unknown_type" | "invalid_argument" | "unauthorized" | "forbidden" | "not_found" | "invalid_state" | "rate_limited" | "pbx_unavailable" | "internal";

/** `command.result.error.code` (the call-control table, src/control/errors.ts). */
export type CommandErrorCode =
  | "invalid_argument"
  | "unknown_action"
  | "disabled"
  | "forbidden"
  | "not_found"
  | "invalid_state"
  | "no_channel"
  | "not_supported"
  | "pbx_unavailable"
  | "pbx_rejected"
  | "pbx_timeout"
  | "rate_limited"
  | "internal";

/** Subprotocols the server speaks (the token goes beside them as `bearer.<token>`). */
export type Subprotocol = "ctibridge.v1";

export interface Envelope<T extends string> {
  v: 1;
  seq: number;
  type: T;
  ts: string;
  userId: string;
}

export type CallMessageType =
  | "call.dialing"
  | "call.ringing"
  | "call.ringing_stopped"
  | "call.answered"
  | "call.held"
  | "call.resumed"
  | "call.transferred"
  | "call.updated"
  | "call.ended"
  | "call.missed";

type CallFrame<T extends CallMessageType> = Envelope<T> & { call: Call; pop: boolean };

/** A call event: the whole call as the recipient sees it; `reason` on ringing_stopped, `callbackNumber` on missed. */
export type CallMessage =
  | CallFrame<Exclude<CallMessageType, "call.ringing_stopped" | "call.missed">>
  | (CallFrame<"call.ringing_stopped"> & { reason: RingStopReason })
  | (CallFrame<"call.missed"> & { callbackNumber: string });

export type HelloMessage = Envelope<"hello"> & {
  server: { name: "ctibridge"; version: string };
  protocol: 1;
  /** The subprotocol selected from the client's offer; null when it offered none. */
  subprotocol: Subprotocol | null;
  connectionId: string;
  user: UserInfo;
  expiresAt: string | null;
};
export type SnapshotMessage = Envelope<"snapshot"> & { calls: Call[] };
/** `byMe`: this connection claimed it (the acknowledgement of its own claim). */
export type ClaimedMessage = Envelope<"call.claimed"> & { callId: string; by: string; byMe: boolean };
export type AgentStateMessage = Envelope<"agent.state"> & { agent: string; state: AgentState };
/** A missed leg of `user` was closed: marked done, or by an answered call back. */
export type CallDoneMessage = Envelope<"call.done"> & { callId: string; user: string; doneAt: string; by: string; reason: "marked" | "called_back" };
/** Supervisors: one queue's figures changed (not journaled; coalesced per queue). */
export type QueueStateMessage = Envelope<"queue.state"> & { queue: QueueInfo };
export type PbxDisconnectedMessage = Envelope<"pbx.disconnected"> & { reason: string | null };
export type PbxResyncedMessage = Envelope<"pbx.resynced"> & { calls: number | null };
/** Cluster mode: another PBX worker became active for `pbxId`; its calls keep their callIds and times. */
export type PbxFailoverMessage = Envelope<"pbx.failover"> & { pbxId: string; calls: number | null };
export type ResyncRequiredMessage = Envelope<"resync_required"> & { afterSeq: number; oldestSeq: number | null };
/** What a successful command answers in `data`, by action (the others answer none). */
export interface DialResult {
  callId: string;
  channelId: string;
}
export interface QueuePauseResult {
  devices: { device: string; interface?: string; ok: boolean; error?: string }[];
}
export interface AnnotateResult {
  annotation: Annotation;
}
export interface DoneResult {
  callId: string;
  users: string[];
  doneAt: string;
}
export interface ReadyResult {
  wrapUp: { callId: string; userId: string; since: string; endedAt: string; seconds: number; reason: string };
}
export type CommandData = DialResult | QueuePauseResult | AnnotateResult | DoneResult | ReadyResult;

export type CommandResultMessage =
  | (Envelope<"command.result"> & { id: string; ok: true; data?: CommandData })
  | (Envelope<"command.result"> & { id: string; ok: false; error: { code: CommandErrorCode; message: string } });
export type ErrorMessage = Envelope<"error"> & { code: ErrorCode; message: string; ref?: string };
export type PongMessage = Envelope<"pong">;

/** Every server → client frame (the server's `OutgoingMessage`). */
export type ServerMessage =
  | HelloMessage
  | SnapshotMessage
  | CallMessage
  | ClaimedMessage
  | AgentStateMessage
  | CallDoneMessage
  | QueueStateMessage
  | PbxDisconnectedMessage
  | PbxResyncedMessage
  | PbxFailoverMessage
  | ResyncRequiredMessage
  | CommandResultMessage
  | ErrorMessage
  | PongMessage;

/** Client → server frames (src/publish/incoming.ts). */
export type ClientMessage =
  | { type: "resume"; afterSeq: number }
  | { type: "claim"; callId: string }
  | { type: "subscribe"; users?: string[]; queues?: string[] }
  | { type: "command"; id: string; action: string; args?: unknown }
  | { type: "ping" };

export const SUBPROTOCOL: Subprotocol = "ctibridge.v1";

/** The server's names for the same shapes (src/publish/protocol.ts). */
export type CallSnapshot = Call;
export type OutgoingMessage = ServerMessage;
