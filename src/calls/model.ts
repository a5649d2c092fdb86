/**
 * The call model (DESIGN §2): a call is a conversation, not a channel. These are the shapes
 * every other part sees; the WebSocket JSON and the SQL rows are mapped from them in one
 * place each (publish/protocol.ts, store/callLog.ts).
 */

import type { DeviceState } from "./pbxEvents.js";

export type Direction = "inbound" | "outbound" | "internal";

export type CallState = "dialing" | "ringing" | "connected" | "on_hold" | "ended";

export type CallOutcome = "answered" | "abandoned" | "unanswered" | "busy" | "failed" | "voicemail";

export type LegOutcome =
  | "placed"
  | "answered_by_me"
  | "picked_up"
  | "answered_elsewhere"
  | "missed"
  | "declined"
  /** It rang here, nobody answered, and the missed policy does not count it against this user. */
  | "unanswered";

export type LegState = "dialing" | "ringing" | "connected" | "on_hold" | "ended";

/** Why a ringing leg stopped ringing (the `call.ringing_stopped` reason). */
export type RingStopReason =
  | "answered"
  | "answered_elsewhere"
  | "caller_hangup"
  | "timeout"
  | "declined"
  | "picked_up_elsewhere"
  | "ended";

/**
 * How the end of a call was learnt. `unknown_end`: it vanished while the AMI link was down;
 * `merged`: it goes on as another call (`mergedInto`: an attended transfer's consultation, a
 * pickup's `*8` call, a park retrieval's slot dial).
 */
export type EndReason = "hangup" | "unknown_end" | "merged";

export interface Party {
  /** As the PBX gave it (`+4930123456`, `1001`, `anonymous`, or `""`). */
  raw: string;
  /** E.164 when the number could be normalised; null for extensions and withheld numbers. */
  e164: string | null;
  /** What a person reads: the name if known, else the formatted number. */
  display: string;
  /** Caller-ID name when it is more than the number itself. */
  name: string | null;
  /** The internal extension when this party is one of ours. */
  extension?: string | null;
  /** The CRM user behind the party when it is one of ours. */
  userId?: string | null;
}

export interface Times {
  /** ISO-8601 UTC. */
  started: string;
  ringing: string | null;
  answered: string | null;
  ended: string | null;
  /** Seconds from start to answer (or to end when never answered). */
  waitSeconds: number | null;
  /** Seconds from answer to end. */
  talkSeconds: number | null;
  /**
   * Present (true) when `ended` is an estimate: the call was closed as `unknown_end`, and its
   * end is the last moment it was known to be up (the AMI link lost, its last event seen).
   */
  endEstimated?: true;
}

export interface Leg {
  userId: string | null;
  device: string;
  state: LegState;
  outcome: LegOutcome | null;
  /** Set when this leg placed the call. */
  placed: boolean;
  ringingAt: string | null;
  answeredAt: string | null;
  endedAt: string | null;
  waitSeconds: number | null;
  talkSeconds: number | null;
  /**
   * Present (true) when the call ended as `unknown_end` unanswered while this leg rang: the
   * outcome (`missed` or `unanswered` by the missed policy) is inferred, the caller probably
   * gave up while the AMI link or the daemon was down.
   */
  missedUncertain?: true;
  /**
   * Present (true) on the leg of the agent who transferred the call (blind, attended or by an
   * AMI Redirect) once her channel left it: her part ended at `endedAt` with `answered_by_me`
   * while the call went on.
   */
  transferred?: true;
  /** Present once this agent's after-call work for the call ended: how long it lasted. */
  wrapUpSeconds?: number;
}

export interface AnsweredBy {
  userId: string | null;
  /** The answering phone; null when a number outside the PBX answered (`external`). */
  device: string | null;
  /**
   * Present when the call was answered outside: a ring group's external member (a Local
   * channel dialling out through a trunk). The number as dialled; `userId` and `device` are null.
   */
  external?: string;
}

export interface Transfer {
  kind: "blind" | "attended";
  /** How it was made when the PBX did not report a transfer: `redirect` (an AMI Redirect of the caller's channel). */
  via?: "redirect";
  /** Who transferred (the user and device whose leg handed the call on). */
  by: AnsweredBy | null;
  /** Where to: an extension/number, and the user when it is one of ours. */
  to: { raw: string; userId: string | null; device: string | null };
  /** The external party the call was about, kept across the transfer. */
  originalCaller: Party;
  at: string;
}

/**
 * A call that was parked (`Park` app, the parking feature code, a transfer to the park
 * extension, the `Park` AMI action). It stays one call while parked and after retrieval.
 */
export interface Park {
  /** Who parked it: the leg that handed the caller to the parking lot; null when AMI does not say. */
  by: AnsweredBy | null;
  /** The parking space (`701`). */
  slot: string;
  at: string;
  /** Who took it out of the slot (dialled the space); null while parked, or when it timed out or the caller gave up. */
  retrievedBy: AnsweredBy | null;
  retrievedAt: string | null;
  /** Nobody retrieved it in time: the PBX dials the parker again (`comebacktoorigin`); their leg rings again. */
  timedOut: boolean;
  /** The caller hung up while parked (the call is not missed by anyone). */
  abandoned: boolean;
}

