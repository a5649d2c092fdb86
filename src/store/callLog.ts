/**
 * The call log: every call and leg in SQLite, and the open-call map that lets a restarted
 * daemon keep the callIds of calls still up. The one place that maps Call ⇄ snake_case rows.
 */
import type { Db } from "./db.js";
import type { Annotation, AnnotationEntry, Call, Leg, Party } from "../calls/model.js";

export interface CallQuery {
  userId?: string;
  /** ISO date or date-time: calls started at or after it. */
  since?: string;
  /** Only calls with a leg whose outcome is `missed` (of `userId` when given). */
  missed?: boolean;
  /** Missed calls not yet called back or marked done. */
  openOnly?: boolean;
  limit?: number;
  /**
   * Paging back: only calls older than this position in the newest-first order (started_at,
   * then call_id, both descending; a `before` time alone is the position just before it).
   */
  before?: { startedAt: string; callId: string | null };
}

/** A missed leg closed: by a user (`marked`) or by an answered call back to that number. */
export interface DoneMark {
  callId: string;
  userId: string;
  doneAt: string;
}

/** A stored leg: the WebSocket leg plus `done` (a missed leg called back or dismissed). */
export type StoredLeg = Leg & { done: boolean };

/** A stored call: the same shape as the Call behind a WebSocket call snapshot, legs with `done`. */
export type StoredCall = Omit<Call, "legs"> & { legs: StoredLeg[] };

export interface CallLogOptions {
  /** A call-back closes missed legs of calls from that number started at most this many days before it. */
  callbackWindowDays?: number;
}

const DAY_MS = 86_400_000;

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

export class CallLog {
  private readonly upsertCall;
  private readonly deleteLegs;
  private readonly insertLeg;
  private readonly upsertOpen;
  private readonly deleteOpen;
  private readonly updateView;
  private readonly legsOf;
  private readonly calledBack;
  private readonly callbackWindowMs: number;
  /**
   * save()'s transaction, wrapped once: better-sqlite3's `db.transaction(fn)` builds five
   * wrapper functions and their properties per call (measured ~5 KB of garbage per save in the
   * screen-pop benchmark, where it set how often the young generation was collected).
   */
  private readonly saveTx: (call: Call, now: string) => DoneMark[];

