/**
 * Two Asterisk linkedids that turn out to be one conversation: an attended transfer's
 * consultation, the picker's `*8` channel, the phone that dialled a parking space. Everything
 * of `from` moves into `into`; `from` ends as merged (`mergedInto`, `endReason: "merged"`, its
 * end time), its users get its end, and it is not stored as a call of its own.
 *
 * What the merged-away call keeps depends on what it was (traces 31, 32, 35): a consultation
 * was a conversation of its own (the colleagues talked), so its record keeps a copy of each leg
 * ending at the merge with an outcome; a feature-code dial (`*8`, a parking space) never was,
 * so its legs move over and it keeps none.
 */
import { addLive, appended, type Conversation } from "../conversation.js";
import { fillLegDurations, iso } from "../outcomes.js";

export type MergeKind = "attended_transfer" | "pickup" | "park_retrieve";

/** What moved: the caller repoints its channel and linkedid indexes at `into`. */
export interface Merged {
  channelIds: string[];
  linkedIds: string[];
}

export function mergeConversations(into: Conversation, from: Conversation, at: number, kind: MergeKind): Merged {
  if (into === from) return { channelIds: [], linkedIds: [] };
  const moved: Merged = { channelIds: [...from.channelIds], linkedIds: [...from.call.linkedIds] };
  // Taken before the legs move: a feature-code dial's users are gone from it afterwards.
  const users = from.users;
  const keepLegs = kind === "attended_transfer";
  const when = iso(at);
  into.channelIds = appended(into.channelIds, ...from.channelIds);
  into.liveParties += Math.max(0, from.liveParties);
  from.channelIds.length = 0;
  from.liveParties = 0;
  for (const rec of from.legs.values()) {
    const device = rec.leg.device;
    const existing = into.legs.get(device);
    if (existing) {
      for (const id of rec.live) addLive(existing, id);
      if (rec.answered && existing.leg.state === "ended") {
        existing.leg.state = rec.leg.state;
        existing.leg.endedAt = null;
      }
    } else if (!rec.leg.placed || rec.hasLive) {
      if (keepLegs) {
        // The leg lives on in `into`: the consultation's record keeps a copy that ends here.
        const copy = rec.withLeg({ ...rec.leg, placed: false });
        into.legs.set(copy);
        into.call.legs.push(copy.leg);
      } else {
        rec.leg.placed = false;
        into.legs.set(rec);
        into.call.legs.push(rec.leg);
      }
    }
    if (keepLegs) {
      if (rec.leg.state !== "ended") {
        rec.leg.state = "ended";
        rec.leg.endedAt = when;
        fillLegDurations(rec.leg);
      }
      rec.leg.outcome ??= rec.leg.placed ? "placed" : rec.answered ? "answered_by_me" : "unanswered";
    }
  }
  for (const id of from.call.linkedIds) if (!into.call.linkedIds.includes(id)) into.call.linkedIds.push(id);
  from.call.mergedInto = into.call.callId;
  from.call.state = "ended";
  from.call.times.ended = when;
  from.call.endReason = "merged";
  from.call.outcome ??= from.facts.answered ? "answered" : null;
  from.mergeKind = kind;
  from.ended = true;
  from.endedAtMs = at;
  if (!keepLegs) {
    // Its legs live on in `into` (the same objects): the merged-away snapshot keeps none.
    from.legs.clear();
    from.call.legs = [];
  }
  from.emit("callEnded", users, at);
  return moved;
}
