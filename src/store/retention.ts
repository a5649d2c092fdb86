/**
 * Data lifecycle: calls older than `calls.retentionDays` are deleted with their legs and
 * annotations, a bounded batch per tick, off the hot path (a timer, never a pop's turn of the
 * event loop for more than one small transaction). The calls_started index finds them.
 */
import type { Logger } from "../log.js";
import type { Db } from "./db.js";

/** Delete these calls with everything stored about them (legs, annotations, open-call rows, wrap-ups). One transaction. */
export function deleteCalls(db: Db, callIds: readonly string[]): number {
  if (callIds.length === 0) return 0;
  const del = [
    db.prepare("DELETE FROM call_annotations WHERE call_id = ?"),
    db.prepare("DELETE FROM legs WHERE call_id = ?"),
    db.prepare("DELETE FROM open_calls WHERE call_id = ?"),
    db.prepare("DELETE FROM wrap_ups WHERE call_id = ?"),
  ];
  const delCall = db.prepare("DELETE FROM calls WHERE call_id = ?");
  let n = 0;
  db.transaction(() => {
    for (const id of callIds) {
      for (const s of del) s.run(id);
      n += delCall.run(id).changes;
    }
  })();
  return n;
}

/** Delete at most `batch` ended calls started before `cutoff` (ISO time), oldest first; how many were deleted. */
export function pruneOldCalls(db: Db, cutoff: string, batch: number): number {
  const ids = db
    .prepare<[string, number], string>("SELECT call_id FROM calls WHERE started_at < ? AND state = 'ended' ORDER BY started_at LIMIT ?")
    .pluck()
    .all(cutoff, batch);
  return deleteCalls(db, ids);
}

export interface RetentionDeps {
  db: Db;
  /** Read at each sweep (SIGHUP may change it); 0: keep forever. */
  retentionDays: () => number;
  now: () => number;
  log: Logger;
  /** Calls per transaction (default 200). */
  batch?: number;
  /** Between sweeps (default 1 h); the first sweep runs `firstDelayMs` after start (default 1 s). */
  intervalMs?: number;
  firstDelayMs?: number;
  /** Pause between two batches of one sweep, so pops and writes run in between (default 50 ms). */
  pauseMs?: number;
  onPruned?: (calls: number) => void;
}

export class RetentionPruner {
  private timer: NodeJS.Timeout | undefined;
  private sweepTotal = 0;
  private stopped = false;

  constructor(private readonly d: RetentionDeps) {}

  start(): void {
    this.schedule(this.d.firstDelayMs ?? 1_000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One batch now; how many calls it deleted. */
  tick(): number {
    const days = this.d.retentionDays();
    if (days <= 0) return 0;
    const cutoff = new Date(this.d.now() - days * 86_400_000).toISOString();
    const n = pruneOldCalls(this.d.db, cutoff, this.d.batch ?? 200);
    if (n > 0) this.d.onPruned?.(n);
    return n;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    let n = 0;
    try {
      n = this.tick();
    } catch (err) {
      // A busy or failing disk: the next sweep tries again; nothing is lost by waiting.
      this.d.log.warn({ err }, "pruning old calls failed, will retry");
    }
    this.sweepTotal += n;
    if (n > 0 && n >= (this.d.batch ?? 200)) return this.schedule(this.d.pauseMs ?? 50);
    if (this.sweepTotal > 0) this.d.log.info({ calls: this.sweepTotal, retentionDays: this.d.retentionDays() }, "old calls pruned");
    this.sweepTotal = 0;
    this.schedule(this.d.intervalMs ?? 3_600_000);
  }
}
