/**
 * The PBX worker's side of the bus: `offer()` is synchronous (the tracker never waits on the
 * network), entries go to the stream in the order offered. Up to `window` publishes are in
 * flight; when one fails (no ack: NATS down, stream leader moving) it and every later one are
 * sent again with the same message ids after a pause, so what the stream had already stored is
 * dropped as a duplicate and nothing is lost.
 */
import type { Logger } from "../log.js";
import type { BusEntry } from "./entry.js";

export interface PublishSink {
  publish(entry: BusEntry, msgId: string): Promise<{ seq: number; duplicate: boolean }>;
}

export interface PublisherDeps {
  sink: PublishSink;
  pbxId: string;
  log: Logger;
  /** Publishes in flight at once. */
  window?: number;
  /** Entries waiting past this are refused (logged once per overflow); the stream is far behind. */
  maxQueued?: number;
  retryMs?: number;
  /** Told after each stored entry (the bench measures from here). */
  onStored?: (seq: number, entry: BusEntry) => void;
}

interface Pending {
  entry: BusEntry;
  msgId: string;
}

export class BusPublisher {
  private queue: Pending[] = [];
  private n = 0;
  private term = 0;
  private pumping = false;
  private stopped = false;
  private overflowWarned = false;
  private idle: (() => void)[] = [];
  dropped = 0;
  stored = 0;

  constructor(private readonly d: PublisherDeps) {}

  /** A new lease term: message ids restart under it (the term is the lease's KV revision). */
  setTerm(term: number): void {
    this.term = term;
    this.n = 0;
  }

  get backlog(): number {
    return this.queue.length;
  }

  offer(entry: Omit<BusEntry, "pbxId">): void {
    if (this.stopped) return;
    if (this.queue.length >= (this.d.maxQueued ?? 100_000)) {
      this.dropped++;
      if (!this.overflowWarned) this.d.log.error({ bound: this.d.maxQueued ?? 100_000 }, "bus publish queue full, dropping events");
      this.overflowWarned = true;
      return;
    }
    const full = { ...entry, pbxId: this.d.pbxId } as BusEntry;
    this.queue.push({ entry: full, msgId: `${this.d.pbxId}:${this.term}:${++this.n}` });
    if (!this.pumping) void this.pump();
  }

  /** Resolves when everything offered so far is stored (or the publisher stopped). */
  flushed(): Promise<void> {
    if (this.queue.length === 0 && !this.pumping) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  stop(): void {
    this.stopped = true;
    this.queue = [];
    for (const r of this.idle.splice(0)) r();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    const window = this.d.window ?? 256;
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.queue.slice(0, window);
      const results = await Promise.allSettled(batch.map((p) => this.d.sink.publish(p.entry, p.msgId)));
      if (this.stopped) break;
      const firstFailed = results.findIndex((r) => r.status === "rejected");
      const ok = firstFailed === -1 ? batch.length : firstFailed;
      for (let i = 0; i < ok; i++) {
        const r = results[i] as PromiseFulfilledResult<{ seq: number; duplicate: boolean }>;
        this.stored++;
        this.d.onStored?.(r.value.seq, batch[i]!.entry);
      }
      this.queue.splice(0, ok);
      if (ok < batch.length) {
        const reason = (results[firstFailed] as PromiseRejectedResult).reason as Error;
        this.d.log.warn({ err: reason, waiting: this.queue.length }, "bus publish failed, retrying");
        await new Promise((r) => setTimeout(r, this.d.retryMs ?? 250));
      } else this.overflowWarned = false;
    }
    this.pumping = false;
    for (const r of this.idle.splice(0)) r();
  }
}
