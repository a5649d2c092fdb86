/**
 * The running wrap-ups of a PBX in the KV bucket `cti-calls`, beside its open calls: what the
 * SQLite `wrap_ups` table is to a standalone daemon across a restart. The key
 * `<pbxId>.wrapup.<callId>.<userId>` has four tokens where an open call's `<pbxId>.<linkedid>`
 * has two (kvToken never emits a dot), so neither listing sees the other's keys. The active
 * worker folds the wrap-up record facts of its engine into rows (start: put, paused: put the
 * row with its paused members, end: purge; coalesced, at most one write in flight per key);
 * a worker that takes over seeds its scratch SQLite with them before its engine starts, so the
 * standalone restore (desk/wrapUp.ts `restore`, `reconcile`) keeps each wrap-up's `until` and
 * undoes the QueuePause the dead worker made, at the end.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.js";
import type { WrapUpRow } from "../store/wrapUps.js";
import type { RecordFact } from "./index.js";
import { CoalescedKvWriter } from "./kvWriter.js";
import { kvToken } from "./openCalls.js";

const TOKEN = "wrapup";

export class KvWrapUps {
  /** key → the row as last noted (a paused fact names only the members). */
  private readonly rows = new Map<string, WrapUpRow>();
  private readonly writer: CoalescedKvWriter<WrapUpRow>;

  constructor(
    private readonly kv: KV,
    private readonly pbxId: string,
    private readonly log: Logger,
  ) {
    this.writer = new CoalescedKvWriter(kv, log, "wrap-up record write failed");
  }

  get failures(): number {
    return this.writer.failures;
  }

  private key(callId: string, userId: string): string {
    return `${kvToken(this.pbxId)}.${TOKEN}.${kvToken(callId)}.${kvToken(userId)}`;
  }

  /** Every running wrap-up of this PBX (at takeover); they are this worker's rows from now on. */
  async load(): Promise<WrapUpRow[]> {
    const out: WrapUpRow[] = [];
    for await (const k of await this.kv.keys(`${kvToken(this.pbxId)}.${TOKEN}.*.*`)) {
      const e = await this.kv.get(k);
      if (!e || e.operation !== "PUT") continue;
      try {
        const row = e.json<WrapUpRow>();
        if (typeof row.callId !== "string" || typeof row.userId !== "string" || typeof row.since !== "string" || !Array.isArray(row.paused)) throw new Error("not a wrap-up row");
        out.push(row);
        this.rows.set(k, row);
      } catch (err) {
        this.log.warn({ err, key: k }, "wrap-up record unreadable, skipped");
      }
    }
    return out;
  }

  /** One record fact of the engine; annotations are not ours. */
  note(r: RecordFact): void {
    if (r.op === "annotate") return;
    const k = r.op === "wrapUpStart" ? this.key(r.row.callId, r.row.userId) : this.key(r.callId, r.userId);
    // The engine's row may be its running record (timer and all): keep the row's fields only.
    if (r.op === "wrapUpStart") this.rows.set(k, { callId: r.row.callId, userId: r.row.userId, since: r.row.since, until: r.row.until, paused: r.row.paused.map(([q, i]) => [q, i] as [string, string]) });
    else if (r.op === "wrapUpPaused") {
      const row = this.rows.get(k);
      if (!row) return; // its start was before this worker's time and not in KV: nothing to update
      this.rows.set(k, { ...row, paused: r.paused.map(([q, i]) => [q, i] as [string, string]) });
    } else this.rows.delete(k);
    this.writer.set(k, this.rows.get(k) ?? null);
  }

  /** Stop writing (the lease is lost: the next active worker owns the rows). */
  close(): void {
    this.writer.close();
  }

  /** Resolves when every fact noted so far is written. */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }
}
