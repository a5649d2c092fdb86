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