  constructor(
    private readonly db: Db,
    opts: CallLogOptions = {},
  ) {
    this.callbackWindowMs = (opts.callbackWindowDays ?? 7) * DAY_MS;
    this.upsertCall = db.prepare(`
      INSERT INTO calls (call_id, linked_ids, direction, state, from_raw, from_e164, from_name, from_key, to_raw, to_e164, to_name,
        did, queue, outcome, answered_by_user, answered_by_device, started_at, ringing_at, answered_at, ended_at,
        wait_seconds, talk_seconds, hangup_cause, hangup_text, end_reason, transfer, ivr, recording, restored,
        click_to_dial, conference, end_estimated, answered_by_external, park, did_raw, updated_at)
      VALUES (@call_id, @linked_ids, @direction, @state, @from_raw, @from_e164, @from_name, @from_key, @to_raw, @to_e164, @to_name,
        @did, @queue, @outcome, @answered_by_user, @answered_by_device, @started_at, @ringing_at, @answered_at, @ended_at,
        @wait_seconds, @talk_seconds, @hangup_cause, @hangup_text, @end_reason, @transfer, @ivr, @recording, @restored,
        @click_to_dial, @conference, @end_estimated, @answered_by_external, @park, @did_raw, @updated_at)
      ON CONFLICT(call_id) DO UPDATE SET linked_ids = excluded.linked_ids, direction = excluded.direction,
        state = excluded.state, from_raw = excluded.from_raw, from_e164 = excluded.from_e164, from_name = excluded.from_name,
        from_key = excluded.from_key,
        to_raw = excluded.to_raw, to_e164 = excluded.to_e164, to_name = excluded.to_name, did = excluded.did,
        queue = excluded.queue, outcome = excluded.outcome, answered_by_user = excluded.answered_by_user,
        answered_by_device = excluded.answered_by_device, ringing_at = excluded.ringing_at,
        answered_at = excluded.answered_at, ended_at = excluded.ended_at, wait_seconds = excluded.wait_seconds,
        talk_seconds = excluded.talk_seconds, hangup_cause = excluded.hangup_cause, hangup_text = excluded.hangup_text,
        end_reason = excluded.end_reason, transfer = excluded.transfer, ivr = excluded.ivr,
        recording = excluded.recording, restored = excluded.restored, click_to_dial = excluded.click_to_dial,
        conference = excluded.conference, end_estimated = excluded.end_estimated,
        answered_by_external = excluded.answered_by_external, park = excluded.park, did_raw = excluded.did_raw,
        updated_at = excluded.updated_at`);
    this.deleteLegs = db.prepare("DELETE FROM legs WHERE call_id = ? AND done = 0");
    this.insertLeg = db.prepare(`
      INSERT INTO legs (call_id, device, user_id, state, outcome, placed, ringing_at, answered_at, ended_at, wait_seconds, talk_seconds, position, missed_uncertain, transferred)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(call_id, device) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
        outcome = excluded.outcome, ringing_at = excluded.ringing_at, answered_at = excluded.answered_at,
        ended_at = excluded.ended_at, wait_seconds = excluded.wait_seconds, talk_seconds = excluded.talk_seconds,
        position = excluded.position, missed_uncertain = excluded.missed_uncertain, transferred = excluded.transferred`);
    // What the snapshot has beyond the searchable columns. A null annotation from the tracker
    // (a call rebuilt after a restart) never erases the stored one.
    this.updateView = db.prepare("UPDATE calls SET match = ?, from_party = ?, to_party = ?, annotation = coalesce(?, annotation) WHERE call_id = ?");
    // A leg's after-call work (wrap_ups, migration 8) belongs to the agent's answered leg.
    this.legsOf = db.prepare(`
      SELECT l.*, w.seconds AS wrap_up_seconds FROM legs l
      LEFT JOIN wrap_ups w ON w.call_id = l.call_id AND w.user_id = l.user_id AND l.outcome IN ('answered_by_me', 'picked_up')
      WHERE l.call_id = ? ORDER BY l.position, l.rowid`);
    this.upsertOpen = db.prepare(
      "INSERT INTO open_calls (linked_id, call_id, snapshot, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(linked_id) DO UPDATE SET call_id = excluded.call_id, snapshot = excluded.snapshot, updated_at = excluded.updated_at",
    );
    this.deleteOpen = db.prepare("DELETE FROM open_calls WHERE call_id = ?");
    // Earlier calls from the dialled number (index calls_from_key, bounded by the window), then
    // their legs by primary key: `+user_id` keeps SQLite off legs_user, whose range (all of a
    // user's missed legs ever) grows with history.
    this.calledBack = db.prepare(`
      UPDATE legs SET done = 1, done_at = ?
      WHERE call_id IN (SELECT call_id FROM calls WHERE from_key = ? AND started_at >= ? AND started_at < ?)
        AND +user_id = ? AND outcome = 'missed' AND done = 0
      RETURNING call_id, user_id, done_at`);
    this.saveTx = db.transaction((call: Call, now: string) => this.saveRows(call, now));
  }

  /**
   * Write the call, its legs and (while it runs) its open-call entry, in one transaction.
   * Returns the missed legs an answered call back closed (`DoneMark`s), for the live frames.
   */
  save(call: Call, now: string): DoneMark[] {
    if (call.mergedInto) {
      this.db.transaction(() => {
        this.deleteOpen.run(call.callId);
        this.db.prepare("DELETE FROM calls WHERE call_id = ?").run(call.callId);
      })();
      return [];
    }
    return this.saveTx(call, now);
  }

  private saveRows(call: Call, now: string): DoneMark[] {
    this.upsertCall.run(callRow(call, now));
    this.updateView.run(json(call.match), JSON.stringify(call.from), JSON.stringify(call.to), json(call.annotation), call.callId);
    this.deleteLegs.run(call.callId);
    call.legs.forEach((l, i) => this.insertLeg.run(...legRow(call.callId, l, i)));
    if (call.state === "ended") this.deleteOpen.run(call.callId);
    else for (const id of call.linkedIds) this.upsertOpen.run(id, call.callId, JSON.stringify(call), now);
    return call.state === "ended" && call.direction !== "inbound" ? this.markCalledBack(call) : [];
  }

