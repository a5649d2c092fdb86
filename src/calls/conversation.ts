/**
 * One conversation: its Call snapshot, its legs (one per device offered or placing it),
 * the facts that decide its outcome, and the domain events each transition emits.
 * Owned and driven by the CallTracker; pure (time comes in with each call).
 */
import type { AnyCallEvent, Call, CallEventName, Leg, Match, RingStopReason } from "./model.js";
import {
  callOutcome,
  cloneCall,
  fillDurations,
  fillLegDurations,
  iso,
  legOutcome,
  Facts,
  type MissedPolicy,
} from "./outcomes.js";
import { restoreLegTimes } from "./restore.js";
import { consultationLegOutcome, consultationView, type Consult } from "./movements/consultation.js";
import type { MergeKind } from "./movements/merge.js";

const ANSWERED = 1;
const PICKED_UP = 2;
const DECLINED = 4;
const RANG = 8;

/**
 * The tracker's record of one leg: the public `Leg`, its live channels and the facts that decide
 * its outcome. A class with one word of flags and the live channel ids as one id or a list:
 * four booleans and an array of one id cost 96 B more per leg (heap snapshot).
 */
export class LegRec {
  /** Live channel ids of this device in the call: null, one id (the usual case) or several. */
  private ids: string | readonly string[] | null = null;
  private flags = 0;
  /** Set while this leg is the target of a consultation (movements/consultation.ts); not a field of the other legs. */
  declare consult?: Consult | null;

  constructor(readonly leg: Leg) {}

  /** Live channel ids (a new array: change them with addLive/dropLive/clearLive). */
  get live(): readonly string[] {
    const ids = this.ids;
    return ids === null ? [] : typeof ids === "string" ? [ids] : ids;
  }

  get hasLive(): boolean {
    return this.ids !== null;
  }

  /** Add a channel id once. */
  addLive(channelId: string): void {
    const ids = this.ids;
    if (ids === null) this.ids = channelId;
    else if (typeof ids === "string") {
      if (ids !== channelId) this.ids = [ids, channelId];
    } else if (!ids.includes(channelId)) this.ids = appended(ids, channelId);
  }

  dropLive(channelId: string): void {
    const ids = this.ids;
    if (ids === channelId) this.ids = null;
    else if (ids !== null && typeof ids !== "string" && ids.includes(channelId)) {
      const rest = ids.filter((id) => id !== channelId);
      this.ids = rest.length === 1 ? rest[0]! : rest;
    }
  }

  clearLive(): void {
    this.ids = null;
  }

  /** This record with another `Leg` object (a merged-away consultation keeps a copy of the leg). */
  withLeg(leg: Leg): LegRec {
    const copy = new LegRec(leg);
    copy.ids = this.ids;
    copy.flags = this.flags;
    if (this.consult !== undefined) copy.consult = this.consult;
    return copy;
  }

  get answered(): boolean {
    return (this.flags & ANSWERED) !== 0;
  }
  set answered(v: boolean) {
    this.flags = v ? this.flags | ANSWERED : this.flags & ~ANSWERED;
  }
  get pickedUp(): boolean {
    return (this.flags & PICKED_UP) !== 0;
  }
  set pickedUp(v: boolean) {
    this.flags = v ? this.flags | PICKED_UP : this.flags & ~PICKED_UP;
  }
  get declined(): boolean {
    return (this.flags & DECLINED) !== 0;
  }
  set declined(v: boolean) {
    this.flags = v ? this.flags | DECLINED : this.flags & ~DECLINED;
  }
  get rang(): boolean {
    return (this.flags & RANG) !== 0;
  }
  set rang(v: boolean) {
    this.flags = v ? this.flags | RANG : this.flags & ~RANG;
  }
}

/** Add a channel id to a leg's live list once. */
export function addLive(rec: LegRec, channelId: string): void {
  rec.addLive(channelId);
}

/**
 * `list` with `item` at the end, as a new array of exactly that length. The per-call lists
 * hold one to three items; `push` onto an empty array gives it room for 17 (a 152-byte
 * backing store, measured in a heap snapshot: three per open call, 40% of its heap).
 */
export function appended<T>(list: readonly T[], ...items: T[]): T[] {
  // concat sizes its result exactly; a spread `[...list, x]` grows like push (measured: 184 B).
  return list.concat(items);
}

