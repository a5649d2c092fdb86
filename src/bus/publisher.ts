/**
 * The PBX worker's side of the bus: `offer()` is synchronous (the tracker never waits on the
 * network), entries go to the stream in the order offered. One publish is in flight at a time
 * (`window` 1, the default): with more, a publish refused while a later one is stored (a stream
 * leader moving) would reorder a PBX's events. When one fails (no ack: NATS down, leader
 * moving) it is sent again with the same message id after a pause, so a message the stream had
 * stored before the ack was lost is dropped as a duplicate, and nothing is lost.
 */
import type { Logger } from "../log.js";
import { subjectOf, type BusEntry, type StreamEvent } from "./entry.js";

export interface PublishSink {
  publish(subject: string, data: string, msgId: string): Promise<{ seq: number; duplicate: boolean }>;
}

export interface PublisherDeps {
  sink: PublishSink;
  pbxId: string;
  log: Logger;
  /** Publishes in flight at once (above 1: faster, but a partial failure may reorder). */
  window?: number;
  /** Entries waiting past this are refused (logged once per overflow); the stream is far behind. */
  maxQueued?: number;
  retryMs?: number;
  /** While false, nothing is sent (the worker's lease is not fresh: a standby may be active). */
  gate?: () => boolean;
  /** Told after each stored entry. */
  onStored?: (seq: number, subject: string) => void;
  now?: () => number;
}

interface Pending {
  subject: string;
  /** Serialized when offered: later changes to the objects never reach the stream. */
  data: string;
  msgId: string;
  /** Run once the stream stored it (never for an entry dropped by stop()). */
  then?: (() => void) | undefined;
  /** Its place among everything offered (1, 2, …). */
  index: number;
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
  /** Entries offered (queued) so far, and the stream sequence of the last one stored. */
  private offered = 0;
  private lastSeq = 0;
  private waiters: { upTo: number; resolve: (seq: number) => void }[] = [];

  constructor(private readonly d: PublisherDeps) {}

  /** A new lease term: message ids restart under it (the term is the lease's KV revision). */
  setTerm(term: number): void {
    this.term = term;
    this.n = 0;
  }

  get backlog(): number {
    return this.queue.length;
  }

  /**
   * Queue one event. Calls and agent states are stamped with the PBX id (the call object is the
   * tracker's snapshot copy of this emission, shared by its user copies: stamping is idempotent).
   * `then` runs once the stream stored it, in order: what must not get ahead of the stream (the
   * open-call map in KV) is written there.
   */
  offer(ev: StreamEvent, then?: () => void): void {
    if (this.stopped) return;
    if (this.queue.length >= (this.d.maxQueued ?? 100_000)) {
      this.dropped++;
      if (!this.overflowWarned) this.d.log.error({ bound: this.d.maxQueued ?? 100_000 }, "bus publish queue full, dropping events");
      this.overflowWarned = true;
      return;
    }
    if (ev.kind === "call") ev.event.call.pbxId = this.d.pbxId;
    else if (ev.kind === "calls") {
      ev.event.call.pbxId = this.d.pbxId;
      for (const u of ev.users) if (u.call) u.call.pbxId = this.d.pbxId;
    }
    else if (ev.kind === "view") ev = { ...ev, call: { ...ev.call, pbxId: this.d.pbxId } };
    else if (ev.kind === "agent") ev = { ...ev, state: { ...ev.state, pbxId: this.d.pbxId } };
    else if (ev.kind === "queue") ev = { ...ev, queue: { ...ev.queue, pbxId: this.d.pbxId } };
    const entry: BusEntry = { pbxId: this.d.pbxId, term: this.term, sentAt: (this.d.now ?? Date.now)(), ev };
    this.queue.push({ subject: subjectOf(entry), data: JSON.stringify(entry), msgId: `${this.d.pbxId}:${this.term}:${++this.n}`, then, index: ++this.offered });
    if (!this.pumping) void this.pump();
  }

  /**
   * The stream sequence under which everything offered until now is stored, once it is (a
   * command's reply carries it: a gateway answers after it has applied the facts the command
   * caused). Resolves with 0 when the publisher stops first, or nothing was ever stored.
   */
  storedSoFar(): Promise<number> {
    const upTo = this.offered;
    const storedUpTo = this.offered - this.queue.length;
    if (storedUpTo >= upTo || this.stopped) return Promise.resolve(this.lastSeq);
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
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
    for (const w of this.waiters.splice(0)) w.resolve(0);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    const window = this.d.window ?? 1;
    while (this.queue.length > 0 && !this.stopped) {
      if (this.d.gate && !this.d.gate()) {
        await new Promise((r) => setTimeout(r, this.d.retryMs ?? 250));
        continue;
      }
      const batch = this.queue.slice(0, window);
      const results = await Promise.allSettled(batch.map((p) => this.d.sink.publish(p.subject, p.data, p.msgId)));
      if (this.stopped) break;
      const firstFailed = results.findIndex((r) => r.status === "rejected");
      const ok = firstFailed === -1 ? batch.length : firstFailed;
      for (let i = 0; i < ok; i++) {
        const r = results[i] as PromiseFulfilledResult<{ seq: number; duplicate: boolean }>;
        this.stored++;
        this.d.onStored?.(r.value.seq, batch[i]!.subject);
        this.lastSeq = r.value.seq;
        batch[i]!.then?.();
        const index = batch[i]!.index;
        if (this.waiters.length > 0) this.waiters = this.waiters.filter((w) => (w.upTo <= index ? (w.resolve(r.value.seq), false) : true));
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
