/**
 * Retention on the call log of record when it is not the daemon's SQLite file (PostgreSQL):
 * ended calls older than calls.retentionDays, a bounded batch per statement, hourly. With
 * several gateways each runs it; deleting the same old calls twice deletes them once.
 */
import type { Logger } from "../log.js";
import type { CallStore } from "./index.js";

export interface StoreRetentionDeps {
  store: CallStore;
  retentionDays: () => number;
  now: () => number;
  log: Logger;
  onPruned?: (calls: number) => void;
  batch?: number;
  intervalMs?: number;
  firstDelayMs?: number;
}

export class StoreRetention {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly d: StoreRetentionDeps) {}

  start(): void {
    this.schedule(this.d.firstDelayMs ?? 1_000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One sweep: batches until none is left (or stop); how many calls were deleted. */
  async sweep(): Promise<number> {
    const days = this.d.retentionDays();
    if (days <= 0) return 0;
    const cutoff = new Date(this.d.now() - days * 86_400_000).toISOString();
    let total = 0;
    for (let n = 0; n < 10_000 && !this.stopped; n++) {
      const k = await this.d.store.pruneOldCalls(cutoff, this.d.batch ?? 200);
      total += k;
      if (k > 0) this.d.onPruned?.(k);
      if (k < (this.d.batch ?? 200)) break;
    }
    if (total > 0) this.d.log.info({ calls: total, before: cutoff, store: this.d.store.kind }, "old calls deleted");
    return total;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sweep()
        .catch((err: unknown) => this.d.log.warn({ err }, "retention sweep failed, next one later"))
        .finally(() => this.schedule(this.d.intervalMs ?? 3_600_000));
    }, ms);
    this.timer.unref();
  }
}