/**
 * A call's legs by device, in the order they were added. An exactly sized array scanned by
 * device: a call has one to three legs, and a `Map` cost 184 B per open call (heap snapshot).
 */
export class LegTable {
  /** One leg (most calls) or several; null before the first. */
  private recs: LegRec | readonly LegRec[] | null = null;

  private get list(): readonly LegRec[] {
    const r = this.recs;
    return r === null ? [] : r instanceof LegRec ? [r] : r;
  }

  get size(): number {
    const r = this.recs;
    return r === null ? 0 : r instanceof LegRec ? 1 : r.length;
  }

  get(device: string): LegRec | undefined {
    const r = this.recs;
    if (r === null) return undefined;
    if (r instanceof LegRec) return r.leg.device === device ? r : undefined;
    for (const rec of r) if (rec.leg.device === device) return rec;
    return undefined;
  }

  has(device: string): boolean {
    return this.get(device) !== undefined;
  }

  /** Add `rec` (its leg's device is the key), or replace the leg of that device in place. */
  set(rec: LegRec): void {
    const list = this.list;
    const i = list.findIndex((r) => r.leg.device === rec.leg.device);
    const next = i < 0 ? appended(list, rec) : list.map((r, j) => (j === i ? rec : r));
    this.recs = next.length === 1 ? next[0]! : next;
  }

  clear(): void {
    this.recs = null;
  }

  /** The legs as they are now (adding a leg while iterating does not change what is visited). */
  values(): IterableIterator<LegRec> {
    return this.list.values();
  }
}

/** `list` without `item`, or null when nothing is left (the lazily created per-call lists). */
function without<T>(list: readonly T[], item: T): T[] | null {
  const rest = list.filter((x) => x !== item);
  return rest.length > 0 ? rest : null;
}

export type Emit = (ev: AnyCallEvent) => void;

/** The state of a conversation that most calls never have, in one object created on first use. */
interface Rare {
  pendingOriginate: string | null;
  departed: readonly string[] | null;
  mergeKind: MergeKind | null;
  restoredLegs: ReadonlyMap<string, Leg> | null;
  deferredUpdateAt: number | null;
}

/** What every conversation of one tracker shares (one object, not three fields per call). */
export interface ConversationEnv {
  emit: Emit;
  userOf: (device: string) => string | null;
  /** Contact lookup for the pop; null while the external number is not known yet. */
  lookup?: (call: Call) => Match | null;
  /**
   * True while a status listing is applied (tracker resync): the call-level `callRinging` /
   * `callUpdated` of a restored call wait and go out once, as one `callUpdated` with the whole
   * rebuilt call, when the listing is complete (`flushDeferredUpdate`).
   */
  deferUpdates?: () => boolean;
}

export class Conversation {
  readonly legs = new LegTable();
  readonly facts = new Facts();
  /** Device that placed the call (the root channel was a user's phone), if any. */
  placer: string | null = null;
  /** Live device/trunk channels (counted, not listed: sets cost memory per call); the call ends at 0. */
  liveParties = 0;
  /** Every channel id of the call (glue included), forgotten with the call. */
  channelIds: string[] = [];
  /**
   * Users that got `callRinging` and still ring (one pop per ring: a user rung again after all
   * their ringing stopped, as a queue's next round, gets a new one). Null when none.
   */
  private rungUsers: string[] | null = null;
  ended = false;
  endedAtMs = 0;
  /** A phone's feature-code dial (`*8`, a parking space): emits nothing unless merged into a call. */
  silent = false;
  /** What few calls have (a click-to-dial, a transfer, a merge, a restart), created when first set. */
  private rare: Rare | null = null;

  constructor(
    readonly call: Call,
    private readonly env: ConversationEnv,
  ) {}

  private setRare<K extends keyof Rare>(key: K, value: Rare[K]): void {
    if (value === null && this.rare === null) return;
    (this.rare ??= { pendingOriginate: null, departed: null, mergeKind: null, restoredLegs: null, deferredUpdateAt: null })[key] = value;
  }

  /** A click-to-dial's channel, counted live before the PBX reports it. */
  get pendingOriginate(): string | null {
    return this.rare?.pendingOriginate ?? null;
  }
  set pendingOriginate(v: string | null) {
    this.setRare("pendingOriginate", v);
  }

  /** Users whose part ended while the call went on (they left it): no more events for them (null: none, most calls). */
  private get departed(): readonly string[] | null {
    return this.rare?.departed ?? null;
  }
  private set departed(v: readonly string[] | null) {
    this.setRare("departed", v);
  }

