/**
 * Two Asterisk linkedids that turn out to be one conversation: an attended transfer's
 * consultation, the picker's `*8` channel, the phone that dialled a parking space. Everything
 * of `from` moves into `into`; `from` ends as merged (`mergedInto`), not a call of its own.
 */
import { addLive, type Conversation } from "../conversation.js";
import { iso } from "../outcomes.js";

export type MergeKind = "attended_transfer" | "pickup" | "park_retrieve";

/** What moved: the caller repoints its channel and linkedid indexes at `into`. */
export interface Merged {
  channelIds: string[];
  linkedIds: string[];
}

export function mergeConversations(into: Conversation, from: Conversation, at: number, kind: MergeKind): Merged {
  if (into === from) return { channelIds: [], linkedIds: [] };
  const moved: Merged = { channelIds: [...from.channelIds], linkedIds: [...from.call.linkedIds] };
  const users = from.users;
  for (const id of from.channelIds) into.channelIds.push(id);
  into.liveParties += from.liveParties;
  from.channelIds.length = 0;
  from.liveParties = 0;
  for (const [device, rec] of from.legs) {
    const existing = into.legs.get(device);
    if (existing) {
      for (const id of rec.live) addLive(existing, id);
      if (rec.answered && existing.leg.state === "ended") {
        existing.leg.state = rec.leg.state;
        existing.leg.endedAt = null;
      }
    } else if (!rec.leg.placed || rec.live.length > 0) {
      rec.leg.placed = false;
      into.legs.set(device, rec);
      into.call.legs.push(rec.leg);
    }
  }
  for (const id of from.call.linkedIds) if (!into.call.linkedIds.includes(id)) into.call.linkedIds.push(id);
  from.call.mergedInto = into.call.callId;
  from.call.state = "ended";
  from.call.times.ended = iso(at);
  from.call.endReason = "merged";
  from.mergeKind = kind;
  from.ended = true;
  from.endedAtMs = at;
  // Its legs live on in `into` (the same objects): the merged-away snapshot keeps none.
  from.legs.clear();
  from.call.legs = [];
  from.emit("callEnded", users, at);
  return moved;
}
