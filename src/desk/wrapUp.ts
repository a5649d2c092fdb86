/**
 * After-call work (wrap-up, issue 11): after an answered call of an agent ends, she is in
 * `wrap_up` for the queue's wrap-up time, a fixed time, or until she is ready
 * (`agents.wrapUp.mode`); a disposition on the call or `agent.ready` ends it early. With
 * `pauseInQueue`, her queue members are paused with reason `wrap-up` for it (QueuePause), and
 * at its end only the members ctibridge paused and that are still paused for `wrap-up` are
 * unpaused: an agent who paused herself meanwhile stays paused.
 *
 * Every wrap-up is a row (store/wrapUps.ts) while it runs, so a restart neither forgets it nor
 * leaves the agent paused: running rows come back at start (timers armed again), and after
 * each agent listing `reconcile` ends those past their time and unpauses members paused for
 * `wrap-up` that no running wrap-up owns (the reason is ctibridge's own).
 */
import type { Call, WrapUpState } from "../calls/model.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { WrapUpEndReason, WrapUpRow, WrapUpStore } from "../store/wrapUps.js";

import { WRAP_UP_PAUSE_REASON } from "../calls/agents.js";

/** The QueuePause reason ctibridge uses, and recognises as its own. */
export const WRAP_UP_REASON = WRAP_UP_PAUSE_REASON;

export interface WrapUpEnded {
  callId: string;
  userId: string;
  since: string;
  endedAt: string;
  seconds: number;
  reason: WrapUpEndReason;
}

export interface WrapUpDeps {
  config: () => Config["agents"]["wrapUp"];
  store: WrapUpStore;
  agents: {
    membersOf(userId: string): { queue: string; iface: string; paused: boolean; reason: string | null }[];
    memberWrapUpSeconds(userId: string, queue: string): number;
    pausedFor(reason: string): { queue: string; iface: string; userId: string | null }[];
    /** The user's state changed outside the PBX's events: publish it. */
    changed(userId: string): void;
  };
  /** QueuePause on the PBX; resolves true when it answered Success. */
  queuePause(iface: string, queue: string, paused: boolean): Promise<boolean>;
  now: () => number;
  log: Logger;
  /** A wrap-up ended: its seconds go into the call record (the daemon publishes the call). */
  onEnded(e: WrapUpEnded): void;
}

interface Running extends WrapUpRow {
  /** Epoch ms it ends by itself (mode until-ready: since + maxSeconds). */
  deadline: number;
  timer: ReturnType<typeof setTimeout> | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** How many (call, agent) pairs are remembered as started, so a call's end does not start a second one. */
const STARTED_KEPT = 10_000;

export class WrapUps {
  private readonly running = new Map<string, Running>();
  private readonly started = new Set<string>();
  private stopped = false;

  constructor(private readonly d: WrapUpDeps) {}

  /** The user's running wrap-up, as agent.state shows it. */
  stateOf(userId: string): WrapUpState | null {
    const r = this.running.get(userId);
    return r ? { callId: r.callId, since: r.since, until: r.until } : null;
  }

  /** Take back the wrap-ups that were running when the daemon stopped (timers armed again). */
  restore(): void {
    for (const row of this.d.store.running()) {
      const cfg = this.d.config();
      const since = Date.parse(row.since);
      const deadline = row.until !== null ? Date.parse(row.until) : since + cfg.maxSeconds * 1000;
      const r: Running = { ...row, deadline, timer: null };
      this.running.set(row.userId, r);
      this.started.add(`${row.callId}\u0000${row.userId}`);
      // Past its time already: reconcile ends it once the PBX's members are known.
      if (deadline > this.d.now()) this.arm(r);
      this.d.agents.changed(row.userId);
    }
  }

  /**
   * This user's part of a call ended: her answered leg hung up (the caller may still be on the
   * line), or the call ended (`callEnded`). A wrap-up starts, once per call and agent, when she
   * answered it (or picked it up), the call qualifies (`calls`) and its length is above 0.
   * Called from inside the tracker's emission: never throws (a failing store is logged).
   */
  partEnded(userId: string, call: Call, at: number): void {
    try {
      this.begin(userId, call, at);
    } catch (err) {
      this.d.log.error({ err, userId, callId: call.callId }, "wrap-up start failed");
    }
  }

  private begin(userId: string, call: Call, at: number): void {
    if (this.stopped) return;
    const cfg = this.d.config();
    const answered = call.legs.some(
      (l) => l.userId === userId && (l.outcome === "answered_by_me" || l.outcome === "picked_up" || (l.outcome === null && l.state === "ended" && l.answeredAt !== null)),
    );
    if (!answered) return;
    if (cfg.calls === "queue" && call.queue === null) return;
    const key = `${call.callId}\u0000${userId}`;
    if (this.started.has(key)) return;
    if (this.started.size >= STARTED_KEPT) this.started.clear();
    this.started.add(key);
    // A call rebuilt after a restart ends again: her wrap-up of it may be over already.
    if (this.d.store.exists(call.callId, userId)) return;
    const current = this.running.get(userId);
    const seconds = this.lengthOf(userId, call.queue);
    if (seconds === 0) return;
    if (current) this.end(userId, "superseded", at);
    const until = seconds === null ? null : at + seconds * 1000;
    const r: Running = { callId: call.callId, userId, since: iso(at), until: until === null ? null : iso(until), paused: [], deadline: until ?? at + cfg.maxSeconds * 1000, timer: null };
    this.running.set(userId, r);
    try {
      this.d.store.start(r);
    } catch (err) {
      this.d.log.error({ err, userId, callId: call.callId }, "wrap-up not stored");
    }
    this.arm(r);
    this.d.log.info({ userId, callId: call.callId, until: r.until }, "wrap-up started");
    this.d.agents.changed(userId);
    if (cfg.pauseInQueue) void this.pause(r);
  }

