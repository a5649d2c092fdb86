/**
 * The SQLite CallStore: the standalone call log (callLog.ts, wrapUps.ts, retention.ts) behind
 * the async interface of store/index.ts. Writes are serialised by the one connection, so the
 * snapshot version is not needed to order them.
 */
import type { Annotation, AnnotationEntry, Call } from "../calls/model.js";
import { CallLog, callsInOrder, type CallLogOptions, type CallQuery, type StoredCall } from "./callLog.js";
import type { Db } from "./db.js";
import type { CallStore, SnapshotVersion, WrapUpEndReason, WrapUpRow } from "./index.js";
import { Outbox, type NewOutboxRow } from "./outbox.js";
import { deleteCalls, pruneOldCalls } from "./retention.js";
import { WrapUpStore } from "./wrapUps.js";

export class SqliteCallStore implements CallStore {
  readonly kind = "sqlite" as const;
  readonly callLog: CallLog;
  private readonly wrapUps: WrapUpStore;

  constructor(
    readonly db: Db,
    opts: CallLogOptions = {},
  ) {
    this.callLog = new CallLog(db, opts);
    this.wrapUps = new WrapUpStore(db);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {
    this.db.close();
  }
  async save(call: Call, version: SnapshotVersion, outbox: readonly NewOutboxRow[] = []) {
    if (outbox.length === 0) return this.callLog.save(call, version.at);
    return this.db.transaction(() => {
      const marks = this.callLog.save(call, version.at);
      new Outbox(this.db).add(outbox);
      return marks;
    })();
  }
  async probe(at: string) {
    this.callLog.probe(at);
  }
  async get(callId: string) {
    return this.callLog.get(callId);
  }
  async list(q?: CallQuery) {
    return this.callLog.list(q);
  }
  async *inOrder(q?: { since?: string; until?: string; pageSize?: number }): AsyncIterable<StoredCall> {
    yield* callsInOrder(this.db, q);
  }
  async queueStats(from: string) {
    return this.callLog.queueStats(from);
  }
  async markDone(callId: string, userId: string, at: string) {
    return this.callLog.markDone(callId, userId, at);
  }
  async markOpenDone(callId: string, userIds: readonly string[] | null, at: string) {
    return this.callLog.markOpenDone(callId, userIds, at);
  }
  async annotate(callId: string, entry: AnnotationEntry, merged: Annotation, outbox: readonly NewOutboxRow[] = []) {
    return this.callLog.annotate(callId, entry, merged, outbox.length > 0 ? () => new Outbox(this.db).add(outbox) : undefined);
  }
  async annotations(callId: string) {
    return this.callLog.annotations(callId);
  }
  async openCallIds() {
    return this.callLog.openCallIds();
  }
  async openCallSnapshots() {
    return this.callLog.openCallSnapshots();
  }
  async openCalls() {
    return this.callLog.openCalls();
  }
  async wrapUpStart(r: WrapUpRow) {
    this.wrapUps.start(r);
  }
  async wrapUpExists(callId: string, userId: string) {
    return this.wrapUps.exists(callId, userId);
  }
  async wrapUpSetPaused(callId: string, userId: string, paused: [string, string][]) {
    this.wrapUps.setPaused(callId, userId, paused);
  }
  async wrapUpEnd(callId: string, userId: string, endedAt: string, seconds: number, reason: WrapUpEndReason) {
    this.wrapUps.end(callId, userId, endedAt, seconds, reason);
  }
  async wrapUpsRunning() {
    return this.wrapUps.running();
  }
  async pruneOldCalls(cutoff: string, batch: number) {
    return pruneOldCalls(this.db, cutoff, batch);
  }
  async deleteCalls(callIds: readonly string[]) {
    return deleteCalls(this.db, callIds);
  }
}
