/**
 * Consultation: an agent who talks to a customer calls a colleague to hand the call over
 * (DTMF `atxfer`, the AMI `Atxfer` action). Asterisk 22 dials the colleague from a Local
 * channel in the customer's linkedid, with the agent's caller id; the colleague's phone shows
 * the agent. While it lasts, the colleague's copy of the call says so: `from` is the agent,
 * `consultationFor` the customer. A consultation that is not completed (aborted with `*1`,
 * declined) is not a customer call the colleague missed.
 */
import type { Call, LegOutcome, Party } from "../model.js";
import type { Conversation, LegRec } from "../conversation.js";

export interface Consult {
  /** The device of the agent who is consulting. */
  fromDevice: string;
  /** The agent, as the colleague's phone shows her. */
  from: Party;
  /** The customer the consultation is about. */
  for: Party;
}

/**
 * Whether a dial into `conv` is a consultation: its caller id is the extension of one of our
 * phones that already talks in this call (answered, connected or on hold), not the target.
 */
export function consultingDevice(conv: Conversation, callerNum: string, targetDevice: string, deviceForExtension: (ext: string) => string | null): string | null {
  if (!/^[0-9*#]+$/.test(callerNum)) return null;
  const device = deviceForExtension(callerNum);
  if (!device || device === targetDevice) return null;
  const rec = conv.legs.get(device);
  if (!rec || !rec.answered || (rec.leg.state !== "connected" && rec.leg.state !== "on_hold")) return null;
  return device;
}

/** Mark the target's leg as a consultation, before its first ring goes out. */
export function startConsultation(rec: LegRec, consult: Consult): void {
  if (rec.rang || rec.answered) return;
  rec.consult = consult;
}

/** The copy of the call the consultation target sees while it lasts. */
export function consultationView(call: Call, consult: Consult): Call {
  return { ...call, from: { ...consult.from }, consultationFor: { ...consult.for } };
}

/** The target's leg of the consultation `byDevice` started, if one is open. */
export function consultationTarget(conv: Conversation, byDevice: string): LegRec | undefined {
  for (const rec of conv.legs.values()) if (rec.consult?.fromDevice === byDevice) return rec;
  return undefined;
}

/** The consultation became the customer's call (the transfer completed). */
export function completeConsultation(rec: LegRec): void {
  rec.consult = null;
}

/** A consultation never completed: declined, talked (answered) or cancelled (unanswered); never missed. */
export function consultationLegOutcome(rec: LegRec): LegOutcome {
  if (rec.declined) return "declined";
  return rec.answered ? "answered_by_me" : "unanswered";
}

/**
 * A phone that unholds the customer while it talks in a consultation call of its own is about
 * to REFER (Asterisk 22 + pjsua unhold both calls just before the AttendedTransfer): its
 * `callResumed` waits, and goes out only if the consultation call then ends without a
 * transfer. One entry per device at most.
 */
export class DeferredResumes {
  private readonly pending = new Map<string, { conv: Conversation; consultation: Conversation }>();

  /** Whether the unhold of `device` in `conv` waits; `calls` are the open calls. */
  unhold(device: string, conv: Conversation, calls: Iterable<Conversation>): boolean {
    for (const other of calls) {
      if (other === conv || other.ended || other.placer !== device || other.call.times.started < conv.call.times.started) continue;
      const rec = other.legs.get(device);
      if (rec && rec.hasLive && rec.leg.state === "connected") {
        this.pending.set(device, { conv, consultation: other });
        return true;
      }
    }
    return false;
  }

  /** `device` completed the transfer: no resume. */
  transferred(device: string): void {
    this.pending.delete(device);
  }

  /** A channel of `device` in `from` is gone: if `from` was its consultation call, the resume goes out now. */
  channelGone(device: string, from: Conversation, at: number): void {
    const p = this.pending.get(device);
    if (p?.consultation !== from) return;
    this.pending.delete(device);
    const rec = p.conv.legs.get(device);
    if (!p.conv.ended && rec?.leg.state === "connected" && rec.leg.userId) p.conv.emit("callResumed", [rec.leg.userId], at);
  }
}
