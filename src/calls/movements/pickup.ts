/**
 * Pickup (`*8` group pickup, `**1002` directed pickup, Asterisk `Pickup` event): the picker
 * answered a call that rang on another phone. The picker's own feature-code call is merged into
 * the picked call (it was never shown: featureCodes.ts), and the picker gets the caller's pop as
 * if their phone had rung: `callRinging` then `callAnswered` (leg outcome `picked_up`); the
 * phones that rang get `picked_up_elsewhere` and did not miss it.
 */
import type { Conversation } from "../conversation.js";

export interface PickupInput {
  /** The picked call (the conversation of the ringing channel that was taken). */
  into: Conversation;
  /** The picker's own conversation (its `*8` channel), when it is another one. */
  from: Conversation | null;
  /** The picker's phone. */
  device: string;
  at: number;
}

/** `merge`: the tracker's mergeConversations wrapper (it keeps its channel index). */
export function pickUp(p: PickupInput, merge: (into: Conversation, from: Conversation, at: number) => void): void {
  if (p.into.ended) return;
  if (p.from && p.from !== p.into) merge(p.into, p.from, p.at);
  p.into.ringing(p.device, p.at);
  p.into.answered(p.device, p.at, true);
}
