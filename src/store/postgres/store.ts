/**
 * The PostgreSQL CallStore: the shared call log of a cluster (and a standalone option). Every
 * write is an idempotent upsert keyed by callId, guarded by the snapshot version (event time,
 * then sequence): a redelivered or late snapshot older than the stored one changes nothing, one
 * equal to it writes the same row again. Reads are the SQLite queries (callLog.ts) in
 * PostgreSQL's dialect, mapped by the same rowToCall, so both stores give the same calls.
 */
import pg from "pg";
import type { Annotation, AnnotationEntry, AnnotationPatch, Call } from "../../calls/model.js";
import { mergeAnnotation } from "../../control/annotations.js";
import { callRow, legRow, openSnapshotsByLinkedId, rowToCall, type CallQuery, type DoneMark, type StoredCall } from "../callLog.js";
import type { CallStore, QueueStat, SnapshotVersion, WrapUpEndReason, WrapUpRow } from "../index.js";
import type { NewOutboxRow } from "../outbox.js";
import { insertOutboxRows } from "./outbox.js";
import { PG_MIGRATIONS } from "./schema.js";

export interface PostgresStoreOptions {
  /** A pg pool config (host, port, database, user, password, ssl, max) or a connection string. */
  connection: pg.PoolConfig;
  /** A call back closes missed legs of calls from that number started at most this many days before it. */
  callbackWindowDays?: number;
}

const DAY_MS = 86_400_000;
const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
/** The one advisory lock the migrations take, so that several nodes starting at once migrate once. */
const MIGRATION_LOCK = 0x63746962; // "ctib"

type Q = Pick<pg.PoolClient, "query">;

export class PostgresCallStore implements CallStore {
  readonly kind = "postgres" as const;
  readonly pool: pg.Pool;
  private readonly callbackWindowMs: number;

  constructor(opts: PostgresStoreOptions) {
    this.pool = new pg.Pool(opts.connection);
    // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
    this.pool.on("error", () => undefined);
    this.callbackWindowMs = (opts.callbackWindowDays ?? 7) * DAY_MS;
  }