export interface Call {
  callId: string;
  /** The PBX the call runs on (cluster mode, set by its PBX worker); absent standalone. */
  pbxId?: string;
  /** Asterisk linkedids absorbed by this conversation. */
  linkedIds: string[];
  direction: Direction;
  state: CallState;
  from: Party;
  to: Party;
  /** The DID dialled for inbound calls, when known: E.164 when it normalises, else as given. */
  did: string | null;
  /** The DID as the PBX gave it (the dialled extension of the trunk channel). */
  didRaw: string | null;
  queue: string | null;
  legs: Leg[];
  answeredBy: AnsweredBy | null;
  times: Times;
  outcome: CallOutcome | null;
  hangupCause: { code: number; text: string } | null;
  /** Set when the call was closed with an end reason other than a seen hangup. */
  endReason: EndReason | null;
  transfer: Transfer | null;
  /** Set once the call was parked (calls/movements/park.ts). */
  park: Park | null;
  /** Allow-listed channel variables (IVR context: CRM_ACCOUNT, TICKET, …). */
  ivr: Record<string, string>;
  /** Recording file when the call is recorded (MixMonitor). */
  recording: string | null;
  /** True when the call was rebuilt from a status listing after a (re)connect or restart. */
  restored: boolean;
  /** True for a call placed through our own click-to-dial. */
  clickToDial: boolean;
  /** Conference room when the call is in a ConfBridge. */
  conference: string | null;
  /** Contact lookup for the external party (filled in after the tracker saw the call). */
  match: Match | null;
  /** What the CRM attached with `call.annotate`. */
  annotation: Annotation | null;
  /**
   * Set when this call was absorbed by another (attended transfer's consultation call, the
   * `*8` call of a pickup): the conversation goes on under that callId.
   */
  mergedInto: string | null;
  /**
   * Only in the copy of a call sent to the target of a consultation (an attended transfer
   * being prepared) while it lasts: the customer the colleague is calling about. In that copy
   * `from` is the colleague who is really calling.
   */
  consultationFor?: Party;
}

export interface ContactRecord {
  name: string;
  company: string | null;
  recordId: string | null;
  url: string | null;
  /** How it matched: the full E.164 number or only its last digits. */
  matchedOn: "e164" | "last_digits";
}

export interface Match {
  status: "none" | "single" | "multiple" | "pending";
  count: number;
  records: ContactRecord[];
}

/** The call's current annotation: the merge of every annotation sent (cleared fields absent), by and at of the last. */
export interface Annotation {
  recordId?: string;
  comment?: string;
  disposition?: string;
  by: string;
  at: string;
}

/** One annotation as sent: an absent field keeps its value, null clears it. */
export interface AnnotationPatch {
  recordId?: string | null;
  comment?: string | null;
  disposition?: string | null;
}

/** One entry of a call's annotation history. */
export type AnnotationEntry = AnnotationPatch & { by: string; at: string };

/**
 * What an agent is doing, in one word (the panel's mode), by precedence: `ringing` (a phone
 * rings) > `talking` (in use, busy) / `on_hold` > `wrap_up` (after-call work) > `offline`
 * (phone unavailable or invalid, or a queue member logged in to none) > `paused` (every queue
 * paused, for a reason other than `wrap-up`) > `idle`.
 */
export type AgentActivity = "offline" | "idle" | "ringing" | "talking" | "on_hold" | "wrap_up" | "paused";

/** A running after-call work (wrap-up): the call that ended, since when, until when (null: until ready). */
export interface WrapUpState {
  callId: string;
  since: string;
  until: string | null;
}

/** One user's agent state (calls/agents.ts), sent whole as `agent.state`. */
export interface AgentState {
  /** The PBX this state comes from (cluster mode); absent standalone. */
  pbxId?: string;
  /** Device state of the user's phone(s): `not_inuse`, `inuse`, `ringing`, `unavailable` … */
  deviceState: DeviceState | null;
  /** `pbxId`: the queue's PBX (cluster mode: a user's state is merged over the PBXs of their devices). */
  queues: { queue: string; loggedIn: boolean; paused: boolean; reason: string | null; pbxId?: string }[];
  activity: AgentActivity;
  wrapUp: WrapUpState | null;
}

/** Domain events, past-tense facts, one per affected user with the full call snapshot. */
export interface CallEventMap {
  callDialing: CallEvent;
  callRinging: CallEvent;
  callRingingStopped: CallEvent & { reason: RingStopReason };
  callAnswered: CallEvent;
  callHeld: CallEvent;
  callResumed: CallEvent;
  callTransferred: CallEvent;
  callUpdated: CallEvent;
  callEnded: CallEvent;
  callMissed: CallEvent;
}

export type CallEventName = keyof CallEventMap;

export interface CallEvent {
  /** The user this event is for (null: the call-level copy for supervisors and the store). */
  userId: string | null;
  call: Call;
  /** Epoch milliseconds, from the AMI message that caused it. */
  at: number;
}

export type AnyCallEvent = {
  [K in CallEventName]: { name: K } & CallEventMap[K];
}[CallEventName];