  /**
   * A call placed back to a number that had missed us closes those missed legs, for calls
   * started within `callbackWindowDays` before it: the cost stays flat however long the history.
   */
  private markCalledBack(call: Call): DoneMark[] {
    const placer = call.legs.find((l) => l.placed);
    if (!placer?.userId || call.outcome !== "answered") return [];
    const key = call.to.e164 ?? call.to.raw;
    if (!key) return [];
    const from = new Date(Date.parse(call.times.started) - this.callbackWindowMs).toISOString();
    const rows = this.calledBack.all(call.times.ended, key, from, call.times.started, placer.userId) as { call_id: string; user_id: string; done_at: string }[];
    return rows.map((r) => ({ callId: r.call_id, userId: r.user_id, doneAt: r.done_at }));
  }

  /** Rewrite the one probe row: a real write transaction, to learn whether the disk takes writes. */
  probe(at: string): void {
    this.db.prepare("INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at").run(at);
  }

  /** Mark a user's missed leg done (called back another way, or dismissed). */
  markDone(callId: string, userId: string, at: string): boolean {
    return this.db.prepare("UPDATE legs SET done = 1, done_at = ? WHERE call_id = ? AND user_id = ? AND outcome = 'missed'").run(at, callId, userId).changes > 0;
  }

  /**
   * Close the open missed legs of a call: of these users, or of everyone (null). Returns the
   * users whose leg was closed now (a leg already done is not closed again).
   */
  markOpenDone(callId: string, userIds: readonly string[] | null, at: string): string[] {
    if (userIds !== null && userIds.length === 0) return [];
    const only = userIds === null ? "user_id IS NOT NULL" : `user_id IN (${userIds.map(() => "?").join(", ")})`;
    const rows = this.db
      .prepare(`UPDATE legs SET done = 1, done_at = ? WHERE call_id = ? AND outcome = 'missed' AND done = 0 AND ${only} RETURNING user_id`)
      .all(at, callId, ...(userIds ?? [])) as { user_id: string }[];
    return [...new Set(rows.map((r) => r.user_id))].sort();
  }

  /**
   * Append one annotation to the call's history (kept even while the call row is not written
   * yet) and store the merged result on the call. False when no such call is stored. `also`
   * runs in the same transaction (the webhook outbox rows of the annotation).
   */
  annotate(callId: string, entry: AnnotationEntry, merged: Annotation, also?: () => void): boolean {
    const { by, at, ...patch } = entry;
    return this.db.transaction(() => {
      this.db.prepare("INSERT INTO call_annotations (call_id, by_user, at, patch) VALUES (?, ?, ?, ?)").run(callId, by, at, JSON.stringify(patch));
      also?.();
      return this.db.prepare("UPDATE calls SET annotation = ? WHERE call_id = ?").run(JSON.stringify(merged), callId).changes > 0;
    })();
  }

  /** Every annotation of a call, oldest first, as sent (`null`: that field was cleared). */
  annotations(callId: string): AnnotationEntry[] {
    const rows = this.db.prepare("SELECT by_user, at, patch FROM call_annotations WHERE call_id = ? ORDER BY id").all(callId) as { by_user: string; at: string; patch: string }[];
    return rows.map((r) => ({ by: r.by_user, at: r.at, ...(JSON.parse(r.patch) as Omit<AnnotationEntry, "by" | "at">) }));
  }

  /** One stored call, or null. */
  get(callId: string): StoredCall | null {
    const row = this.db.prepare("SELECT * FROM calls WHERE call_id = ?").get(callId) as Record<string, unknown> | undefined;
    return row ? rowToCall(row, this.legsOf.all(callId) as Record<string, unknown>[]) : null;
  }

  /** linkedid → callId of calls that were open when the daemon stopped. */
  openCallIds(): Map<string, string> {
    const rows = this.db.prepare("SELECT linked_id, call_id FROM open_calls").all() as { linked_id: string; call_id: string }[];
    return new Map(rows.map((r) => [r.linked_id, r.call_id]));
  }

