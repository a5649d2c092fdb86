/**
 * The archiver: call snapshots into an async CallStore (PostgreSQL), in order, one write at a
 * time. Snapshots of one call waiting together are coalesced (the newest is written); each
 * carries its version (event time, then this archiver's sequence), so the store keeps the newest
 * even if a write is retried after a newer one. A failed write keeps what waits and retries
 * (`retryMs`); past `maxBacklog` calls, snapshots of calls in progress not already waiting are
 * dropped and counted (their next change or their end writes them), an ended call never is.
 */
import type { Call } from "../calls/model.js";
import type { Logger } from "../log.js";
import type { CallStore, SnapshotVersion } from "./index.js";

export interface ArchiverDeps {
  store: CallStore;
  log: Logger;
  now: () => number;
  retryMs?: number;
  maxBacklog?: number;
  onDrop?: () => void;
}

export class StoreArchiver {
  private waiting = new Map<string, { call: Call; version: SnapshotVersion }>();
  private seq = 0;
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failing: number | null = null;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(private readonly d: ArchiverDeps) {}

  /**
   * Queue a snapshot (taken now: the caller may change the call afterwards). `seq` orders
   * snapshots with the same event time: a bus consumer passes the stream sequence; default this
   * archiver's own counter.
   */
  save(call: Call, at: string, seq?: number): void {
    if (this.stopped) return;
    const max = this.d.maxBacklog ?? 10_000;
    if (!this.waiting.has(call.callId) && this.waiting.size >= max && call.state !== "ended") {
      this.d.onDrop?.();
      return;
    }
    // A call already waiting keeps its place (Map order): calls go out in the order first seen.
    this.waiting.set(call.callId, { call: structuredClone(call), version: { at, seq: seq ?? ++this.seq } });
    this.kick();
  }

  get backlog(): number {
    return this.waiting.size;
  }

  get failingSince(): number | null {
    return this.failing;
  }

  private kick(): void {
    if (this.running || this.retryTimer || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.waiting.size > 0 && !this.retryTimer && !this.stopped) this.kick();
      else if (this.waiting.size === 0) for (const r of this.idle.splice(0)) r();
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.size > 0 && !this.stopped) {
      const [callId, item] = this.waiting.entries().next().value as [string, { call: Call; version: SnapshotVersion }];
      this.waiting.delete(callId);
      try {
        await this.d.store.save(item.call, item.version);
        if (this.failing !== null) this.d.log.info({ failingSince: new Date(this.failing).toISOString(), waiting: this.waiting.size }, "call archive writes work again");
        this.failing = null;
      } catch (err) {
        // Put it back unless a newer snapshot of the call arrived meanwhile (it is written instead).
        if (!this.waiting.has(callId)) this.waiting = new Map([[callId, item], ...this.waiting]) as typeof this.waiting;
        if (this.failing === null) {
          this.failing = this.d.now();
          this.d.log.error({ err, calls: this.waiting.size }, "call archive write failed, will retry");
        }
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, this.d.retryMs ?? 1_000);
        this.retryTimer.unref();
        return;
      }
    }
  }

  /** Resolves once nothing waits (or after `timeoutMs`: false). */
  flush(timeoutMs = 5_000): Promise<boolean> {
    if (this.waiting.size === 0 && !this.running) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idle.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Write what waits (bounded), then stop taking snapshots. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.kick();
    }
    await this.flush(timeoutMs);
    this.stopped = true;
    await this.running;
  }
}
