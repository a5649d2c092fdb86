/**
 * A call rebuilt after a daemon restart (from the PBX's channel listing) takes back what the
 * listing cannot say: its direction and parties (from, to, DID), its times, the legs that had already ended, its queue, IVR data,
 * recording, transfer and annotation, from the snapshot the store kept while it ran. Live legs
 * get their times when the listing rebuilds them (`Conversation.ensureLeg`). Pure.
 */
import type { Call, Direction, Leg, Party } from "./model.js";
import type { Conversation } from "./conversation.js";

/** An ISO time as the tracker writes them; anything else in a snapshot is ignored. */
function time(v: unknown): string | null {
  return typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v) && !Number.isNaN(Date.parse(v)) ? v : null;
}

const DIRECTIONS: readonly Direction[] = ["inbound", "outbound", "internal"];
const isParty = (v: unknown): v is Party => typeof v === "object" && v !== null && typeof (v as Party).raw === "string";

export function restoreFromSnapshot(conv: Conversation, snap: Call): void {
  const call = conv.call;
  // The parties as the call began: the listed channel that starts the rebuilt call may be one
  // that came later (the caller's first partner is gone after a transfer) or one that runs
  // elsewhere now (a transferred caller's channel lists the target's context and exten).
  if (DIRECTIONS.includes(snap.direction)) call.direction = snap.direction;
  if (isParty(snap.from)) call.from = snap.from;
  if (isParty(snap.to)) call.to = snap.to;
  if (typeof snap.did === "string" || snap.did === null) call.did = snap.did;
  if (typeof snap.didRaw === "string" || snap.didRaw === null) call.didRaw = snap.didRaw;
  const t = snap.times ?? {};
  call.times.started = time(t.started) ?? call.times.started;
  call.times.ringing = time(t.ringing);
  call.times.answered = time(t.answered);
  call.queue ??= typeof snap.queue === "string" ? snap.queue : null;
  if (snap.ivr && typeof snap.ivr === "object") call.ivr = { ...snap.ivr, ...call.ivr };
  call.recording ??= snap.recording ?? null;
  call.transfer ??= snap.transfer ?? null;
  call.park ??= snap.park ?? null;
  call.annotation ??= snap.annotation ?? null;
  call.conference ??= typeof snap.conference === "string" ? snap.conference : null;
  // Answered before the restart stays answered (a conference room or an agent who has hung up
  // since cannot say so in a listing).
  if (call.times.answered) {
    conv.facts.answered = true;
    call.answeredBy ??= snap.answeredBy ?? null;
  }
  const legs = new Map<string, Leg>();
  for (const leg of Array.isArray(snap.legs) ? snap.legs : []) if (leg && typeof leg.device === "string") legs.set(leg.device, leg);
  conv.restoredLegs = legs;
  // Legs that had ended before the restart: no channel of theirs will be listed.
  for (const old of legs.values()) {
    if (old.state !== "ended") continue;
    const rec = conv.ensureLeg(old.device, old.placed === true);
    rec.leg.state = "ended";
    rec.leg.outcome = old.outcome ?? null;
    rec.leg.endedAt = time(old.endedAt);
    rec.leg.waitSeconds = old.waitSeconds ?? null;
    rec.leg.talkSeconds = old.talkSeconds ?? null;
    if (old.transferred === true) rec.leg.transferred = true;
    rec.rang = rec.leg.ringingAt !== null;
    rec.answered = rec.leg.answeredAt !== null;
    rec.declined = old.outcome === "declined";
    if (rec.declined) conv.facts.anyDeclined = true;
  }
}

/**
 * The listing is complete: legs that were live in the snapshot but whose channels the PBX no
 * longer lists ended while we were away (at `at`, the best we know). They are kept, with their
 * times, never dropped.
 */
export function finishRestore(conv: Conversation, at: string): void {
  const legs = conv.restoredLegs;
  if (!legs) return;
  conv.restoredLegs = null;
  for (const old of legs.values()) {
    if (conv.legs.has(old.device)) continue;
    const rec = conv.ensureLeg(old.device, old.placed === true);
    restoreLegTimes(rec.leg, old);
    rec.leg.state = "ended";
    rec.leg.endedAt = at;
    rec.rang = rec.leg.ringingAt !== null;
    rec.answered = rec.leg.answeredAt !== null;
  }
}

/** The times a leg had before the restart (called when the leg is created again). */
export function restoreLegTimes(leg: Leg, old: Leg | undefined): void {
  if (!old) return;
  leg.ringingAt = time(old.ringingAt);
  leg.answeredAt = time(old.answeredAt);
}