  /** linkedid → the last snapshot of each call that was open when the daemon stopped (a bad row is skipped). */
  openCallSnapshots(): Map<string, Call> {
    return openSnapshotsByLinkedId(this.db.prepare("SELECT linked_id, snapshot FROM open_calls").all() as { linked_id: string; snapshot: string }[]);
  }

  /**
   * Calls still marked open (snapshots, and when each was last written: the time of its last
   * event), for closing those that vanished while we were down.
   */
  openCalls(): (Call & { updatedAt: string })[] {
    const rows = this.db.prepare("SELECT DISTINCT call_id, snapshot, updated_at FROM open_calls").all() as { call_id: string; snapshot: string; updated_at: string }[];
    const seen = new Set<string>();
    return rows.filter((r) => !seen.has(r.call_id) && seen.add(r.call_id)).map((r) => ({ ...(JSON.parse(r.snapshot) as Call), updatedAt: r.updated_at }));
  }

  /**
   * Per queue, the ended calls started at or after `from` (ISO): answered, abandoned, and the
   * mean wait of the answered ones (null when none). A range on calls_started: today's calls only.
   */
  queueStats(from: string): Map<string, { answered: number; abandoned: number; avgWaitSeconds: number | null }> {
    const rows = this.db
      .prepare(
        `SELECT queue, sum(outcome = 'answered') AS answered, sum(outcome = 'abandoned') AS abandoned,
           avg(CASE WHEN outcome = 'answered' THEN wait_seconds END) AS avg_wait
         FROM calls WHERE started_at >= ? AND queue IS NOT NULL AND state = 'ended' GROUP BY queue`,
      )
      .all(from) as { queue: string; answered: number; abandoned: number; avg_wait: number | null }[];
    return new Map(rows.map((r) => [r.queue, { answered: r.answered, abandoned: r.abandoned, avgWaitSeconds: r.avg_wait === null ? null : Math.round(r.avg_wait * 10) / 10 }]));
  }

  list(q: CallQuery = {}): StoredCall[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.since) {
      where.push("c.started_at >= ?");
      args.push(new Date(q.since).toISOString());
    }
    if (q.before) {
      // Row-value comparison: SQLite walks calls_started_id backwards from the cursor.
      if (q.before.callId === null) {
        where.push("c.started_at < ?");
        args.push(q.before.startedAt);
      } else {
        where.push("(c.started_at, c.call_id) < (?, ?)");
        args.push(q.before.startedAt, q.before.callId);
      }
    }
    if (q.userId || q.missed) {
      const legCond = ["l.call_id = c.call_id"];
      if (q.userId) {
        legCond.push("l.user_id = ?");
        args.push(q.userId);
      }
      if (q.missed) legCond.push("l.outcome = 'missed'");
      if (q.openOnly) legCond.push("l.done = 0");
      where.push(`EXISTS (SELECT 1 FROM legs l WHERE ${legCond.join(" AND ")})`);
    }
    const sql = `SELECT * FROM calls c ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY c.started_at DESC, c.call_id DESC LIMIT ?`;
    args.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
    const rows = this.db.prepare(sql).all(...args) as Record<string, unknown>[];
    return rows.map((r) => rowToCall(r, this.legsOf.all(r.call_id) as Record<string, unknown>[]));
  }
}

