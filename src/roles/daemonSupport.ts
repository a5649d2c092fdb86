/** Small pieces of daemon policy, kept out of daemon.ts so that file stays wiring only. */
import type { PbxEvent } from "../ami/events.js";
import type { Call } from "../calls/model.js";
import type { CallTracker } from "../calls/tracker.js";
import type { Logger } from "../log.js";
import type { CallLog } from "../store/callLog.js";

/** The number the contact lookup is about: the caller of an inbound call, the callee of an outbound one. */
export function externalNumber(call: Call): string | null {
  const party = call.direction === "inbound" ? call.from : call.direction === "outbound" ? call.to : null;
  if (!party || party.raw === "" || party.extension) return null;
  return party.raw;
}

/**
 * After the first resync of a (re)started daemon: calls the store still had open but the PBX
 * no longer has ended while we were away. They are closed by the tracker (`closeStored`) with
 * `unknown_end`, never dropped and never left open forever: their users get `call.ended` (a
 * leg that rang and was not answered: `call.missed`, flagged `missedUncertain`), and the store
 * closes them. Each ends at the last moment it was known up: its last stored event (the daemon
 * died some time after it), never later than `at`.
 */
export function closeVanishedCalls(callLog: CallLog, tracker: CallTracker, at: number, log: Logger): number {
  let n = 0;
  for (const { updatedAt, ...call } of callLog.openCalls()) {
    if (tracker.getCall(call.callId) && tracker.getCall(call.callId)!.state !== "ended") continue;
    const last = Math.max(Date.parse(updatedAt), latestTime(call));
    tracker.closeStored(call, last > 0 && last < at ? last : at);
    n++;
    log.warn({ callId: call.callId }, "call ended while the daemon was down");
  }
  return n;
}

export type ReapReason = "not_listed" | "max_age";

export interface ReaperDeps {
  tracker: Pick<CallTracker, "activeCalls" | "unlistedCalls" | "endUnknown" | "getCall">;
  /** Uniqueids of the channels the PBX has now; null when no listing can be had (link down, resync running). */
  listChannels: () => Promise<ReadonlySet<string>> | null;
  intervalMs: number;
  maxAgeMs: number;
  now: () => number;
  log: Logger;
  onReaped: (reason: ReapReason, calls: number) => void;
}

/**
 * Calls whose Hangup never arrived are closed (`unknown_end`): every `intervalMs` the PBX's
 * channel listing (the PBX is the truth) is compared with the active calls, while live events
 * keep flowing (no backlog: pops are not delayed). A call is closed only when none of its
 * channels is listed and no event touched it while the listing ran, so a call that began or
 * changed during the listing is never closed on a listing older than it; a click-to-dial call
 * whose channel has not appeared is closed only after a whole interval. Last resort: a call
 * open `maxAgeMs` (by our clock, from the first tick that saw it) is closed even when listed or
 * when no listing can be had.
 */
export class CallReaper {
  private touched: Set<string> | null = null;
  private readonly firstSeen = new Map<string, number>();
  /** When a listing last named each active call (sent time): the last moment it was known up. */
  private readonly lastListed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ReaperDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A live event is about to reach the tracker: while a listing runs, its ids are spared. */
  noteEvent(ev: PbxEvent): void {
    if (this.touched) addEventIds(ev, this.touched);
  }

  async tick(): Promise<void> {
    this.reap(this.tooOld(), "max_age");
    if (this.touched) return;
    this.touched = new Set();
    const touched = this.touched;
    try {
      const sentAt = this.deps.now();
      const listing = this.deps.listChannels();
      if (!listing) return;
      const listed = await listing;
      const unlisted = this.deps.tracker.unlistedCalls(listed, touched);
      const notNamed = new Set(unlisted.map((c) => c.callId));
      for (const call of this.deps.tracker.activeCalls()) if (!notNamed.has(call.callId)) this.lastListed.set(call.callId, sentAt);
      const gone = unlisted
        // A click-to-dial without its channel yet: only when it existed a whole interval before
        // this listing was sent (its Originate was on the wire long before).
        .filter((c) => !c.awaitingOriginate || sentAt - (this.firstSeen.get(c.callId) ?? sentAt) >= this.deps.intervalMs)
        .map((c) => c.callId);
      this.reap(gone, "not_listed");
    } catch (err) {
      this.deps.log.warn({ reason: (err as Error)?.message ?? String(err) }, "reconcile listing failed");
    } finally {
      this.touched = null;
    }
  }

  private tooOld(): string[] {
    const t = this.deps.now();
    const active = new Set<string>();
    const old: string[] = [];
    for (const call of this.deps.tracker.activeCalls()) {
      active.add(call.callId);
      const seen = this.firstSeen.get(call.callId);
      if (seen === undefined) this.firstSeen.set(call.callId, t);
      else if (t - seen >= this.deps.maxAgeMs) old.push(call.callId);
    }
    for (const id of this.firstSeen.keys()) if (!active.has(id)) this.firstSeen.delete(id);
    for (const id of this.lastListed.keys()) if (!active.has(id)) this.lastListed.delete(id);
    return old;
  }

