/**
 * Writes keys of a KV bucket, coalesced: at most one write in flight per key, and the newest
 * value noted while one is in flight is the next one written (the ones between are skipped).
 * A value of null purges the key. A failed write is logged and retried (250 ms) unless a newer
 * value is already waiting. The open-call map (openCalls.ts), the running wrap-ups
 * (wrapUpRows.ts) and the queue figures of the day (queueDays.ts) of a PBX worker write through
 * it. A callback given with a value runs once that value (or a newer one) is written.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.js";

export class CoalescedKvWriter<T> {
  /** key → the newest value not yet written, or null for a purge. */
  private readonly dirty = new Map<string, T | null>();
  private readonly writing = new Set<string>();
  /** key → callbacks of the value waiting in `dirty`, and of the value being written. */
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly inFlight = new Map<string, (() => void)[]>();
  private idle: (() => void)[] = [];
  private closed = false;
  failures = 0;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
    /** The log line of a failed write ("open call write failed"). */
    private readonly what: string,
  ) {}

  set(key: string, value: T | null, written?: () => void): void {
    if (this.closed) return;
    this.dirty.set(key, value);
    if (written) this.waiting.set(key, [...(this.waiting.get(key) ?? []), written]);
    if (!this.writing.has(key)) void this.write(key);
  }

  /** Runs `cb` once what was set for `key` so far is written (at once when nothing is pending). */
  whenWritten(key: string, cb: () => void): void {
    if (this.closed) return;
    if (this.dirty.has(key)) this.waiting.set(key, [...(this.waiting.get(key) ?? []), cb]);
    else if (this.writing.has(key)) this.inFlight.get(key)!.push(cb);
    else cb();
  }

  /** Stop writing (the lease is lost: the next active worker owns the keys). */
  close(): void {
    this.closed = true;
    this.dirty.clear();
    this.waiting.clear();
    this.inFlight.clear();
    for (const r of this.idle.splice(0)) r();
  }

  /** Resolves when every value set so far is written. */
  flushed(): Promise<void> {
    if (this.writing.size === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async write(key: string): Promise<void> {
    this.writing.add(key);
    while (this.dirty.has(key) && !this.closed) {
      const value = this.dirty.get(key)!;
      this.dirty.delete(key);
      this.inFlight.set(key, this.waiting.get(key) ?? []);
      this.waiting.delete(key);
      try {
        if (value !== null) await this.kv.put(key, JSON.stringify(value));
        else await this.kv.purge(key);
        if (!this.closed) for (const cb of this.inFlight.get(key) ?? []) cb();
      } catch (err) {
        this.failures++;
        this.log.warn({ err, key }, this.what);
        // The newest value is written later unless a newer one is already waiting; its callbacks wait for it.
        if (!this.dirty.has(key)) this.dirty.set(key, value);
        this.waiting.set(key, [...(this.inFlight.get(key) ?? []), ...(this.waiting.get(key) ?? [])]);
        await new Promise((r) => setTimeout(r, 250));
      }
      this.inFlight.delete(key);
    }
    this.writing.delete(key);
    if (this.writing.size === 0) for (const r of this.idle.splice(0)) r();
  }
}