/** The searchable columns of a call (both stores write these; SQLite's named parameters, PostgreSQL's column list). */
export function callRow(call: Call, now: string) {
  return {
    call_id: call.callId,
    linked_ids: JSON.stringify(call.linkedIds),
    direction: call.direction,
    state: call.state,
    from_raw: call.from.raw,
    from_e164: call.from.e164,
    from_name: call.from.name,
    from_key: call.from.e164 ?? call.from.raw,
    to_raw: call.to.raw,
    to_e164: call.to.e164,
    to_name: call.to.name,
    did: call.did,
    did_raw: call.didRaw,
    queue: call.queue,
    outcome: call.outcome,
    answered_by_user: call.answeredBy?.userId ?? null,
    answered_by_device: call.answeredBy?.device ?? null,
    started_at: call.times.started,
    ringing_at: call.times.ringing,
    answered_at: call.times.answered,
    ended_at: call.times.ended,
    wait_seconds: call.times.waitSeconds,
    talk_seconds: call.times.talkSeconds,
    hangup_cause: call.hangupCause?.code ?? null,
    hangup_text: call.hangupCause?.text ?? null,
    end_reason: call.endReason,
    transfer: json(call.transfer),
    ivr: Object.keys(call.ivr).length > 0 ? JSON.stringify(call.ivr) : null,
    recording: call.recording,
    restored: call.restored ? 1 : 0,
    click_to_dial: call.clickToDial ? 1 : 0,
    conference: call.conference,
    end_estimated: call.times.endEstimated ? 1 : 0,
    answered_by_external: call.answeredBy?.external ?? null,
    park: json(call.park),
    updated_at: now,
  };
}

/** A leg's columns in insert order (call_id, device, …, position, missed_uncertain, transferred). */
export function legRow(callId: string, l: Leg, position: number) {
  return [callId, l.device, l.userId, l.state, l.outcome, l.placed ? 1 : 0, l.ringingAt, l.answeredAt, l.endedAt, l.waitSeconds, l.talkSeconds, position, l.missedUncertain ? 1 : 0, l.transferred ? 1 : 0] as const;
}

/**
 * Stored calls in start order, one page at a time (keyset paging on the calls_started index):
 * an export of years of calls holds one page in memory, and no statement stays open between
 * pages, so the daemon's writes (another connection) are never held up by a long read.
 */
export function* callsInOrder(db: Db, q: { since?: string; until?: string; pageSize?: number } = {}): Generator<StoredCall> {
  const pageSize = q.pageSize ?? 500;
  const page = db.prepare(
    `SELECT * FROM calls WHERE started_at >= ? AND started_at < ? AND (started_at > ? OR (started_at = ? AND call_id > ?))
     ORDER BY started_at, call_id LIMIT ?`,
  );
  const legs = db.prepare("SELECT * FROM legs WHERE call_id = ? ORDER BY position, rowid");
  let after: [string, string] = ["", ""];
  for (;;) {
    const rows = page.all(q.since ?? "", q.until ?? "\uffff", after[0], after[0], after[1], pageSize) as Record<string, unknown>[];
    for (const r of rows) yield rowToCall(r, legs.all(r.call_id) as Record<string, unknown>[]);
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1]!;
    after = [last.started_at as string, last.call_id as string];
  }
}

function parse<T>(v: unknown): T | null {
  return typeof v === "string" ? (JSON.parse(v) as T) : null;
}

/** The stored party; rows written before the full party was kept fall back to the columns. */
function party(stored: unknown, raw: unknown, e164: unknown, name: unknown): Party {
  const p = parse<Party>(stored);
  if (p) return p;
  const n = (name as string | null) ?? null;
  return { raw: raw as string, e164: (e164 as string | null) ?? null, display: n ?? (e164 as string | null) ?? (raw as string), name: n };
}

/**
 * A stored call in the shape of the Call behind the WebSocket snapshot (the REST and CLI view);
 * an absorbed call is deleted, so `mergedInto` is always null here.
 */
