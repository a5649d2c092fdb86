/**
 * The bounded in-memory journal behind `resume { afterSeq }`. Every message that takes a seq is
 * journaled. Standalone, the seqs are contiguous; a cluster gateway journals under the stream's
 * sequence (`assign`), which skips what the gateway does not journal, and journals the copies of
 * one fact (one stream message) under one seq (a client receives one of them at most; a resume
 * after that seq skips them all). Either way a resume is
 * answerable when nothing after `afterSeq` was evicted (`evictedThrough`); otherwise the caller answers
 * `resync_required` with a fresh snapshot.
 */
import type { RingStopReason } from "../calls/model.js";
import type { AgentState, CallMessageType, CallSnapshot } from "./protocol.js";

interface Base {
  seq: number;
  /** ISO-8601 of the fact (the AMI time for call events). */
  ts: string;
}

export type JournalEntry =
  | (Base & {
      kind: "call";
      type: CallMessageType;
      /** The user the domain event was for; null for the call-level (supervisor) copy. */
      userId: string | null;
      callId: string;
      queue: string | null;
      /** Epoch ms of the domain event (shared by every message decoded from one AMI read). */
      at: number;
      /** One domain emission: the user copies and the call-level copy of one fact share it. */
      fact?: number;
      /** Every leg; narrowed per recipient when sent. */
      snapshot: CallSnapshot;
      reason?: RingStopReason;
    })
  | (Base & { kind: "agent"; userId: string; state: AgentState })
  /** A missed leg of `userId` closed (`call.done`): to her tabs and the supervisors who see her or the queue. */
  | (Base & { kind: "done"; userId: string; callId: string; queue: string | null; doneAt: string; by: string; reason: "marked" | "called_back" })
  | (Base & { kind: "pbx"; type: "pbx.disconnected" | "pbx.resynced" | "pbx.failover"; reason: string | null; calls: number | null; pbxId?: string });

export class Journal {
  private readonly buf: (JournalEntry | undefined)[];
  private start = 0;
  private count = 0;
  /** The latest seq handed out (journaled or, with size 0, forgotten at once). */
  lastSeq: number;
  /** The first seq of this process: an afterSeq below it comes from before a daemon restart. */
  readonly firstSeq: number;
  /** The seq of the newest evicted entry (or firstSeq - 1): a resume from below it has lost entries. */
  private evictedThrough: number;

  /**
   * `baseSeq`: where numbering starts. The server starts from the clock (ms × 1000) so that a
   * client's afterSeq from before a daemon restart is older than anything journaled now.
   */
  constructor(readonly size: number, baseSeq = 0) {
    this.buf = new Array<JournalEntry | undefined>(size);
    this.lastSeq = baseSeq;
    this.firstSeq = baseSeq + 1;
    this.evictedThrough = baseSeq;
  }

  /** The next entry takes `seq` (a cluster gateway: the stream sequence; never below lastSeq + 1). */
  assign(seq: number): number {
    if (seq <= this.lastSeq) throw new Error(`journal seq ${seq} not after ${this.lastSeq}`);
    this.lastSeq = seq;
    return seq;
  }

  /** Everything since this process started, when nothing of it was evicted (else null). */
  sinceStart(untilSeq: number): JournalEntry[] | null {
    return this.range(this.firstSeq - 1, untilSeq);
  }

  nextSeq(): number {
    return ++this.lastSeq;
  }

  push(entry: JournalEntry): void {
    if (this.size === 0) return void (this.evictedThrough = entry.seq);
    if (this.count < this.size) {
      this.buf[(this.start + this.count) % this.size] = entry;
      this.count++;
    } else {
      this.evictedThrough = this.buf[this.start]!.seq;
      this.buf[this.start] = entry;
      this.start = (this.start + 1) % this.size;
    }
  }

  oldestSeq(): number | null {
    return this.count === 0 ? null : this.buf[this.start]!.seq;
  }

  /** Entries with afterSeq < seq <= untilSeq in order, or null when some of them were evicted. */
  range(afterSeq: number, untilSeq: number): JournalEntry[] | null {
    if (afterSeq >= untilSeq) return [];
    if (this.count === 0 || afterSeq < this.evictedThrough) return null;
    // The first entry after afterSeq (seqs increase; with gaps, so search).
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.buf[(this.start + mid) % this.size]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    const out: JournalEntry[] = [];
    for (let i = lo; i < this.count; i++) {
      const e = this.buf[(this.start + i) % this.size]!;
      if (e.seq > untilSeq) break;
      out.push(e);
    }
    return out;
  }
}
