/**
 * The webhook outbox of a cluster, in PostgreSQL (table `outbox`, migration 3): the same rows and
 * states as SQLite's (store/outbox.ts), written by the stream archiver inside the transaction of
 * the call they belong to (`insertOutboxRows`), delivered by the gateway holding the archive
 * lease (webhooks/deliver.ts over `PgOutbox`), listed, retried and purged by the CLI.
 *
 * A call's rows go in stream order (`seq`, `pos`), and a row is handed to the deliverer only once
 * the archive consumer's ack floor (every message up to it stored) has passed its message: after
 * a takeover the server redelivers what the dead archiver held only after the ack wait, while
 * newer messages come at once, so a call's `call.ended` row may be written before its
 * `call.ringing` row; held back, it still goes after it. A row of a message the consumer has not
 * delivered (yet, as far as it says: a stream or consumer made again since) is final: nothing
 * before it is in progress, and it must not wait for a new stream to count up to it.
 *
 * The floor also keeps the deliverer's read of new rows by id (`id > last read`) whole, although
 * the archiver writes a few calls at once and a sequence hands out ids in another order than
 * transactions commit: a row it returns is of a message acknowledged, so committed, before the
 * read, and so is every row with a smaller id (those of later batches are numbered after it);
 * a row held back is seen, and every row is read again once the floor passes it. A `PgOutbox`
 * without `progress` (the CLI) returns every open row, and is not for delivery while an archiver
 * writes.
 */
import type pg from "pg";
import { openRowOf, toRow, type NewOutboxRow, type OpenOutboxRow, type OutboxAdmin, type OutboxRow, type OutboxState, type WebhookOutbox } from "../outbox.js";

const OPEN = "('pending', 'failed')";

type Q = Pick<pg.PoolClient, "query">;