export function rowToCall(r: Record<string, unknown>, legs: Record<string, unknown>[]): StoredCall {
  return {
    callId: r.call_id as string,
    linkedIds: parse<string[]>(r.linked_ids) ?? [],
    direction: r.direction as Call["direction"],
    state: r.state as Call["state"],
    from: party(r.from_party, r.from_raw, r.from_e164, r.from_name),
    to: party(r.to_party, r.to_raw, r.to_e164, r.to_name),
    did: r.did as string | null,
    // Rows from before migration 7 hold the raw DID in `did`.
    didRaw: (r.did_raw as string | null) ?? (r.did as string | null),
    queue: r.queue as string | null,
    legs: legs.map((l) => ({
      userId: l.user_id as string | null,
      device: l.device as string,
      state: l.state as Leg["state"],
      outcome: l.outcome as Leg["outcome"],
      placed: l.placed === 1,
      ringingAt: l.ringing_at as string | null,
      answeredAt: l.answered_at as string | null,
      endedAt: l.ended_at as string | null,
      waitSeconds: l.wait_seconds as number | null,
      talkSeconds: l.talk_seconds as number | null,
      ...(l.missed_uncertain === 1 ? { missedUncertain: true as const } : {}),
      ...(l.transferred === 1 ? { transferred: true as const } : {}),
      ...(typeof l.wrap_up_seconds === "number" ? { wrapUpSeconds: l.wrap_up_seconds } : {}),
      done: l.done === 1,
    })),
    answeredBy: r.answered_by_device
      ? { userId: r.answered_by_user as string | null, device: r.answered_by_device as string }
      : r.answered_by_external
        ? { userId: null, device: null, external: r.answered_by_external as string }
        : null,
    times: {
      started: r.started_at as string,
      ringing: r.ringing_at as string | null,
      answered: r.answered_at as string | null,
      ended: r.ended_at as string | null,
      waitSeconds: r.wait_seconds as number | null,
      talkSeconds: r.talk_seconds as number | null,
      ...(r.end_estimated === 1 ? { endEstimated: true as const } : {}),
    },
    outcome: r.outcome as Call["outcome"],
    hangupCause: r.hangup_cause === null ? null : { code: r.hangup_cause as number, text: r.hangup_text as string },
    endReason: r.end_reason as Call["endReason"],
    transfer: parse<Call["transfer"]>(r.transfer),
    park: parse<Call["park"]>(r.park),
    ivr: parse<Record<string, string>>(r.ivr) ?? {},
    recording: r.recording as string | null,
    restored: r.restored === 1,
    clickToDial: r.click_to_dial === 1,
    conference: r.conference as string | null,
    match: parse<Call["match"]>(r.match),
    annotation: parse<Annotation>(r.annotation),
    mergedInto: null,
    // The PostgreSQL call log of a cluster keeps the PBX the call ran on.
    ...(typeof r.pbx_id === "string" ? { pbxId: r.pbx_id } : {}),
  };
}

/** How long a successful write vouches for the store before /healthz writes a probe row. */
const PROBE_AFTER_MS = 10_000;

export interface CallLogWriterOptions {
  /** Snapshots held while writes fail, past which live calls' snapshots are dropped (store.maxBacklogCalls). */
  maxBacklog?: number;
  now?: () => number;
  /** A live call's snapshot was not kept: the backlog is at its bound. */
  onDrop?: (callId: string) => void;
  /** A batch that carried `also` writes (webhook outbox rows) was committed. */
  onCommitted?: () => void;
  /** Writes work again after failing; `calls` were written. */
  onRecovered?: (calls: number, failingSinceMs: number) => void;
  /** Missed legs an answered call back closed, after their transaction committed. */
  onDone?: (marks: DoneMark[]) => void;
}

/**
 * Write-behind for the call log: the call-level events of one event-loop turn are coalesced
 * per call (only the newest snapshot is written) and written in one transaction on the next
 * turn, so a burst of AMI events costs one SQLite commit, not one per domain event. A failed
 * write keeps the snapshots and is tried again every second (never dropped).
 *
 * The backlog is bounded by calls, not by snapshots (a newer snapshot replaces the waiting
 * one). At the bound, a snapshot of a call still in progress that is not already waiting is
 * dropped and counted: a later snapshot (its next change, at the latest its end) writes it.
 * An ended call's final record is always kept, so no ended call is ever lost; the bound is
 * exceeded rather than lose one. `onError` is called on the first failure and whenever the
 * backlog has doubled since it was last called.
 */
type Waiting = { call: Call; at: string; also: (() => void)[] };

export class CallLogWriter {
  private pending = new Map<string, Waiting>();
  private scheduled = false;
  private failing: number | null = null;
  private lastOk: number;
  private lastProbe = -Infinity;
  private reportedBacklog = 0;
  private readonly maxBacklog: number;
  private readonly now: () => number;
  /** One transaction over a batch (wrapped once, see CallLog.saveTx): its done marks and how many `also` writes ran. */
  private readonly writeBatch: (batch: Map<string, Waiting>) => [DoneMark[], number];