  /** `agent.ready`: end the user's wrap-up now; null when she is not in one. */
  ready(userId: string): WrapUpEnded | null {
    return this.running.has(userId) ? this.end(userId, "ready", this.d.now()) : null;
  }

  /** A disposition was set on a call: ends the annotating agent's wrap-up of that call. */
  disposition(userId: string, callId: string): WrapUpEnded | null {
    const r = this.running.get(userId);
    if (!r || r.callId !== callId || !this.d.config().endOnDisposition) return null;
    return this.end(userId, "disposition", this.d.now());
  }

  /**
   * After each agent listing: wrap-ups past their time end (at their deadline), and members
   * paused for `wrap-up` that no running wrap-up paused are unpaused (a crash between the
   * QueuePause and its row, an unpause lost while the link was down).
   */
  reconcile(): void {
    const now = this.d.now();
    // What the wrap-ups paused, the ending ones included (their end unpauses it, once).
    const ours = new Set<string>();
    for (const r of this.running.values()) for (const [q, i] of r.paused) ours.add(`${q}\u0000${i}`);
    for (const r of [...this.running.values()]) if (r.deadline <= now) this.end(r.userId, "timeout", r.deadline);
    for (const m of this.d.agents.pausedFor(WRAP_UP_REASON)) {
      if (ours.has(`${m.queue}\u0000${m.iface}`)) continue;
      if (m.userId !== null && this.running.has(m.userId)) continue;
      this.d.log.info({ userId: m.userId, queue: m.queue, interface: m.iface }, "unpausing a member left paused for wrap-up");
      void this.d.queuePause(m.iface, m.queue, false).catch(() => false);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.running.values()) if (r.timer) clearTimeout(r.timer);
  }

  /** Seconds by mode; null: until ready. */
  private lengthOf(userId: string, queue: string | null): number | null {
    const cfg = this.d.config();
    if (cfg.mode === "until-ready") return null;
    if (cfg.mode === "seconds" || queue === null) return Math.min(cfg.seconds, cfg.maxSeconds);
    const own = this.d.agents.memberWrapUpSeconds(userId, queue);
    return Math.min(own > 0 ? own : (cfg.queues[queue] ?? cfg.seconds), cfg.maxSeconds);
  }

  private arm(r: Running): void {
    if (this.stopped) return;
    const wait = Math.max(0, r.deadline - this.d.now());
    r.timer = setTimeout(() => {
      r.timer = null;
      if (this.running.get(r.userId) === r) this.end(r.userId, "timeout", r.deadline);
    }, wait);
    r.timer.unref?.();
  }

  private end(userId: string, reason: WrapUpEndReason, at: number): WrapUpEnded | null {
    const r = this.running.get(userId);
    if (!r) return null;
    this.running.delete(userId);
    if (r.timer) clearTimeout(r.timer);
    const seconds = Math.max(0, Math.round((at - Date.parse(r.since)) / 100) / 10);
    const e: WrapUpEnded = { callId: r.callId, userId, since: r.since, endedAt: iso(at), seconds, reason };
    try {
      this.d.store.end(r.callId, userId, e.endedAt, seconds, reason);
    } catch (err) {
      this.d.log.error({ err, userId, callId: r.callId }, "wrap-up end not stored");
    }
    this.d.log.info({ userId, callId: r.callId, seconds, reason }, "wrap-up ended");
    if (r.paused.length > 0) void this.unpause(r);
    this.d.agents.changed(userId);
    // Not inside the tracker's emission (a wrap-up superseded by the next call's end): its
    // call.updated goes out after the fact being published now.
    queueMicrotask(() => {
      try {
        this.d.onEnded(e);
      } catch (err) {
        this.d.log.error({ err, userId, callId: r.callId }, "wrap-up end publish failed");
      }
    });
    return e;
  }

  /** Pause each member of the user that is not paused already (never touch her own pauses). */
  private async pause(r: Running): Promise<void> {
    for (const m of this.d.agents.membersOf(r.userId)) {
      if (m.paused) continue;
      const ok = await this.d.queuePause(m.iface, m.queue, true).catch(() => false);
      if (!ok) {
        this.d.log.warn({ userId: r.userId, queue: m.queue, interface: m.iface }, "wrap-up pause failed");
        continue;
      }
      r.paused.push([m.queue, m.iface]);
      if (this.running.get(r.userId) !== r) {
        // Ended while the pause was on its way: undo it at once.
        await this.d.queuePause(m.iface, m.queue, false).catch(() => false);
        r.paused.pop();
        continue;
      }
      try {
        this.d.store.setPaused(r.callId, r.userId, r.paused);
      } catch (err) {
        this.d.log.error({ err, userId: r.userId }, "wrap-up pause not stored");
      }
    }
  }

  /** Unpause what this wrap-up paused, unless the member is now paused for another reason (hers). */
  private async unpause(r: Running): Promise<void> {
    const members = this.d.agents.membersOf(r.userId);
    for (const [queue, iface] of r.paused) {
      // Paused for another reason: she paused herself meanwhile. Not known paused (the
      // QueueMemberPause may not have arrived, or is filtered): unpausing is harmless.
      const m = members.find((x) => x.queue === queue && x.iface === iface);
      if (m?.paused && m.reason !== WRAP_UP_REASON) continue;
      const ok = await this.d.queuePause(iface, queue, false).catch(() => false);
      if (!ok) this.d.log.warn({ userId: r.userId, queue, interface: iface }, "wrap-up unpause failed, retried after the next agent listing");
    }
  }
}