  /** Set when this conversation was merged into another (movements/merge.ts). */
  get mergeKind(): MergeKind | null {
    return this.rare?.mergeKind ?? null;
  }
  set mergeKind(v: MergeKind | null) {
    this.setRare("mergeKind", v);
  }

  /** The legs of this call before a daemon restart, by device (restore.ts); null for a new call. */
  get restoredLegs(): ReadonlyMap<string, Leg> | null {
    return this.rare?.restoredLegs ?? null;
  }
  set restoredLegs(v: ReadonlyMap<string, Leg> | null) {
    this.setRare("restoredLegs", v);
  }

  get users(): string[] {
    const out = new Set<string>();
    for (const l of this.legs.values()) if (l.leg.userId && !this.departed?.includes(l.leg.userId)) out.add(l.leg.userId);
    return [...out];
  }

  /** Emit `name` to each of `users` and once call-level (userId null), with one shared snapshot. */
  emit(name: CallEventName, users: Iterable<string>, at: number, extra?: { reason: RingStopReason }): void {
    if (this.silent) return;
    if (this.call.match === null && this.env.lookup && !this.call.mergedInto) this.call.match = this.env.lookup(this.call);
    const call = cloneCall(this.call);
    for (const userId of new Set(users)) this.env.emit({ name, userId, call: this.viewFor(userId, call), at, ...extra } as AnyCallEvent);
    // A call rebuilt from a listing after a restart or a takeover rings (or changes) again leg
    // by leg: its call-level copy (supervisors, the store) goes out once, whole, at the end of
    // the listing, not once per leg with the legs not listed yet missing.
    if ((name === "callRinging" || name === "callUpdated") && this.rare?.restoredLegs && this.env.deferUpdates?.()) {
      this.setRare("deferredUpdateAt", at);
      return;
    }
    // Any other fact carries the whole call: a held-back update is covered.
    if (this.rare?.deferredUpdateAt != null) this.setRare("deferredUpdateAt", null);
    this.env.emit({ name, userId: null, call, at, ...extra } as AnyCallEvent);
  }

  /** The call as `userId` sees it: the consultation view while she is a consultation's target. */
  private viewFor(userId: string, call: Call): Call {
    for (const rec of this.legs.values()) if (rec.consult && rec.leg.userId === userId && rec.leg.state !== "ended") return consultationView(call, rec.consult);
    return call;
  }

  /**
   * The channel of `device` left a call it transferred, and the call goes on: her part ends
   * here. She gets her `callEnded` (her leg ended, `answered_by_me`, `transferred`) and nothing
   * after it for this call unless she is part of it again. Only for the transferer: when one
   * side of a plain call hangs up, the other side's hangup follows within milliseconds, and
   * both get the call's own end with its outcome.
   */
  left(device: string, at: number): void {
    const rec = this.legs.get(device);
    const user = rec?.leg.userId;
    if (!rec || !user || this.ended || !rec.answered || rec.leg.state !== "ended" || this.departed?.includes(user)) return;
    if (this.call.transfer?.by?.device !== device) return;
    for (const other of this.legs.values()) if (other !== rec && other.leg.userId === user && other.leg.state !== "ended") return;
    rec.leg.outcome = "answered_by_me";
    rec.leg.transferred = true;
    this.departed = appended(this.departed ?? [], user);
    this.env.emit({ name: "callEnded", userId: user, call: cloneCall(this.call), at });
  }

  /** A departed user is part of the call again (it rings on her phone, she answers). */
  private rejoin(user: string | null): void {
    if (user && this.departed?.includes(user)) this.departed = without(this.departed, user);
  }

  ensureLeg(device: string, placed: boolean): LegRec {
    let rec = this.legs.get(device);
    if (!rec) {
      const leg: Leg = {
        userId: this.env.userOf(device),
        device,
        state: placed ? "dialing" : "ringing",
        outcome: null,
        placed,
        ringingAt: null,
        answeredAt: null,
        endedAt: null,
        waitSeconds: null,
        talkSeconds: null,
      };
      if (this.restoredLegs) restoreLegTimes(leg, this.restoredLegs.get(device));
      rec = new LegRec(leg);
      this.legs.set(rec);
      this.call.legs = appended(this.call.legs, leg);
    }
    return rec;
  }

