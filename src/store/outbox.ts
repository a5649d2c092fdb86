/**
 * The webhook outbox (docs/webhooks.md): one row per (event, target), written in the same
 * transaction as the call-log change that caused it, delivered by webhooks/deliver.ts. The one
 * place that maps outbox rows. States: `pending` (not tried yet), `failed` (an attempt failed,
 * another is scheduled), `delivered`, `dead` (out of attempts or time; `webhooks retry` revives it).
 * Two implementations of `WebhookOutbox`: `Outbox` here (SQLite, standalone) and `PgOutbox`
 * (postgres/outbox.ts, a cluster's, written by the stream archiver).
 */
import type { Db } from "./db.js";

export type OutboxState = "pending" | "failed" | "delivered" | "dead";
export const OUTBOX_STATES: readonly OutboxState[] = ["pending", "failed", "delivered", "dead"];

export interface NewOutboxRow {
  eventId: string;
  target: string;
  type: string;
  callId: string;
  /** The JSON body, byte for byte what every attempt POSTs. */
  payload: string;
  /** ISO time the event happened (and the first attempt may start). */
  at: string;
  /** A cluster's row: the stream position of its cause (message sequence, then the row's place in it); orders a call's rows. */
  seq?: number;
  pos?: number;
}

export interface OutboxRow {
  id: number;
  eventId: string;
  target: string;
  type: string;
  callId: string;
  payload: string;
  state: OutboxState;
  attempts: number;
  nextAt: string;
  createdAt: string;
  retrySince: string;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
}

const OPEN = "('pending', 'failed')";

/** An open row as the deliverer schedules it (times in epoch ms; id and type are read with the body). */
export interface OpenOutboxRow {
  id: number;
  target: string;
  callId: string;
  attempts: number;
  nextAt: number;
  createdAt: number;
  retrySince: number;
  /** Stream position (a cluster's rows): a call's rows go in this order, not in id order. */
  seq?: number;
  pos?: number;
}

type Awaitable<T> = T | Promise<T>;

/** What the deliverer (webhooks/deliver.ts) needs from an outbox; SQLite answers at once, PostgreSQL in a promise. */
export interface WebhookOutbox {
  /** Open rows (pending, failed) with ids past `afterId`, in id order, without their payload. */
  open(afterId: number): Awaitable<OpenOutboxRow[]>;
  /** What one attempt sends; null when the row is gone (purged meanwhile). */
  payload(id: number): Awaitable<{ body: string; eventId: string; type: string } | null>;
  /** Moves when another process changed rows (`webhooks retry`, `purge`): the deliverer then reads every open row again. */
  dataVersion(): Awaitable<number>;
  delivered(id: number, at: string, status: number): Awaitable<void>;
  failed(id: number, at: string, nextAt: string, status: number | null, error: string): Awaitable<void>;
  dead(id: number, at: string, status: number | null, error: string): Awaitable<void>;
  counts(): Awaitable<Record<OutboxState, number>>;
  /** Insert rows inside the caller's (synchronous) transaction: SQLite only; a cluster's rows are written by the archiver. */
  add?(rows: readonly NewOutboxRow[]): void;
}

/** What `ctibridge webhooks list|retry|purge` needs (both stores). */
export interface OutboxAdmin {
  list(q?: { state?: OutboxState; target?: string; limit?: number }): Awaitable<OutboxRow[]>;
  counts(): Awaitable<Record<OutboxState, number>>;
  retry(now: string, which: { ids: number[] } | { dead: true }): Awaitable<number>;
  purge(states: readonly OutboxState[], before: string, limit?: number, target?: string): Awaitable<number>;
}

/** Maps a stored row (SQLite or PostgreSQL: the same columns). */
export function toRow(r: Record<string, unknown>): OutboxRow {
  return {
    id: Number(r.id),
    eventId: r.event_id as string,
    target: r.target as string,
    type: r.kind as string,
    callId: r.call_id as string,
    payload: r.payload as string,
    state: r.state as OutboxState,
    attempts: r.attempts as number,
    nextAt: r.next_at as string,
    createdAt: r.created_at as string,
    retrySince: r.retry_since as string,
    lastAttemptAt: r.last_attempt_at as string | null,
    lastStatus: r.last_status as number | null,
    lastError: r.last_error as string | null,
    deliveredAt: r.delivered_at as string | null,
  };
}

export class Outbox implements WebhookOutbox, OutboxAdmin {
  private readonly insertRow;
  private readonly openRows;
  private readonly countRows;
  private readonly payloadOf;
  private readonly setDelivered;
  private readonly setFailed;
  private readonly setDead;

