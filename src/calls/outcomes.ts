/**
 * Pure transitions and verdicts: how a call and each leg ended, why a leg stopped ringing,
 * and the seconds that go with them. Table-tested in test/calls/outcomes.test.ts.
 */
import type { Call, CallOutcome, Leg, LegOutcome, RingStopReason } from "./model.js";

export type MissedPolicy = "all-rung" | "direct-only" | "none";

/** What the tracker learnt about a call while it ran. */
export interface CallFacts {
  answered: boolean;
  failed: boolean;
  voicemail: boolean;
  queueAbandoned: boolean;
  /** DialStatus of the last `DialEnd` that was not ANSWER/CANCEL. */
  lastDialStatus: string | null;
  anyDeclined: boolean;
}

const ANSWERED = 1;
const FAILED = 2;
const VOICEMAIL = 4;
const QUEUE_ABANDONED = 8;
const ANY_DECLINED = 16;

/** CallFacts as one word of flags and the dial status: 40 B per open call, not 72 (heap snapshot). */
export class Facts implements CallFacts {
  private flags = 0;
  lastDialStatus: string | null = null;

  private flag(bit: number): boolean {
    return (this.flags & bit) !== 0;
  }
  private setFlag(bit: number, v: boolean): void {
    this.flags = v ? this.flags | bit : this.flags & ~bit;
  }

  get answered(): boolean {
    return this.flag(ANSWERED);
  }
  set answered(v: boolean) {
    this.setFlag(ANSWERED, v);
  }
  get failed(): boolean {
    return this.flag(FAILED);
  }
  set failed(v: boolean) {
    this.setFlag(FAILED, v);
  }
  get voicemail(): boolean {
    return this.flag(VOICEMAIL);
  }
  set voicemail(v: boolean) {
    this.setFlag(VOICEMAIL, v);
  }
  get queueAbandoned(): boolean {
    return this.flag(QUEUE_ABANDONED);
  }
  set queueAbandoned(v: boolean) {
    this.setFlag(QUEUE_ABANDONED, v);
  }
  get anyDeclined(): boolean {
    return this.flag(ANY_DECLINED);
  }
  set anyDeclined(v: boolean) {
    this.setFlag(ANY_DECLINED, v);
  }
}

/**
 * The call outcome. Answer is an explicit fact (DialEnd ANSWER, Newstate Up of a dialled
 * device, AgentConnect, ConfbridgeJoin), never hangup cause 16: a caller who hangs up while
 * it rings also ends with cause 16 (DESIGN §6.2).
 */
export function callOutcome(f: CallFacts): CallOutcome {
  if (f.answered) return "answered";
  if (f.failed) return "failed";
  if (f.voicemail) return "voicemail";
  if (f.queueAbandoned) return "abandoned";
  switch (f.lastDialStatus) {
    case "BUSY":
      return "busy";
    case "NOANSWER":
      return "unanswered";
    case "CONGESTION":
    case "CHANUNAVAIL":
      return f.anyDeclined ? "busy" : "failed";
    default:
      return f.anyDeclined ? "busy" : "abandoned";
  }
}

export interface LegFacts {
  placed: boolean;
  answered: boolean;
  pickedUp: boolean;
  declined: boolean;
  rang: boolean;
}

/**
 * A leg's outcome for its user. `offeredLegs` counts the devices the call was offered to
 * (for `direct-only`: a call that rang one device alone is a direct call).
 */
export function legOutcome(l: LegFacts, callAnswered: boolean, policy: MissedPolicy, offeredLegs: number): LegOutcome {
  if (l.placed) return "placed";
  if (l.answered) return l.pickedUp ? "picked_up" : "answered_by_me";
  if (callAnswered) return "answered_elsewhere";
  if (l.declined) return "declined";
  if (policy === "all-rung") return "missed";
  if (policy === "direct-only") return offeredLegs <= 1 ? "missed" : "unanswered";
  return "unanswered";
}

/** Why a ringing leg stopped, from the hangup cause of its channel (Q.850). */
export function ringStopFromCause(cause: number, callAnswered: boolean): RingStopReason {
  switch (cause) {
    case 26: // answered elsewhere (Asterisk sets it on the losing legs of a ring group/queue)
      return "answered_elsewhere";
    case 17: // user busy
    case 21: // call rejected
      return "declined";
    case 18: // no user responding
    case 19: // no answer
      return "timeout";
    default:
      return callAnswered ? "answered_elsewhere" : "caller_hangup";
  }
}

/** Why a ringing leg stopped, from the DialEnd status of its channel. */
export function ringStopFromDialStatus(status: string, callAnswered: boolean): RingStopReason {
  switch (status) {
    case "ANSWER":
      return "answered";
    case "NOANSWER":
      return "timeout";
    case "BUSY":
      return "declined";
    case "CANCEL":
      return callAnswered ? "answered_elsewhere" : "caller_hangup";
    default:
      return "ended";
  }
}

/** The last millisecond with a four-digit year: later ISO strings neither sort nor store as ours do. */
const MAX_TIME = 253_402_300_799_999;

/** Whether an event time can be a call's time (the tracker skips events whose time cannot). */
export function isTime(ms: number): boolean {
  return ms >= 0 && ms <= MAX_TIME; // false for NaN
}

let lastMs = Number.NaN;
let lastIso = "";

/** ISO-8601 of an event time. The events of one socket read share their time, so the last
 * result is reused: the call and its leg then hold one string, not two (memory per call).
 * Never throws (`toISOString` throws RangeError on an invalid Date): out of range is clamped. */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(isTime(ms) ? ms : ms > MAX_TIME ? MAX_TIME : 0).toISOString();
  }
  return lastIso;
}

/** Seconds between two ISO times, one decimal; null when either is missing. */
export function secondsBetween(from: string | null, to: string | null): number | null {
  if (!from || !to) return null;
  return Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10);
}

/** Fill the wait/talk seconds of a call and its legs from their times. */
export function fillDurations(call: Call): void {
  const t = call.times;
  t.waitSeconds = secondsBetween(t.started, t.answered ?? t.ended);
  t.talkSeconds = t.answered ? secondsBetween(t.answered, t.ended) : null;
  for (const leg of call.legs) fillLegDurations(leg);
}

export function fillLegDurations(leg: Leg): void {
  leg.waitSeconds = leg.placed ? null : secondsBetween(leg.ringingAt, leg.answeredAt ?? leg.endedAt);
  leg.talkSeconds = leg.answeredAt ? secondsBetween(leg.answeredAt, leg.endedAt) : null;
}

/** A deep copy for an event: downstream may keep it while the tracker moves on. */
export function cloneCall(c: Call): Call {
  return {
    ...c,
    linkedIds: [...c.linkedIds],
    from: { ...c.from },
    to: { ...c.to },
    legs: c.legs.map((l) => ({ ...l })),
    answeredBy: c.answeredBy ? { ...c.answeredBy } : null,
    times: { ...c.times },
    hangupCause: c.hangupCause ? { ...c.hangupCause } : null,
    transfer: c.transfer ? { ...c.transfer, by: c.transfer.by ? { ...c.transfer.by } : null, to: { ...c.transfer.to }, originalCaller: { ...c.transfer.originalCaller } } : null,
    park: c.park ? { ...c.park, by: c.park.by ? { ...c.park.by } : null, retrievedBy: c.park.retrievedBy ? { ...c.park.retrievedBy } : null } : null,
    ivr: { ...c.ivr },
    match: c.match ? { ...c.match, records: c.match.records.map((r) => ({ ...r })) } : null,
    annotation: c.annotation ? { ...c.annotation } : null,
  };
}