/** Insert rows once each (a row whose event id is stored already is skipped); call inside the transaction of their cause. */
export async function insertOutboxRows(c: Q, rows: readonly NewOutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values: unknown[] = [];
  const tuples = rows.map((r) => {
    const b = values.length;
    values.push(r.eventId, r.target, r.type, r.callId, r.payload, r.at, r.seq ?? 0, r.pos ?? 0);
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, 'pending', 0, $${b + 6}, $${b + 6}, $${b + 6}, $${b + 7}, $${b + 8})`;
  });
  await c.query(
    `INSERT INTO outbox (event_id, target, kind, call_id, payload, state, attempts, next_at, created_at, retry_since, seq, pos) VALUES ${tuples.join(", ")} ON CONFLICT (event_id) DO NOTHING`,
    values,
  );
}

/** The archive consumer's progress: every message up to `ackFloor` stored, up to `delivered` handed to an archiver. */
export interface ArchiveProgress {
  ackFloor: number;
  delivered: number;
}

export interface PgOutboxOptions {
  /** The archive consumer's progress (null: unknown, keep the last); absent: every row is final (the CLI, tests). */
  progress?: () => Promise<ArchiveProgress | null>;
}

export class PgOutbox implements WebhookOutbox, OutboxAdmin {
  /** Rows of messages past this (and delivered) are held back (see above). */
  private floor = Number.POSITIVE_INFINITY;
  private handedOut = Number.POSITIVE_INFINITY;
  /** The smallest stream sequence of a row held back, and reads that must start over once it may go. */
  private heldFrom: number | null = null;
  private epoch = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PgOutboxOptions = {},
  ) {
    if (opts.progress) this.floor = 0;
  }

  private async progress(): Promise<void> {
    const p = await this.opts.progress?.().catch(() => null);
    if (!p) return;
    this.floor = p.ackFloor;
    this.handedOut = p.delivered;
    if (this.heldFrom !== null && (this.heldFrom <= this.floor || this.heldFrom > this.handedOut)) {
      this.heldFrom = null;
      this.epoch++;
    }
  }

  async open(afterId: number): Promise<OpenOutboxRow[]> {
    // The floor as of before the read (dataVersion), what was delivered as of after it: a row
    // read was written from a delivered message, so only a stale one is past `delivered`.
    const floor = this.floor;
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `SELECT id, target, call_id, attempts, next_at, created_at, retry_since, seq, pos FROM outbox WHERE id > $1 AND state IN ${OPEN} ORDER BY id`,
      [afterId],
    );
    if (this.opts.progress) await this.progress();
    const out: OpenOutboxRow[] = [];
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq > floor && seq <= this.handedOut) {
        // Skipped past the deliverer's id mark: a read of every row follows when it may go.
        this.heldFrom = Math.min(this.heldFrom ?? seq, seq);
        continue;
      }
      out.push({ ...openRowOf(r), seq, pos: r.pos as number });
    }
    return out;
  }

  async payload(id: number): Promise<{ body: string; eventId: string; type: string } | null> {
    const { rows } = await this.pool.query<{ payload: string; event_id: string; kind: string }>("SELECT payload, event_id, kind FROM outbox WHERE id = $1", [id]);
    const r = rows[0];
    return r ? { body: r.payload, eventId: r.event_id, type: r.kind } : null;
  }

  /** The change mark of the commands, plus one for every time rows held back may go. */
  async dataVersion(): Promise<number> {
    await this.progress();
    const { rows } = await this.pool.query<{ n: string }>("SELECT n FROM outbox_changes WHERE id = 1");
    return Number(rows[0]?.n ?? 0) * 1_000_000 + this.epoch;
  }

  /** The ack floor last read (tests). */
  get ackFloor(): number {
    return this.floor;
  }

  async delivered(id: number, at: string, status: number): Promise<void> {
    await this.pool.query("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_attempt_at = $1, last_status = $2, last_error = NULL WHERE id = $3", [at, status, id]);
  }

  async failed(id: number, at: string, nextAt: string, status: number | null, error: string): Promise<void> {
    await this.pool.query("UPDATE outbox SET state = 'failed', attempts = attempts + 1, next_at = $1, last_attempt_at = $2, last_status = $3, last_error = $4 WHERE id = $5", [nextAt, at, status, error, id]);
  }

  async dead(id: number, at: string, status: number | null, error: string): Promise<void> {
    await this.pool.query("UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_attempt_at = $1, last_status = $2, last_error = $3 WHERE id = $4", [at, status, error, id]);
  }

  async counts(): Promise<Record<OutboxState, number>> {
    const out: Record<OutboxState, number> = { pending: 0, failed: 0, delivered: 0, dead: 0 };
    const { rows } = await this.pool.query<{ state: OutboxState; n: number }>("SELECT state, count(*)::int AS n FROM outbox GROUP BY state");
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  async get(id: number): Promise<OutboxRow | null> {
    const { rows } = await this.pool.query<Record<string, unknown>>("SELECT * FROM outbox WHERE id = $1", [id]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  async list(q: { state?: OutboxState; target?: string; limit?: number } = {}): Promise<OutboxRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.state) where.push(`state = $${args.push(q.state)}`);
    if (q.target) where.push(`target = $${args.push(q.target)}`);
    const limit = `$${args.push(Math.min(Math.max(q.limit ?? 100, 1), 100_000))}`;
    const { rows } = await this.pool.query<Record<string, unknown>>(`SELECT * FROM outbox ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ${limit}`, args);
    return rows.map(toRow);
  }

  /** As SQLite's: send again from now, attempts and the retry period starting over; the delivering gateway is told by outbox_changes. */
  async retry(now: string, which: { ids: number[] } | { dead: true }): Promise<number> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const set = "SET state = 'pending', attempts = 0, next_at = $1, retry_since = $1";
      const r =
        "dead" in which
          ? await c.query(`UPDATE outbox ${set} WHERE state = 'dead'`, [now])
          : await c.query(`UPDATE outbox ${set} WHERE id = ANY($2) AND state IN ('failed', 'dead')`, [now, which.ids]);
      await c.query("UPDATE outbox_changes SET n = n + 1 WHERE id = 1");
      await c.query("COMMIT");
      return r.rowCount ?? 0;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** As SQLite's: rows in `states` finished (or created) before `before`, at most `limit`, of `target` when given. */
  async purge(states: readonly OutboxState[], before: string, limit = 1_000_000, target?: string): Promise<number> {
    if (states.length === 0) return 0;
    const args: unknown[] = [[...states], before, limit];
    const only = target === undefined ? "" : ` AND target = $${args.push(target)}`;
    const r = await this.pool.query(
      `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state = ANY($1) AND coalesce(delivered_at, last_attempt_at, created_at) < $2${only} ORDER BY id LIMIT $3)`,
      args,
    );
    // Open rows gone: the deliverer must forget them (a read of every open row).
    if (states.includes("pending") || states.includes("failed")) await this.pool.query("UPDATE outbox_changes SET n = n + 1 WHERE id = 1");
    return r.rowCount ?? 0;
  }
}
