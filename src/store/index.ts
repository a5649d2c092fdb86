/**
 * The store seam: everything the roles, REST, the CLI, webhooks, wrap-ups, retention and the
 * open-call restore need from the call log, as one interface with two implementations:
 * SQLite (sqlite.ts over callLog.ts, the standalone default) and PostgreSQL (postgres/, the
 * shared call log of a cluster). Methods are async because a network store is; the SQLite one
 * answers synchronously inside a resolved promise.
 *
 * Writes are idempotent upserts keyed by callId: `save` with the same snapshot twice stores it
 * once, and `version` orders snapshots of one call (an older one never overwrites a newer one in
 * a store that can see them out of order, e.g. a redelivered bus message).
 */
import type { Annotation, AnnotationEntry, Call } from "../calls/model.js";
import type { CallQuery, DoneMark, StoredCall } from "./callLog.js";
import type { NewOutboxRow } from "./outbox.js";
import type { WrapUpEndReason, WrapUpRow } from "./wrapUps.js";

export type { CallQuery, DoneMark, StoredCall, StoredLeg } from "./callLog.js";
export type { WrapUpEndReason, WrapUpRow } from "./wrapUps.js";

export type StoreKind = "sqlite" | "postgres";

/** Orders the snapshots of one call: the event time, then a sequence (the bus's, or a writer's counter). */
export interface SnapshotVersion {
  at: string;
  seq: number;
}

export interface QueueStat {
  answered: number;
  abandoned: number;
  avgWaitSeconds: number | null;
}

export interface CallStore {
  readonly kind: StoreKind;
  /** Create or migrate the schema; called once before anything else. */
  open(): Promise<void>;
  close(): Promise<void>;

  // Writing (the archiver / the call-log writer).
  /**
   * Upsert the call, its legs and its open-call entry; returns the missed legs an answered call back
   * closed. `outbox`: webhook rows of the events behind this snapshot, in the same transaction
   * (PostgreSQL keeps each event id once, so a redelivered snapshot adds none).
   */
  save(call: Call, version: SnapshotVersion, outbox?: readonly NewOutboxRow[]): Promise<DoneMark[]>;
  /** A real write, for /healthz. */
  probe(at: string): Promise<void>;

  // Reading (REST history, `ctibridge calls`, the panel's call log, wrap-up fallback).
  get(callId: string): Promise<StoredCall | null>;
  list(q?: CallQuery): Promise<StoredCall[]>;
  /** Calls in start order, a page at a time (export). */
  inOrder(q?: { since?: string; until?: string; pageSize?: number }): AsyncIterable<StoredCall>;
  queueStats(from: string): Promise<Map<string, QueueStat>>;

  // Missed calls done, annotations.
  markDone(callId: string, userId: string, at: string): Promise<boolean>;
  markOpenDone(callId: string, userIds: readonly string[] | null, at: string): Promise<string[]>;
  /** `outbox`: the annotation's webhook rows, in its transaction. */
  annotate(callId: string, entry: AnnotationEntry, merged: Annotation, outbox?: readonly NewOutboxRow[]): Promise<boolean>;
  annotations(callId: string): Promise<AnnotationEntry[]>;

  // Open calls (restore after a restart or a failover).
  openCallIds(): Promise<Map<string, string>>;
  openCallSnapshots(): Promise<Map<string, Call>>;
  openCalls(): Promise<(Call & { updatedAt: string })[]>;

  // Wrap-ups.
  wrapUpStart(r: WrapUpRow): Promise<void>;
  wrapUpExists(callId: string, userId: string): Promise<boolean>;
  wrapUpSetPaused(callId: string, userId: string, paused: [string, string][]): Promise<void>;
  /** `since`: the wrap-up's start; with it an end that arrives before its start (a redelivery) is kept (PostgreSQL). */
  wrapUpEnd(callId: string, userId: string, endedAt: string, seconds: number, reason: WrapUpEndReason, since?: string): Promise<void>;
  wrapUpsRunning(): Promise<WrapUpRow[]>;

  // Retention.
  /** Delete at most `batch` ended calls started before `cutoff`, oldest first, with everything about them; how many. */
  pruneOldCalls(cutoff: string, batch: number): Promise<number>;
  deleteCalls(callIds: readonly string[]): Promise<number>;
}

export { SqliteCallStore } from "./sqlite.js";
