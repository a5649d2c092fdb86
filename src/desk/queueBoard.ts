/**
 * The supervisor board's queue figures (`GET /api/queues`, the `queue.state` frame): members
 * from the agent tracker, waiting callers from the live calls, answered / abandoned today and
 * the mean wait from the stored calls (today: since midnight in `agents.timezone`; a cluster
 * worker's from its figures in KV, bus/queueDays.ts). Changes
 * are coalesced: at most one `queue.state` per queue per `agents.queueStateIntervalMs`.
 */
import type { QueueMemberView } from "../calls/agents.js";
import type { Call } from "../calls/model.js";
import type { QueueInfo } from "../publish/protocol.js";

export interface QueueBoardDeps {
  queueView(): { queue: string; members: QueueMemberView[] }[];
  activeCalls(): Call[];
  queueStats(fromIso: string): Map<string, { answered: number; abandoned: number; avgWaitSeconds: number | null }>;
  timezone: string;
  intervalMs: number;
  now: () => number;
  publish(q: QueueInfo): void;
  /** Whether anyone would receive this queue's frame (no supervisor watching: nothing is built). */
  wanted?(queue: string): boolean;
}

/** The UTC offset (ms) of a time zone at an instant. */
function offsetAt(ms: number, tz: string): number {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" }).formatToParts(ms);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second")) - Math.floor(ms / 1000) * 1000;
}

/** The instant local midnight began today in `tz` (DST-safe: the offset is taken at midnight itself). */
export function startOfDay(ms: number, tz: string): number {
  const local = ms + offsetAt(ms, tz);
  const midnightLocal = Math.floor(local / 86_400_000) * 86_400_000;
  let guess = midnightLocal - offsetAt(ms, tz);
  guess = midnightLocal - offsetAt(guess, tz);
  return guess;
}

export class QueueBoard {
  private readonly pending = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastFlush = -Infinity;
  private stopped = false;

  constructor(private readonly d: QueueBoardDeps) {}

  /** Every queue: the PBX's listed queues and any queue a live or today's call went through. */
  all(): { timezone: string; todayFrom: string; queues: QueueInfo[] } {
    const now = this.d.now();
    const from = new Date(startOfDay(now, this.d.timezone)).toISOString();
    const stats = this.d.queueStats(from);
    const view = new Map(this.d.queueView().map((q) => [q.queue, q.members]));
    const calls = this.d.activeCalls();
    const names = new Set([...view.keys(), ...stats.keys(), ...calls.flatMap((c) => (c.queue === null ? [] : [c.queue]))]);
    const queues = [...names].sort().map((name) => this.build(name, view.get(name) ?? [], calls, stats, now));
    return { timezone: this.d.timezone, todayFrom: from, queues };
  }

  /** One queue's figures now. */
  one(queue: string): QueueInfo {
    const now = this.d.now();
    const stats = this.d.queueStats(new Date(startOfDay(now, this.d.timezone)).toISOString());
    const members = this.d.queueView().find((q) => q.queue === queue)?.members ?? [];
    return this.build(queue, members, this.d.activeCalls(), stats, now);
  }

  /** Something about this queue changed: a `queue.state` goes out, at most once per interval. */
  touch(queue: string): void {
    if (this.stopped) return;
    this.pending.add(queue);
    if (this.timer !== null) return;
    const wait = Math.max(0, this.lastFlush + this.d.intervalMs - this.d.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = this.d.now();
    const queues = [...this.pending];
    this.pending.clear();
    for (const q of queues) if (this.d.wanted?.(q) ?? true) this.d.publish(this.one(q));
  }

  private build(queue: string, members: QueueMemberView[], calls: Call[], stats: ReturnType<QueueBoardDeps["queueStats"]>, now: number): QueueInfo {
    const waiting = calls
      .filter((c) => c.queue === queue && c.state !== "ended" && c.times.answered === null)
      .map((c) => ({ callId: c.callId, from: c.from, since: c.times.started, waitSeconds: Math.max(0, Math.round((now - Date.parse(c.times.started)) / 1000)) }))
      .sort((a, b) => b.waitSeconds - a.waitSeconds);
    return {
      queue,
      members,
      waiting: waiting.length,
      longestWaitSeconds: waiting[0]?.waitSeconds ?? null,
      callers: waiting,
      today: stats.get(queue) ?? { answered: 0, abandoned: 0, avgWaitSeconds: null },
    };
  }
}
