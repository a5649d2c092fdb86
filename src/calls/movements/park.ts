/**
 * Parking (res_parking: the `Park` app, the parking feature code, a transfer to the park
 * extension, the `Park` AMI action). A parked call stays one call: `call.park` says who parked
 * it, where and when; the parker's leg ends when their channel leaves (outcome unchanged).
 * - retrieved: the phone that dialled the space joins the call. Its feature-code dial is merged
 *   in (never shown), and the retriever gets the caller's pop as if their phone had rung:
 *   `callRinging`, then `callAnswered`, leg `answered_by_me`; `answeredBy` becomes them.
 * - timed out: nobody retrieved it; `park.timedOut`. The PBX dials the parker again
 *   (`comebacktoorigin`): their leg rings again (a new `callRinging`) and is answered again.
 * - gave up: the caller hung up while parked: `park.abandoned`. The call was answered (its
 *   outcome stays `answered`); nobody missed it.
 */
import type { Conversation } from "../conversation.js";
import { iso } from "../outcomes.js";
import type { AnsweredBy } from "../model.js";

export function parked(conv: Conversation, by: AnsweredBy | null, slot: string, at: number): void {
  if (conv.ended) return;
  conv.call.park = { by, slot, at: iso(at), retrievedBy: null, retrievedAt: null, timedOut: false, abandoned: false };
  conv.updated(at);
}

export interface RetrieveInput {
  /** The parked call. */
  into: Conversation;
  /** The retriever's own conversation (the dial of the parking space), when another one. */
  from: Conversation | null;
  device: string;
  userId: string | null;
  at: number;
}

export function retrieved(r: RetrieveInput, merge: (into: Conversation, from: Conversation, at: number) => void): void {
  const park = r.into.call.park;
  if (r.into.ended || !park) return;
  if (r.from && r.from !== r.into) merge(r.into, r.from, r.at);
  park.retrievedBy = { userId: r.userId, device: r.device };
  park.retrievedAt = iso(r.at);
  r.into.ringing(r.device, r.at);
  r.into.answered(r.device, r.at);
}

export function timedOut(conv: Conversation, at: number): void {
  if (conv.ended || !conv.call.park) return;
  conv.call.park.timedOut = true;
  conv.updated(at);
}

/** The caller hangs up next; the call's end carries the flag. */
export function gaveUp(conv: Conversation): void {
  if (!conv.ended && conv.call.park) conv.call.park.abandoned = true;
}
