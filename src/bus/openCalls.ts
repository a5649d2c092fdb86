/**
 * The open-call map of a PBX in the KV bucket `cti-calls` (key `<pbxId>.<linkedid>`): what the
 * SQLite `open_calls` table is to a standalone daemon. The active worker writes each running
 * call's latest snapshot (coalesced: at most one write in flight per call, the newest wins) and
 * deletes it when the call ends; a worker that takes over reads them all, so the calls it
 * rebuilds from `CoreShowChannels` keep their callId and times (calls/restore.ts) and the calls
 * that ended meanwhile are closed from their snapshot.
 */
import type { KV } from "@nats-io/kv";
import type { Call } from "../calls/model.js";
import type { Logger } from "../log.js";

export const CALLS_BUCKET = "cti-calls";

/** A KV key token from any id: `[A-Za-z0-9_-]` stay, every other byte becomes `=XX`. */
export function kvToken(id: string): string {
  let out = "";
  for (const b of Buffer.from(id, "utf8")) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).padStart(2, "0")}`;
  }
  return out || "=";
}

export interface OpenCallRecord {
  linkedId: string;
  callId: string;
  snapshot: Call;
  /** ISO time of the last event written (an ended-while-away call ends here at the latest). */
  updatedAt: string;
}

export class KvOpenCalls {
  /** linkedid → the newest record not yet written, or null for a delete. */
  private dirty = new Map<string, OpenCallRecord | null>();
  private writing = new Set<string>();
  private idle: (() => void)[] = [];
  failures = 0;
  private closed = false;

  constructor(
    private readonly kv: KV,
    private readonly pbxId: string,
    private readonly log: Logger,
  ) {}

  private key(linkedId: string): string {
    return `${kvToken(this.pbxId)}.${kvToken(linkedId)}`;
  }

  /** Every open call of this PBX (at takeover). */
  async load(): Promise<OpenCallRecord[]> {
    const out: OpenCallRecord[] = [];
    // Two tokens exactly: the PBX's running wrap-ups (bus/wrapUpRows.ts) have four.
    const keys = await this.kv.keys(`${kvToken(this.pbxId)}.*`);
    for await (const k of keys) {
      const e = await this.kv.get(k);
      if (!e || e.operation !== "PUT") continue;
      try {
        out.push(e.json<OpenCallRecord>());
      } catch (err) {
        this.log.warn({ err, key: k }, "open call record unreadable, skipped");
      }
    }
    return out;
  }

  /** The call's state after an event (call-level copy). Ended calls are removed. */
  note(call: Call, at: string): void {
    for (const linkedId of call.linkedIds) {
      this.dirty.set(linkedId, call.state === "ended" ? null : { linkedId, callId: call.callId, snapshot: call, updatedAt: at });
      if (!this.writing.has(linkedId)) void this.write(linkedId);
    }
  }

  /** Removes a record that is no longer open (a vanished call closed at takeover). */
  forget(linkedId: string): void {
    this.dirty.set(linkedId, null);
    if (!this.writing.has(linkedId)) void this.write(linkedId);
  }

  /** Stop writing (the lease is lost: the next active worker owns the map). */
  close(): void {
    this.closed = true;
    this.dirty.clear();
    for (const r of this.idle.splice(0)) r();
  }

  /** Resolves when every change noted so far is written. */
  flushed(): Promise<void> {
    if (this.writing.size === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async write(linkedId: string): Promise<void> {
    this.writing.add(linkedId);
    while (this.dirty.has(linkedId) && !this.closed) {
      const rec = this.dirty.get(linkedId)!;
      this.dirty.delete(linkedId);
      try {
        if (rec) await this.kv.put(this.key(linkedId), JSON.stringify(rec));
        else await this.kv.purge(this.key(linkedId));
      } catch (err) {
        this.failures++;
        this.log.warn({ err, linkedId }, "open call write failed");
        // The newest state is written later unless a newer one is already waiting.
        if (!this.dirty.has(linkedId)) this.dirty.set(linkedId, rec);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.writing.delete(linkedId);
    if (this.writing.size === 0) for (const r of this.idle.splice(0)) r();
  }
}
