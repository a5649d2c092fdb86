/**
 * Writes keys of a KV bucket, coalesced: at most one write in flight per key, and the newest
 * value noted while one is in flight is the next one written (the ones between are skipped).
 * A value of null purges the key. A failed write is logged and retried (250 ms) unless a newer
 * value is already waiting. The open-call map (openCalls.ts) and the running wrap-ups
 * (wrapUpRows.ts) of a PBX worker write through it.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.js";

export class CoalescedKvWriter<T> {
  /** key → the newest value not yet written, or null for a purge. */
  private readonly dirty = new Map<string, T | null>();
  private readonly writing = new Set<string>();
  private idle: (() => void)[] = [];
  private closed = false;
  failures = 0;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
    /** The log line of a failed write ("open call write failed"). */
    private readonly what: string,
  ) {}

  set(key: string, value: T | null): void {
    if (this.closed) return;
    this.dirty.set(key, value);
    if (!this.writing.has(key)) void this.write(key);
  }

  /** Stop writing (the lease is lost: the next active worker owns the keys). */
  close(): void {
    this.closed = true;
    this.dirty.clear();
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
      try {
        if (value !== null) await this.kv.put(key, JSON.stringify(value));
        else await this.kv.purge(key);
      } catch (err) {
        this.failures++;
        this.log.warn({ err, key }, this.what);
        // The newest value is written later unless a newer one is already waiting.
        if (!this.dirty.has(key)) this.dirty.set(key, value);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.writing.delete(key);
    if (this.writing.size === 0) for (const r of this.idle.splice(0)) r();
  }
}
