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
import { CoalescedKvWriter } from "./kvWriter.js";

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
  private readonly writer: CoalescedKvWriter<OpenCallRecord>;

  constructor(
    private readonly kv: KV,
    private readonly pbxId: string,
    private readonly log: Logger,
  ) {
    this.writer = new CoalescedKvWriter(kv, log, "open call write failed");
  }

  get failures(): number {
    return this.writer.failures;
  }

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

  /** The call's state after an event (call-level copy). Ended calls are removed. `written`: once every key of it is written. */
  note(call: Call, at: string, written?: () => void): void {
    let left = call.linkedIds.length;
    const one = written && (() => void (--left === 0 && written()));
    for (const linkedId of call.linkedIds) this.writer.set(this.key(linkedId), call.state === "ended" ? null : { linkedId, callId: call.callId, snapshot: call, updatedAt: at }, one);
    if (left === 0) written?.();
  }

  /** Removes a record that is no longer open (a vanished call closed at takeover). */
  forget(linkedId: string): void {
    this.writer.set(this.key(linkedId), null);
  }

  /** Stop writing (the lease is lost: the next active worker owns the map). */
  close(): void {
    this.writer.close();
  }

  /** Resolves when every change noted so far is written. */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }
}