  constructor(private readonly db: Db) {
    this.insertRow = db.prepare(
      "INSERT INTO outbox (event_id, target, kind, call_id, payload, state, attempts, next_at, created_at, retry_since) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
    );
    this.openRows = db.prepare(`SELECT id, target, call_id, attempts, next_at, created_at, retry_since FROM outbox WHERE id > ? AND state IN ${OPEN} ORDER BY id`);
    this.payloadOf = db.prepare("SELECT payload, event_id, kind FROM outbox WHERE id = ?");
    this.countRows = db.prepare("SELECT state, count(*) AS n FROM outbox WHERE target IS NOT NULL GROUP BY state");
    this.setDelivered = db.prepare("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_attempt_at = ?, last_status = ?, last_error = NULL WHERE id = ?");
    this.setFailed = db.prepare("UPDATE outbox SET state = 'failed', attempts = attempts + 1, next_at = ?, last_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?");
    this.setDead = db.prepare("UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?");
  }

  /** Insert rows; call inside the transaction that writes their cause. */
  add(rows: readonly NewOutboxRow[]): void {
    for (const r of rows) this.insertRow.run(r.eventId, r.target, r.type, r.callId, r.payload, r.at, r.at, r.at);
  }

  /** Open rows (pending, failed) after `afterId`, in id order, without their payload: what the deliverer schedules. */
  open(afterId: number): OpenOutboxRow[] {
    return (this.openRows.all(afterId) as Record<string, unknown>[]).map(openRowOf);
  }

  /** What one attempt sends: the body, the event id and type; null when the row is gone (purged meanwhile). */
  payload(id: number): { body: string; eventId: string; type: string } | null {
    const r = this.payloadOf.get(id) as { payload: string; event_id: string; kind: string } | undefined;
    return r ? { body: r.payload, eventId: r.event_id, type: r.kind } : null;
  }

  /** SQLite's data_version: changes when another connection (the CLI) committed to the database. */
  dataVersion(): number {
    return this.db.pragma("data_version", { simple: true }) as number;
  }

  delivered(id: number, at: string, status: number): void {
    this.setDelivered.run(at, at, status, id);
  }

  failed(id: number, at: string, nextAt: string, status: number | null, error: string): void {
    this.setFailed.run(nextAt, at, status, error, id);
  }

  dead(id: number, at: string, status: number | null, error: string): void {
    this.setDead.run(at, status, error, id);
  }

  get(id: number): OutboxRow | null {
    const r = this.db.prepare("SELECT * FROM outbox WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return r ? toRow(r) : null;
  }

  /** Rows, newest first (`webhooks list`). */
  list(q: { state?: OutboxState; target?: string; limit?: number } = {}): OutboxRow[] {
    const where = ["target IS NOT NULL"];
    const args: unknown[] = [];
    if (q.state) where.push("state = ?") && args.push(q.state);
    if (q.target) where.push("target = ?") && args.push(q.target);
    args.push(Math.min(Math.max(q.limit ?? 100, 1), 100_000));
    return (this.db.prepare(`SELECT * FROM outbox WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`).all(...args) as Record<string, unknown>[]).map(toRow);
  }

  /** Rows per state, for metrics and `webhooks list`. */
  counts(): Record<OutboxState, number> {
    const out: Record<OutboxState, number> = { pending: 0, failed: 0, delivered: 0, dead: 0 };
    const rows = this.countRows.all() as { state: OutboxState; n: number }[];
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /**
   * Send again from now: attempts start over and the retry period counts from `now`.
   * `ids` (failed or dead rows), or every dead row; how many were revived.
   */
  retry(now: string, which: { ids: number[] } | { dead: true }): number {
    const set = "SET state = 'pending', attempts = 0, next_at = ?, retry_since = ?";
    if ("dead" in which) return this.db.prepare(`UPDATE outbox ${set} WHERE state = 'dead'`).run(now, now).changes;
    const stmt = this.db.prepare(`UPDATE outbox ${set} WHERE id = ? AND state IN ('failed', 'dead')`);
    let n = 0;
    this.db.transaction(() => {
      for (const id of which.ids) n += stmt.run(now, now, id).changes;
    })();
    return n;
  }

  /**
   * Delete rows in `states` whose last attempt (or creation) was before `before`, at most
   * `limit`, only of `target` when given; how many.
   */
  purge(states: readonly OutboxState[], before: string, limit = 1_000_000, target?: string): number {
    if (states.length === 0) return 0;
    const marks = states.map(() => "?").join(", ");
    const only = target === undefined ? "" : " AND target = ?";
    const args = [...states, before, ...(target === undefined ? [] : [target]), limit];
    return this.db
      .prepare(`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN (${marks}) AND coalesce(delivered_at, last_attempt_at, created_at) < ?${only} LIMIT ?)`)
      .run(...args).changes;
  }
}

/** An open outbox row as the deliverer schedules it, from a row of either store (SQLite, PostgreSQL). */
export function openRowOf(r: Record<string, unknown>): OpenOutboxRow {
  return {
    id: Number(r.id),
    target: r.target as string,
    callId: r.call_id as string,
    attempts: r.attempts as number,
    nextAt: Date.parse(r.next_at as string),
    createdAt: Date.parse(r.created_at as string),
    retrySince: Date.parse(r.retry_since as string),
  };
}
