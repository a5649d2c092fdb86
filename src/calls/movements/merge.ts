/**
 * Two linkedids become one conversation: an attended transfer joins the consultation call to
 * the customer's, a pickup the `*8` call to the ringing one, a park retrieval the retriever's
 * call to the parked one. The absorbed call ends as merged (`mergedInto`, `endReason:
 * "merged"`), its users get its end, and it is not stored as a call of its own.
 */
import { addLive, type Conversation } from "../conversation.js";
import { fillLegDurations, iso } from "../outcomes.js";

export type MergeKind = "attended_transfer" | "pickup" | "park_retrieve";

/** What moved, so the tracker can re-point its indexes (channels, linkedids) to `into`. */
export interface Merged {
  channelIds: string[];
  linkedIds: string[];
}

export function mergeConversations(into: Conversation, from: Conversation, at: number, kind: MergeKind): Merged {
  const moved: Merged = { channelIds: [...from.channelIds], linkedIds: [...from.call.linkedIds] };
  if (from === into) return { channelIds: [], linkedIds: [] };
  into.channelIds.push(...from.channelIds);
  into.liveParties += Math.max(0, from.liveParties);
  from.channelIds.length = 0;
  from.liveParties = 0;
  const when = iso(at);
  for (const [device, rec] of from.legs) {
    const existing = into.legs.get(device);
    if (existing) {
      for (const id of rec.live) addLive(existing, id);
      if (rec.answered && existing.leg.state === "ended") {
        existing.leg.state = rec.leg.state;
        existing.leg.endedAt = null;
      }
    } else if (!rec.leg.placed || rec.live.length > 0) {
      // The leg lives on in `into`: the absorbed call's record keeps a copy that ends here.
      into.legs.set(device, { ...rec, live: [...rec.live], leg: { ...rec.leg, placed: false } });
      into.call.legs.push(into.legs.get(device)!.leg);
    }
    // The absorbed call's own record: every leg ends at the merge, with an outcome.
    if (rec.leg.state !== "ended") {
      rec.leg.state = "ended";
      rec.leg.endedAt = when;
      fillLegDurations(rec.leg);
    }
    rec.leg.outcome ??= rec.leg.placed ? "placed" : rec.answered ? "answered_by_me" : "unanswered";
  }
  for (const id of from.call.linkedIds) if (!into.call.linkedIds.includes(id)) into.call.linkedIds.push(id);
  from.call.mergedInto = into.call.callId;
  from.call.state = "ended";
  from.call.times.ended = when;
  from.call.endReason = "merged";
  from.call.outcome ??= from.facts.answered ? "answered" : null;
  from.ended = true;
  from.endedAtMs = at;
  void kind; // one function for every kind of merge; the kind is for the caller's log line
  from.emit("callEnded", from.users, at);
  return moved;
}