  /**
   * A call the PBX no longer lists ends at the last moment it was known up: the last listing
   * that named it, or its last event (its latest time), never later than now. A call closed
   * for its age was still listed: it ends now.
   */
  private reap(callIds: string[], reason: ReapReason): void {
    if (callIds.length === 0) return;
    const now = this.deps.now();
    const at = (callId: string): number => {
      if (reason === "max_age") return now;
      const call = this.deps.tracker.getCall(callId);
      const known = Math.max(this.lastListed.get(callId) ?? 0, call ? latestTime(call) : 0);
      return known > 0 && known < now ? known : now;
    };
    const n = this.deps.tracker.endUnknown(callIds, at);
    if (n === 0) return;
    this.deps.onReaped(reason, n);
    this.deps.log.warn({ calls: n, reason, callIds: callIds.slice(0, 10) }, "stuck calls closed");
  }
}

/** The latest moment a call's times or legs name (its last known event), epoch ms; 0 when none. */
export function latestTime(call: Call): number {
  let t = 0;
  const see = (s: string | null | undefined) => {
    const ms = s ? Date.parse(s) : Number.NaN;
    if (ms > t) t = ms;
  };
  see(call.times.started);
  see(call.times.ringing);
  see(call.times.answered);
  for (const l of call.legs) {
    see(l.ringingAt);
    see(l.answeredAt);
    see(l.endedAt);
  }
  return t;
}

/** The first channel an event names (its `ch`, `dest`, `caller` or bare channelId), for log lines. */
export function eventChannelId(ev: PbxEvent): string | undefined {
  const ids = new Set<string>();
  addEventIds(ev, ids);
  return ids.values().next().value;
}

/** Every channel id and linkedid an event names (its ChannelInfo fields, a bare channelId). */
export function addEventIds(ev: PbxEvent, into: Set<string>): void {
  for (const v of Object.values(ev)) {
    if (typeof v !== "object" || v === null) continue;
    const ch = v as { channelId?: unknown; linkedId?: unknown };
    if (typeof ch.channelId === "string") into.add(ch.channelId);
    if (typeof ch.linkedId === "string") into.add(ch.linkedId);
  }
  if ("channelId" in ev && typeof ev.channelId === "string") into.add(ev.channelId);
}

/**
 * Click-to-dial outcomes by ChannelId: `wait` resolves when the PBX's OriginateResponse for
 * that channel is seen (`settle`), or with ok after the timeout (the call itself still ends
 * by its own events).
 */
export class OriginateWaiters {
  private readonly waiting = new Map<string, { resolve: (r: { ok: boolean; reason: string }) => void; timer: NodeJS.Timeout }>();
  /**
   * Outcomes that arrived before anyone waited: Asterisk may send the OriginateResponse in
   * the same read as the action's Response, before the command handler gets to `wait`.
   */
  private readonly early = new Map<string, { ok: boolean; reason: string }>();

  wait(channelId: string, timeoutMs: number): Promise<{ ok: boolean; reason: string }> {
    const known = this.early.get(channelId);
    if (known) {
      this.early.delete(channelId);
      return Promise.resolve(known);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(channelId);
        resolve({ ok: true, reason: "no response" });
      }, timeoutMs);
      timer.unref();
      this.waiting.set(channelId, { resolve, timer });
    });
  }

  settle(channelId: string, ok: boolean, reason: string): void {
    const w = this.waiting.get(channelId);
    if (!w) {
      this.early.set(channelId, { ok, reason });
      // Bounded: responses for originates nobody waits for (another AMI client's) age out.
      if (this.early.size > 1000) this.early.delete(this.early.keys().next().value!);
      return;
    }
    clearTimeout(w.timer);
    this.waiting.delete(channelId);
    w.resolve({ ok, reason });
  }

  /** Stop: everything still waiting resolves as failed. */
  clear(): void {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, reason: "shutting down" });
      this.waiting.delete(id);
    }
  }
}

/**
 * `1796005918.8` (or `host-1796005918.8`): the channel counter of this PBX run (it orders
 * creation even when the clock moved), then the creation second.
 */
function creationKey(uniqueid: string | undefined): [number, number] | null {
  const m = /(\d+)\.(\d+)$/.exec(uniqueid ?? "");
  return m ? [Number(m[2]), Number(m[1])] : null;
}

/**
 * A `CoreShowChannels` listing in the order the channels were created, as live events would
 * have shown them. Asterisk 22 lists its channel container in hash order: after a daemon
 * restart the agent's channel came before the carrier channel that created the call, and the
 * call was rebuilt as "internal, from the agent". Channels without a readable Uniqueid keep
 * their place after the others (stable sort).
 */
export function inCreationOrder<T extends { get(key: string): string | undefined }>(listing: readonly T[]): T[] {
  const keyed = listing.map((ev, i) => ({ ev, i, k: creationKey(ev.get("Uniqueid")) }));
  keyed.sort((a, b) => {
    if (a.k && b.k) return a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.i - b.i;
    if (a.k || b.k) return a.k ? -1 : 1;
    return a.i - b.i;
  });
  return keyed.map((x) => x.ev);
}