  constructor(
    private readonly log: CallLog,
    private readonly db: Db,
    private readonly onError: (err: unknown, calls: number) => void,
    private readonly opts: CallLogWriterOptions = {},
  ) {
    this.maxBacklog = opts.maxBacklog ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.lastOk = this.now();
    this.writeBatch = db.transaction((batch: Map<string, Waiting>): [DoneMark[], number] => {
      let marks: DoneMark[] = [];
      let also = 0;
      for (const w of batch.values()) {
        marks = marks.concat(this.log.save(w.call, w.at) ?? []);
        for (const write of w.also) write();
        also += w.also.length;
      }
      return [marks, also];
    });
  }

  /**
   * `also`: a write for the same transaction (the webhook outbox rows this change causes); every
   * one is kept, in order, when snapshots coalesce, and a change that carries one is never dropped.
   */
  save(call: Call, at: string, also?: () => void): void {
    const waiting = this.pending.get(call.callId);
    if (!waiting && !also && call.state !== "ended" && this.pending.size >= this.maxBacklog) {
      this.opts.onDrop?.(call.callId);
      return;
    }
    const writes = waiting?.also ?? [];
    if (also) writes.push(also);
    this.pending.set(call.callId, { call, at, also: writes });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write everything pending now (also called on stop). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    let marks: DoneMark[] = [];
    let also = 0;
    try {
      [marks, also] = this.writeBatch(batch);
      this.succeeded(batch.size);
      if (also > 0) this.opts.onCommitted?.();
    } catch (err) {
      // Keep what failed, unless a newer snapshot of the same call arrived meanwhile (its
      // writes go after the failed ones: a call's events stay in order).
      for (const [id, v] of batch) {
        const newer = this.pending.get(id);
        if (!newer) this.pending.set(id, v);
        else newer.also.unshift(...v.also);
      }
      this.failed(err);
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => this.flush(), 1000).unref();
      }
      return;
    }
    if (marks.length > 0) this.opts.onDone?.(marks);
  }

  /**
   * Does the store take writes? Answered from the last write while it is recent; when nothing
   * was written for a while (a quiet night), one row is written to find out, at most once per
   * PROBE_AFTER_MS however often /healthz is asked. A failing probe counts as a failing write.
   */
  checkWritable(): void {
    const now = this.now();
    if (this.failing !== null && this.pending.size > 0) return; // the retry timer is on it
    if (this.failing === null && now - this.lastOk < PROBE_AFTER_MS) return;
    if (now - this.lastProbe < PROBE_AFTER_MS) return;
    this.lastProbe = now;
    try {
      this.log.probe(new Date(now).toISOString());
      this.succeeded(0);
    } catch (err) {
      this.failed(err);
    }
  }

  private succeeded(calls: number): void {
    this.lastOk = this.now();
    if (this.failing !== null) {
      const since = this.failing;
      this.failing = null;
      this.reportedBacklog = 0;
      this.opts.onRecovered?.(calls, since);
    }
  }

  private failed(err: unknown): void {
    if (this.failing === null || this.pending.size >= 2 * this.reportedBacklog) {
      this.reportedBacklog = this.pending.size;
      this.onError(err, this.pending.size);
    }
    this.failing ??= this.now();
  }

  get backlog(): number {
    return this.pending.size;
  }

  /** When writes started failing (epoch ms), or null while the last write succeeded. */
  get failingSince(): number | null {
    return this.failing;
  }
}

/** open_calls rows → linkedid → the call's last snapshot; a row that does not parse restores nothing (its callId still comes from the callId map). Both stores. */
export function openSnapshotsByLinkedId(rows: readonly { linked_id: string; snapshot: string }[]): Map<string, Call> {
  const out = new Map<string, Call>();
  for (const r of rows) {
    try {
      const call = JSON.parse(r.snapshot) as Call;
      if (call && typeof call === "object" && typeof call.callId === "string") out.set(r.linked_id, call);
    } catch {
      // skipped: see above
    }
  }
  return out;
}