  placerDialing(device: string, at: number): void {
    const rec = this.ensureLeg(device, true);
    rec.leg.state = "dialing";
    this.call.state = "dialing";
    this.emit("callDialing", rec.leg.userId ? [rec.leg.userId] : [], at);
  }

  ringing(device: string, at: number): void {
    const rec = this.ensureLeg(device, false);
    // An answered leg that ended may ring again (a parked call coming back to the parker).
    if ((rec.answered && rec.leg.state !== "ended") || (rec.rang && rec.leg.state === "ringing")) return;
    rec.rang = true;
    this.rejoin(rec.leg.userId);
    rec.leg.state = "ringing";
    rec.leg.ringingAt ??= iso(at);
    rec.leg.endedAt = null;
    this.call.times.ringing ??= iso(at);
    if (!this.hasConnectedLeg()) this.call.state = this.placer ? "dialing" : "ringing";
    const user = rec.leg.userId;
    if (user && !this.rungUsers?.includes(user)) {
      this.rungUsers = appended(this.rungUsers ?? [], user);
      this.emit("callRinging", [user], at);
    } else if (!user) {
      this.emit("callRinging", [], at);
    }
  }

  stopRinging(device: string, reason: RingStopReason, at: number): void {
    const rec = this.legs.get(device);
    if (!rec || rec.leg.state !== "ringing" || rec.leg.placed) return;
    // A consultation is not answered elsewhere: the colleague who called stopped it.
    if (rec.consult && reason === "answered_elsewhere") reason = "caller_hangup";
    if (reason === "declined") {
      rec.declined = true;
      this.facts.anyDeclined = true;
    }
    rec.leg.state = "ended";
    rec.leg.endedAt = iso(at);
    fillLegDurations(rec.leg);
    const user = rec.leg.userId;
    this.ringDone(user);
    this.emit("callRingingStopped", user ? [user] : [], at, { reason });
  }

  /** A dialled device answered (or picked the call up). */
  answered(device: string, at: number, pickedUp = false): void {
    const rec = this.ensureLeg(device, false);
    // Already talking; an answered leg that ended or rings again (a parked call back) answers anew.
    if (rec.answered && (rec.leg.state === "connected" || rec.leg.state === "on_hold")) return;
    rec.answered = true;
    rec.pickedUp ||= pickedUp;
    this.rejoin(rec.leg.userId);
    rec.leg.state = "connected";
    this.ringDone(rec.leg.userId);
    rec.leg.answeredAt ??= iso(at);
    rec.leg.endedAt = null;
    rec.leg.outcome = rec.pickedUp ? "picked_up" : "answered_by_me";
    if (rec.consult) {
      // The colleague answered the consultation: the customer's call is not answered by her (yet).
      if (rec.leg.userId) this.emit("callAnswered", [rec.leg.userId], at);
      return;
    }
    this.connectCall(at, { userId: rec.leg.userId, device });
    for (const other of this.legs.values()) {
      const d = other.leg.device;
      if (d !== device && other.leg.state === "ringing" && !other.leg.placed) {
        this.stopRinging(d, pickedUp ? "picked_up_elsewhere" : "answered_elsewhere", at);
      }
    }
    // The agent who transferred the call is leaving it: the target's answer is not hers.
    const transferer = this.call.transfer?.by?.userId;
    this.emit("callAnswered", this.connectedUsers().filter((u) => u !== transferer || u === rec.leg.userId), at);
  }

  /**
   * The far end answered without a leg of ours (outbound trunk, conference, IVR), or, with
   * `external`, a number outside the PBX answered an inbound call (a ring group's external member).
   */
  connectedWithoutLeg(at: number, external?: string): void {
    if (this.facts.answered && this.call.state !== "dialing" && this.call.state !== "ringing") return;
    this.connectCall(at, external ? { userId: null, device: null, external } : this.call.answeredBy);
    this.emit("callAnswered", this.connectedUsers(), at);
  }

  private connectCall(at: number, by: Call["answeredBy"]): void {
    this.facts.answered = true;
    this.call.times.answered ??= iso(at);
    if (by) this.call.answeredBy = by;
    this.call.state = "connected";
    const placer = this.placer ? this.legs.get(this.placer) : undefined;
    if (placer && placer.hasLive && placer.leg.state === "dialing") {
      placer.leg.state = "connected";
      placer.leg.answeredAt ??= iso(at);
    }
  }