  async open(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await c.query("CREATE TABLE IF NOT EXISTS ctibridge_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
      const { rows } = await c.query<{ v: number | null }>("SELECT max(version) AS v FROM ctibridge_migrations");
      for (let v = rows[0]?.v ?? 0; v < PG_MIGRATIONS.length; v++) {
        await c.query(PG_MIGRATIONS[v]!);
        await c.query("INSERT INTO ctibridge_migrations (version, applied_at) VALUES ($1, $2)", [v + 1, new Date().toISOString()]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** The schema version this database is at (0: empty). */
  async schemaVersion(): Promise<number> {
    const { rows } = await this.pool.query<{ v: number | null }>("SELECT max(version) AS v FROM ctibridge_migrations");
    return rows[0]?.v ?? 0;
  }

  /** `outbox`: webhook rows, written last in the transaction. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, outbox: readonly NewOutboxRow[] = []): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await insertOutboxRows(c, outbox);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /**
   * `outbox`: the webhook rows of the events this snapshot stands for, in the same transaction,
   * whatever the snapshot does (an older one changes no call; its rows are still kept, once).
   */
  async save(call: Call, version: SnapshotVersion, outbox: readonly NewOutboxRow[] = []): Promise<DoneMark[]> {
    return this.tx(async (c) => {
      if (call.mergedInto) {
        await c.query("INSERT INTO merged_calls (call_id, merged_into, at) VALUES ($1, $2, $3) ON CONFLICT (call_id) DO NOTHING", [call.callId, call.mergedInto, version.at]);
        await c.query("DELETE FROM open_calls WHERE call_id = $1", [call.callId]);
        await c.query("DELETE FROM calls WHERE call_id = $1", [call.callId]);
        return [];
      }
      const merged = await c.query("SELECT 1 FROM merged_calls WHERE call_id = $1", [call.callId]);
      if (merged.rowCount) return [];
      const row = {
        ...callRow(call, version.at),
        match: json(call.match),
        from_party: JSON.stringify(call.from),
        to_party: JSON.stringify(call.to),
        annotation: json(call.annotation),
        pbx_id: call.pbxId ?? null,
        version_at: version.at,
        version_seq: version.seq,
      };
      const cols = Object.keys(row);
      const set = cols
        .filter((k) => k !== "call_id" && k !== "started_at")
        // A null annotation from the tracker (a call rebuilt after a restart) never erases the stored one.
        .map((k) => (k === "annotation" ? "annotation = coalesce(excluded.annotation, calls.annotation)" : `${k} = excluded.${k}`));
      const up = await c.query(
        `INSERT INTO calls (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})
         ON CONFLICT (call_id) DO UPDATE SET ${set.join(", ")}
         WHERE (calls.version_at, calls.version_seq) <= (excluded.version_at, excluded.version_seq)
         RETURNING call_id, (xmax = 0) AS inserted`,
        Object.values(row),
      );
      // Older than what is stored: a late or redelivered snapshot, nothing to do.
      if (up.rowCount === 0) return [];
      // A first row without an annotation, while annotations of it were stored before it (facts
      // redelivered out of order): the merge of those, in time order.
      if (call.annotation === null && (up.rows[0] as { inserted: boolean }).inserted) {
        const { rows: notes } = await c.query<{ by_user: string; at: string; patch: string }>("SELECT by_user, at, patch FROM call_annotations WHERE call_id = $1 ORDER BY at, id", [call.callId]);
        let merged: Annotation | null = null;
        for (const n of notes) merged = mergeAnnotation(merged, JSON.parse(n.patch) as AnnotationPatch, n.by_user, n.at);
        if (merged) await c.query("UPDATE calls SET annotation = $1 WHERE call_id = $2", [JSON.stringify(merged), call.callId]);
      }
      await c.query("DELETE FROM legs WHERE call_id = $1 AND done = 0", [call.callId]);
      if (call.legs.length > 0) {
        const values: unknown[] = [];
        const tuples = call.legs.map((l, i) => {
          const r = legRow(call.callId, l, i);
          const base = values.length;
          values.push(...r);
          return `(${r.map((_, j) => `$${base + j + 1}`).join(", ")})`;
        });
        await c.query(
          `INSERT INTO legs (call_id, device, user_id, state, outcome, placed, ringing_at, answered_at, ended_at, wait_seconds, talk_seconds, position, missed_uncertain, transferred)
           VALUES ${tuples.join(", ")}
           ON CONFLICT (call_id, device) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
             outcome = excluded.outcome, ringing_at = excluded.ringing_at, answered_at = excluded.answered_at,
             ended_at = excluded.ended_at, wait_seconds = excluded.wait_seconds, talk_seconds = excluded.talk_seconds,
             position = excluded.position, missed_uncertain = excluded.missed_uncertain, transferred = excluded.transferred`,
          values,
        );
      }
      // Marks that came before this snapshot (done_marks): its missed legs are done already.
      await c.query(
        `UPDATE legs l SET done = 1, done_at = m.done_at FROM done_marks m
         WHERE l.call_id = $1 AND m.call_id = $1 AND (m.user_id = l.user_id OR (m.user_id = '*' AND l.user_id IS NOT NULL)) AND l.outcome = 'missed' AND l.done = 0`,
        [call.callId],
      );
      if (call.state === "ended") await c.query("DELETE FROM open_calls WHERE call_id = $1", [call.callId]);
      else {
        const snap = JSON.stringify(call);
        for (const id of call.linkedIds) {
          await c.query(
            `INSERT INTO open_calls (linked_id, call_id, snapshot, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (linked_id) DO UPDATE SET call_id = excluded.call_id, snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
            [id, call.callId, snap, version.at],
          );
        }
      }
      return call.state === "ended" && call.direction !== "inbound" ? this.markCalledBack(c, call) : [];
    }, outbox);
  }

  /** As CallLog.markCalledBack: missed legs of calls from the dialled number within the window. */
  private async markCalledBack(c: Q, call: Call): Promise<DoneMark[]> {
    const placer = call.legs.find((l) => l.placed);
    if (!placer?.userId || call.outcome !== "answered") return [];
    const key = call.to.e164 ?? call.to.raw;
    if (!key) return [];
    const from = new Date(Date.parse(call.times.started) - this.callbackWindowMs).toISOString();
    const { rows } = await c.query<{ call_id: string; user_id: string; done_at: string }>(
      `UPDATE legs SET done = 1, done_at = $1
       WHERE call_id IN (SELECT call_id FROM calls WHERE from_key = $2 AND started_at >= $3 AND started_at < $4)
         AND user_id = $5 AND outcome = 'missed' AND done = 0
       RETURNING call_id, user_id, done_at`,
      [call.times.ended, key, from, call.times.started, placer.userId],
    );
    // SQLite returns them in rowid order; a stable order here: by call, then user.
    rows.sort((a, b) => (a.call_id < b.call_id ? -1 : a.call_id > b.call_id ? 1 : 0));
    return rows.map((r) => ({ callId: r.call_id, userId: r.user_id, doneAt: r.done_at }));
  }

  async probe(at: string): Promise<void> {
    await this.pool.query("INSERT INTO store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at", [at]);
  }

  private async legsOf(q: Q, callIds: string[]): Promise<Map<string, Record<string, unknown>[]>> {
    const out = new Map<string, Record<string, unknown>[]>(callIds.map((id) => [id, []]));
    if (callIds.length === 0) return out;
    // A leg's after-call work belongs to the agent's answered leg (as in SQLite's legsOf).
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT l.*, w.seconds AS wrap_up_seconds FROM legs l
       LEFT JOIN wrap_ups w ON w.call_id = l.call_id AND w.user_id = l.user_id AND l.outcome IN ('answered_by_me', 'picked_up')
       WHERE l.call_id = ANY($1) ORDER BY l.call_id, l.position, l.id`,
      [callIds],
    );
    for (const r of rows) out.get(r.call_id as string)!.push(r);
    return out;
  }

  private async withLegs(rows: Record<string, unknown>[]): Promise<StoredCall[]> {
    const legs = await this.legsOf(this.pool, rows.map((r) => r.call_id as string));
    return rows.map((r) => rowToCall(r, legs.get(r.call_id as string)!));
  }

  async get(callId: string): Promise<StoredCall | null> {
    const { rows } = await this.pool.query<Record<string, unknown>>("SELECT * FROM calls WHERE call_id = $1", [callId]);
    return rows.length === 0 ? null : (await this.withLegs(rows))[0]!;
  }

  async list(q: CallQuery = {}): Promise<StoredCall[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (q.since) where.push(`c.started_at >= ${arg(new Date(q.since).toISOString())}`);
    if (q.before) {
      if (q.before.callId === null) where.push(`c.started_at < ${arg(q.before.startedAt)}`);
      else where.push(`(c.started_at, c.call_id) < (${arg(q.before.startedAt)}, ${arg(q.before.callId)})`);
    }
    if (q.userId || q.missed) {
      const legCond = ["l.call_id = c.call_id"];
      if (q.userId) legCond.push(`l.user_id = ${arg(q.userId)}`);
      if (q.missed) legCond.push("l.outcome = 'missed'");
      if (q.openOnly) legCond.push("l.done = 0");
      where.push(`EXISTS (SELECT 1 FROM legs l WHERE ${legCond.join(" AND ")})`);
    }
    const limit = arg(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `SELECT * FROM calls c ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY c.started_at DESC, c.call_id DESC LIMIT ${limit}`,
      args,
    );
    return this.withLegs(rows);
  }

  async *inOrder(q: { since?: string; until?: string; pageSize?: number } = {}): AsyncIterable<StoredCall> {
    const pageSize = q.pageSize ?? 500;
    let after: [string, string] = ["", ""];
    for (;;) {
      const { rows } = await this.pool.query<Record<string, unknown>>(
        `SELECT * FROM calls WHERE started_at >= $1 AND started_at < $2 AND (started_at, call_id) > ($3, $4)
         ORDER BY started_at, call_id LIMIT $5`,
        [q.since ?? "", q.until ?? "\uffff", after[0], after[1], pageSize],
      );
      yield* await this.withLegs(rows);
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1]!;
      after = [last.started_at as string, last.call_id as string];
    }
  }

  async queueStats(from: string): Promise<Map<string, QueueStat>> {
    const { rows } = await this.pool.query<{ queue: string; answered: number; abandoned: number; avg_wait: number | null }>(
      `SELECT queue, count(*) FILTER (WHERE outcome = 'answered')::int AS answered, count(*) FILTER (WHERE outcome = 'abandoned')::int AS abandoned,
         avg(wait_seconds) FILTER (WHERE outcome = 'answered') AS avg_wait
       FROM calls WHERE started_at >= $1 AND queue IS NOT NULL AND state = 'ended' GROUP BY queue ORDER BY queue`,
      [from],
    );
    return new Map(rows.map((r) => [r.queue, { answered: r.answered, abandoned: r.abandoned, avgWaitSeconds: r.avg_wait === null ? null : Math.round(r.avg_wait * 10) / 10 }]));
  }

  async markDone(callId: string, userId: string, at: string): Promise<boolean> {
    const r = await this.pool.query("UPDATE legs SET done = 1, done_at = $1 WHERE call_id = $2 AND user_id = $3 AND outcome = 'missed'", [at, callId, userId]);
    return (r.rowCount ?? 0) > 0;
  }

  async markOpenDone(callId: string, userIds: readonly string[] | null, at: string): Promise<string[]> {
    if (userIds !== null && userIds.length === 0) return [];
    return this.tx(async (c) => {
      const { rows } = await c.query<{ user_id: string }>(
        `UPDATE legs SET done = 1, done_at = $1 WHERE call_id = $2 AND outcome = 'missed' AND done = 0 AND ${userIds === null ? "user_id IS NOT NULL" : "user_id = ANY($3)"} RETURNING user_id`,
        userIds === null ? [at, callId] : [at, callId, [...userIds]],
      );
      // Kept for a snapshot of this call that is still on its way (see save).
      for (const u of userIds ?? ["*"]) await c.query("INSERT INTO done_marks (call_id, user_id, done_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [callId, u, at]);
      return [...new Set(rows.map((r) => r.user_id))].sort();
    });
  }

  async annotate(callId: string, entry: AnnotationEntry, merged: Annotation, outbox: readonly NewOutboxRow[] = []): Promise<boolean> {
    const { by, at, ...patch } = entry;
    return this.tx(async (c) => {
      // Once per entry; the merged annotation only from the newest entry (a late redelivery of an
      // older one changes nothing).
      await c.query(
        "INSERT INTO call_annotations (call_id, by_user, at, patch) VALUES ($1, $2, $3, $4) ON CONFLICT (call_id, by_user, at, md5(patch)) DO NOTHING",
        [callId, by, at, JSON.stringify(patch)],
      );
      const r = await c.query(
        "UPDATE calls SET annotation = $1 WHERE call_id = $2 AND NOT EXISTS (SELECT 1 FROM call_annotations WHERE call_id = $2 AND at > $3)",
        [JSON.stringify(merged), callId, at],
      );
      if ((r.rowCount ?? 0) > 0) return true;
      return ((await c.query("SELECT 1 FROM calls WHERE call_id = $1", [callId])).rowCount ?? 0) > 0;
    }, outbox);
  }

  async annotations(callId: string): Promise<AnnotationEntry[]> {
    const { rows } = await this.pool.query<{ by_user: string; at: string; patch: string }>("SELECT by_user, at, patch FROM call_annotations WHERE call_id = $1 ORDER BY at, id", [callId]);
    return rows.map((r) => ({ by: r.by_user, at: r.at, ...(JSON.parse(r.patch) as Omit<AnnotationEntry, "by" | "at">) }));
  }

  async openCallIds(): Promise<Map<string, string>> {
    const { rows } = await this.pool.query<{ linked_id: string; call_id: string }>("SELECT linked_id, call_id FROM open_calls ORDER BY linked_id");
    return new Map(rows.map((r) => [r.linked_id, r.call_id]));
  }

  async openCallSnapshots(): Promise<Map<string, Call>> {
    const { rows } = await this.pool.query<{ linked_id: string; snapshot: string }>("SELECT linked_id, snapshot FROM open_calls ORDER BY linked_id");
    return openSnapshotsByLinkedId(rows);
  }

  async openCalls(): Promise<(Call & { updatedAt: string })[]> {
    const { rows } = await this.pool.query<{ call_id: string; snapshot: string; updated_at: string }>(
      "SELECT DISTINCT ON (call_id) call_id, snapshot, updated_at FROM open_calls ORDER BY call_id, linked_id",
    );
    return rows.map((r) => ({ ...(JSON.parse(r.snapshot) as Call), updatedAt: r.updated_at }));
  }

  /** A new wrap-up of the call replaces the row; the same one delivered again never reopens it once ended. */
  async wrapUpStart(r: WrapUpRow): Promise<void> {
    await this.pool.query(
      `INSERT INTO wrap_ups (call_id, user_id, started_at, until, paused) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (call_id, user_id) DO UPDATE SET started_at = excluded.started_at, until = excluded.until, ended_at = NULL, seconds = NULL, end_reason = NULL, paused = excluded.paused
       WHERE excluded.started_at > wrap_ups.started_at OR (excluded.started_at = wrap_ups.started_at AND wrap_ups.ended_at IS NULL)`,
      [r.callId, r.userId, r.since, r.until, JSON.stringify(r.paused)],
    );
  }

  async wrapUpExists(callId: string, userId: string): Promise<boolean> {
    const r = await this.pool.query("SELECT 1 FROM wrap_ups WHERE call_id = $1 AND user_id = $2", [callId, userId]);
    return (r.rowCount ?? 0) > 0;
  }

  async wrapUpSetPaused(callId: string, userId: string, paused: [string, string][]): Promise<void> {
    await this.pool.query("UPDATE wrap_ups SET paused = $1 WHERE call_id = $2 AND user_id = $3", [JSON.stringify(paused), callId, userId]);
  }

  /**
   * With `since` the end commutes with its start: it inserts the ended row when the start has not
   * arrived yet (the start then changes nothing), and it never ends a newer wrap-up of the call.
   */
  async wrapUpEnd(callId: string, userId: string, endedAt: string, seconds: number, reason: WrapUpEndReason, since?: string): Promise<void> {
    if (since === undefined) {
      await this.pool.query("UPDATE wrap_ups SET ended_at = $1, seconds = $2, end_reason = $3 WHERE call_id = $4 AND user_id = $5 AND ended_at IS NULL", [endedAt, seconds, reason, callId, userId]);
      return;
    }
    await this.pool.query(
      `INSERT INTO wrap_ups (call_id, user_id, started_at, until, ended_at, seconds, end_reason, paused) VALUES ($1, $2, $3, NULL, $4, $5, $6, '[]')
       ON CONFLICT (call_id, user_id) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at, seconds = excluded.seconds, end_reason = excluded.end_reason
       WHERE (wrap_ups.started_at = excluded.started_at AND wrap_ups.ended_at IS NULL) OR wrap_ups.started_at < excluded.started_at`,
      [callId, userId, since, endedAt, seconds, reason],
    );
  }

  async wrapUpsRunning(): Promise<WrapUpRow[]> {
    const { rows } = await this.pool.query<{ call_id: string; user_id: string; started_at: string; until: string | null; paused: string }>(
      "SELECT call_id, user_id, started_at, until, paused FROM wrap_ups WHERE ended_at IS NULL ORDER BY user_id, call_id",
    );
    return rows.map((r) => ({ callId: r.call_id, userId: r.user_id, since: r.started_at, until: r.until, paused: JSON.parse(r.paused) as [string, string][] }));
  }

  /** Calls (and their PBX) from or to a number in any of these forms (as dialled, E.164), or reached through a transfer from it: `ctibridge forget`. */
  async callsOfNumber(forms: readonly string[]): Promise<{ callId: string; pbxId: string | null }[]> {
    if (forms.length === 0) return [];
    const { rows } = await this.pool.query<{ call_id: string; pbx_id: string | null }>(
      `SELECT call_id, pbx_id FROM calls WHERE from_raw = ANY($1) OR from_e164 = ANY($1) OR to_raw = ANY($1) OR to_e164 = ANY($1) OR from_key = ANY($1)
       OR (transfer IS NOT NULL AND EXISTS (SELECT 1 FROM unnest($2::text[]) f WHERE strpos(transfer, f) > 0))`,
      [[...forms], forms.map((f) => JSON.stringify(f))],
    );
    return rows.map((r) => ({ callId: r.call_id, pbxId: r.pbx_id }));
  }

  async pruneOldCalls(cutoff: string, batch: number): Promise<number> {
    // Tombstones of merged calls outlive no redelivery that old (the stream keeps hours, not months).
    await this.pool.query("DELETE FROM merged_calls WHERE at < $1", [cutoff]);
    const { rows } = await this.pool.query<{ call_id: string }>("SELECT call_id FROM calls WHERE started_at < $1 AND state = 'ended' ORDER BY started_at LIMIT $2", [cutoff, batch]);
    return this.deleteCalls(rows.map((r) => r.call_id));
  }

  async deleteCalls(callIds: readonly string[]): Promise<number> {
    if (callIds.length === 0) return 0;
    const ids = [...callIds];
    return this.tx(async (c) => {
      for (const t of ["call_annotations", "legs", "open_calls", "wrap_ups", "done_marks", "outbox"]) await c.query(`DELETE FROM ${t} WHERE call_id = ANY($1)`, [ids]);
      const r = await c.query("DELETE FROM calls WHERE call_id = ANY($1)", [ids]);
      return r.rowCount ?? 0;
    });
  }
}
