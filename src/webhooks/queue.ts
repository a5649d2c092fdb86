/**
 * One target's open outbox rows in memory, for scheduling (the outbox in SQLite stays the
 * truth; this is rebuilt from it at start and whenever another process changed it). Per call
 * a FIFO of row ids (a call's events go one at a time, in order); a min-heap of the calls'
 * head rows by due time. Taking the due rows, finishing one and rescheduling one are O(log n),
 * whatever the backlog of a target that has been down for hours.
 */
import type { OpenOutboxRow } from "../store/outbox.js";

/** An open outbox row without its target (a queue is one target's). */
export type QueuedRow = Omit<OpenOutboxRow, "target">;

/** a before b in a call's FIFO: by stream position when both have one (else id order, the outbox's). */
function before(a: QueuedRow, b: QueuedRow): boolean {
  if (a.seq === undefined || b.seq === undefined) return a.id < b.id;
  return a.seq < b.seq || (a.seq === b.seq && (a.pos ?? 0) < (b.pos ?? 0));
}

interface Entry {
  at: number;
  id: number;
}

export class TargetQueue {
  private readonly calls = new Map<string, number[]>();
  private readonly rows = new Map<number, QueuedRow>();
  /** Head rows by due time; stale entries (rescheduled, finished, taken) are skipped when met. */
  private readonly heap: Entry[] = [];
  /** Rows taken and not yet finished or rescheduled. */
  private readonly taken = new Set<number>();

  get size(): number {
    return this.rows.size;
  }

  /**
   * A row, placed in its call's FIFO by id (the outbox's order) or by stream position; one
   * already known is ignored. It never goes before a head that is taken (in flight).
   */
  add(row: QueuedRow, inFlight = false): void {
    if (this.rows.has(row.id)) return;
    this.rows.set(row.id, row);
    let fifo = this.calls.get(row.callId);
    if (!fifo) this.calls.set(row.callId, (fifo = []));
    let i = fifo.length;
    while (i > 0 && before(row, this.rows.get(fifo[i - 1]!)!) && !(i === 1 && this.taken.has(fifo[0]!))) i--;
    fifo.splice(i, 0, row.id);
    if (inFlight) this.taken.add(row.id);
    else if (i === 0) this.push({ at: row.nextAt, id: row.id });
  }

  /** Up to `max` head rows due at `now`, earliest first; they count as taken until finished or rescheduled. */
  takeDue(now: number, max: number): QueuedRow[] {
    const out: QueuedRow[] = [];
    while (out.length < max && this.heap.length > 0 && this.heap[0]!.at <= now) {
      const e = this.pop();
      if (!this.valid(e)) continue;
      this.taken.add(e.id);
      out.push(this.rows.get(e.id)!);
    }
    return out;
  }

  /** When the earliest head row not taken is due; null when there is none. */
  nextAt(): number | null {
    while (this.heap.length > 0 && !this.valid(this.heap[0]!)) this.pop();
    return this.heap[0]?.at ?? null;
  }

  /** A row left the open states (delivered, dead): its call's next row becomes the head. */
  finish(id: number): void {
    const row = this.rows.get(id);
    this.taken.delete(id);
    if (!row) return;
    this.rows.delete(id);
    const fifo = this.calls.get(row.callId)!;
    const i = fifo.indexOf(id);
    if (i >= 0) fifo.splice(i, 1);
    if (fifo.length === 0) return void this.calls.delete(row.callId);
    if (i === 0) {
      const head = this.rows.get(fifo[0]!)!;
      if (!this.taken.has(head.id)) this.push({ at: head.nextAt, id: head.id });
    }
  }

  /** A taken row failed and is tried again at `at`. */
  reschedule(id: number, at: number, attempts: number): void {
    const row = this.rows.get(id);
    this.taken.delete(id);
    if (!row) return;
    row.nextAt = at;
    row.attempts = attempts;
    if (this.calls.get(row.callId)![0] === id) this.push({ at, id });
  }

  /** A taken row goes back as it was (its payload could not be read; stop). */
  release(id: number): void {
    const row = this.rows.get(id);
    if (row) this.reschedule(id, row.nextAt, row.attempts);
  }

  private valid(e: Entry): boolean {
    const row = this.rows.get(e.id);
    return row !== undefined && row.nextAt === e.at && !this.taken.has(e.id) && this.calls.get(row.callId)![0] === e.id;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