  /** `quiet`: the leg is connected again but no `callResumed` goes out (the tracker sends it later or never). */
  hold(device: string, held: boolean, at: number, quiet = false): void {
    const rec = this.legs.get(device);
    if (!rec || this.ended) return;
    if (held && rec.leg.state === "connected") {
      rec.leg.state = "on_hold";
      this.call.state = "on_hold";
      this.emit("callHeld", this.connectedUsers(), at);
    } else if (!held && rec.leg.state === "on_hold") {
      rec.leg.state = "connected";
      if (!this.anyLegIn("on_hold")) this.call.state = "connected";
      if (quiet) return;
      this.emit("callResumed", this.connectedUsers(), at);
    }
  }

  /** A device channel of a leg is gone; the leg ends when its device has none left. */
  legChannelGone(device: string, channelId: string, at: number): void {
    const rec = this.legs.get(device);
    if (!rec) return;
    rec.dropLive(channelId);
    if (rec.hasLive || rec.leg.state === "ended") return;
    rec.leg.state = "ended";
    rec.leg.endedAt = iso(at);
    fillLegDurations(rec.leg);
    if (this.call.state === "on_hold" && !this.anyLegIn("on_hold")) this.call.state = "connected";
  }

  updated(at: number): void {
    if (this.users.length > 0 || this.call.times.ringing) this.emit("callUpdated", this.users, at);
  }

  /** The listing is complete: the call-level update it held back, if any (see ConversationEnv.deferUpdates). */
  flushDeferredUpdate(): void {
    const at = this.rare?.deferredUpdateAt ?? null;
    if (at === null) return;
    this.setRare("deferredUpdateAt", null);
    if (!this.silent) this.env.emit({ name: "callUpdated", userId: null, call: cloneCall(this.call), at });
  }

  /** Close the call: outcome, leg outcomes, `callEnded` to everyone, `callMissed` by policy. */
  end(at: number, policy: MissedPolicy, unknownEnd: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.endedAtMs = at;
    const call = this.call;
    call.state = "ended";
    call.times.ended = iso(at);
    if (unknownEnd) call.times.endEstimated = true;
    call.endReason = unknownEnd ? "unknown_end" : "hangup";
    call.outcome = unknownEnd && !this.facts.answered ? null : callOutcome(this.facts);
    const offered = [...this.legs.values()].filter((l) => !l.leg.placed && l.rang).length;
    const missed: string[] = [];
    for (const rec of this.legs.values()) {
      const leg = rec.leg;
      if (leg.state !== "ended") {
        leg.state = "ended";
        leg.endedAt = iso(at);
      }
      const stillUnknown = unknownEnd && !rec.answered && !rec.leg.placed && !this.facts.answered;
      // It rang, nobody is known to have answered, and the end was not seen: probably missed
      // (the caller gave up while we were away). Counted by the missed policy, flagged.
      if (stillUnknown && !rec.rang) leg.outcome = null;
      else if (rec.consult) leg.outcome = consultationLegOutcome(rec);
      else leg.outcome = legOutcome({ placed: leg.placed, answered: rec.answered, pickedUp: rec.pickedUp, declined: rec.declined, rang: rec.rang }, this.facts.answered, policy, offered);
      if (stillUnknown && rec.rang && !rec.declined) leg.missedUncertain = true;
      if (leg.outcome === "missed" && leg.userId) missed.push(leg.userId);
    }
    fillDurations(call);
    this.emit("callEnded", this.users, at);
    if (missed.length > 0) this.emit("callMissed", missed, at);
  }

  /** The user's ringing stopped (answered or not): a later ring of theirs is a new `callRinging`. */
  private ringDone(user: string | null): void {
    if (!user || [...this.legs.values()].some((l) => l.leg.userId === user && l.leg.state === "ringing")) return;
    if (this.rungUsers?.includes(user)) this.rungUsers = without(this.rungUsers, user);
  }

  private hasConnectedLeg(): boolean {
    return this.anyLegIn("connected") || this.anyLegIn("on_hold");
  }

  private anyLegIn(state: Leg["state"]): boolean {
    for (const l of this.legs.values()) if (l.leg.state === state) return true;
    return false;
  }

  private connectedUsers(): string[] {
    const out: string[] = [];
    for (const l of this.legs.values()) {
      if ((l.leg.state === "connected" || l.leg.state === "on_hold") && l.leg.userId) out.push(l.leg.userId);
    }
    return out;
  }
}
