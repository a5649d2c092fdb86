/**
 * The call log: every call and leg in SQLite, and the open-call map that lets a restarted
 * daemon keep the callIds of calls still up. The one place that maps Call ⇄ snake_case rows.
 */
import type { Db } from "./db.js";
import type { Annotation, Call, LegOutcome } from "../calls/model.js";

export interface CallQuery {
  userId?: string;
  /** ISO date or date-time: calls started at or after it. */
  since?: string;
  /** Only calls with a leg whose outcome is `missed` (of `userId` when given). */
  missed?: boolean;
  /** Missed calls not yet called back or marked done. */
  openOnly?: boolean;
  limit?: number;
}

export interface StoredLeg {
  userId: string | null;
  device: string;
  outcome: LegOutcome | null;
  answeredAt: string | null;
  endedAt: string | null;
  done: boolean;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

export class CallLog {
  private readonly upsertCall;
  private readonly deleteLegs;
  private readonly insertLeg;
  private readonly upsertOpen;
  private readonly deleteOpen;

  constructor(private readonly db: Db) {
    this.upsertCall = db.prepare(`
      INSERT INTO calls (call_id, linked_ids, direction, state, from_raw, from_e164, from_name, to_raw, to_e164, to_name,
        did, queue, outcome, answered_by_user, answered_by_device, started_at, ringing_at, answered_at, ended_at,
        wait_seconds, talk_seconds, hangup_cause, hangup_text, end_reason, transfer, ivr, recording, restored,
        click_to_dial, conference, updated_at)
      VALUES (@call_id, @linked_ids, @direction, @state, @from_raw, @from_e164, @from_name, @to_raw, @to_e164, @to_name,
        @did, @queue, @outcome, @answered_by_user, @answered_by_device, @started_at, @ringing_at, @answered_at, @ended_at,
        @wait_seconds, @talk_seconds, @hangup_cause, @hangup_text, @end_reason, @transfer, @ivr, @recording, @restored,
        @click_to_dial, @conference, @updated_at)
      ON CONFLICT(call_id) DO UPDATE SET linked_ids = excluded.linked_ids, direction = excluded.direction,
        state = excluded.state, from_raw = excluded.from_raw, from_e164 = excluded.from_e164, from_name = excluded.from_name,
        to_raw = excluded.to_raw, to_e164 = excluded.to_e164, to_name = excluded.to_name, did = excluded.did,
        queue = excluded.queue, outcome = excluded.outcome, answered_by_user = excluded.answered_by_user,
        answered_by_device = excluded.answered_by_device, ringing_at = excluded.ringing_at,
        answered_at = excluded.answered_at, ended_at = excluded.ended_at, wait_seconds = excluded.wait_seconds,
        talk_seconds = excluded.talk_seconds, hangup_cause = excluded.hangup_cause, hangup_text = excluded.hangup_text,
        end_reason = excluded.end_reason, transfer = excluded.transfer, ivr = excluded.ivr,
        recording = excluded.recording, restored = excluded.restored, click_to_dial = excluded.click_to_dial,
        conference = excluded.conference, updated_at = excluded.updated_at`);
    this.deleteLegs = db.prepare("DELETE FROM legs WHERE call_id = ? AND done = 0");
    this.insertLeg = db.prepare(`
      INSERT INTO legs (call_id, device, user_id, state, outcome, placed, ringing_at, answered_at, ended_at, wait_seconds, talk_seconds)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(call_id, device) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
        outcome = excluded.outcome, ringing_at = excluded.ringing_at, answered_at = excluded.answered_at,
        ended_at = excluded.ended_at, wait_seconds = excluded.wait_seconds, talk_seconds = excluded.talk_seconds`);
    this.upsertOpen = db.prepare(
      "INSERT INTO open_calls (linked_id, call_id, snapshot, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(linked_id) DO UPDATE SET call_id = excluded.call_id, snapshot = excluded.snapshot, updated_at = excluded.updated_at",
    );
    this.deleteOpen = db.prepare("DELETE FROM open_calls WHERE call_id = ?");
  }

  /** Write the call, its legs and (while it runs) its open-call entry, in one transaction. */
  save(call: Call, now: string): void {
    if (call.mergedInto) {
      this.db.transaction(() => {
        this.deleteOpen.run(call.callId);
        this.db.prepare("DELETE FROM calls WHERE call_id = ?").run(call.callId);
      })();
      return;
    }
    this.db.transaction(() => {
      this.upsertCall.run({
        call_id: call.callId,
        linked_ids: JSON.stringify(call.linkedIds),
        direction: call.direction,
        state: call.state,
        from_raw: call.from.raw,
        from_e164: call.from.e164,
        from_name: call.from.name,
        to_raw: call.to.raw,
        to_e164: call.to.e164,
        to_name: call.to.name,
        did: call.did,
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
        updated_at: now,
      });
      this.deleteLegs.run(call.callId);
      for (const l of call.legs) {
        this.insertLeg.run(call.callId, l.device, l.userId, l.state, l.outcome, l.placed ? 1 : 0, l.ringingAt, l.answeredAt, l.endedAt, l.waitSeconds, l.talkSeconds);
      }
      if (call.state === "ended") this.deleteOpen.run(call.callId);
      else for (const id of call.linkedIds) this.upsertOpen.run(id, call.callId, JSON.stringify(call), now);
      if (call.state === "ended" && call.direction !== "inbound") this.markCalledBack(call);
    })();
  }

  /** A call placed back to a number that had missed us closes those missed legs. */
  private markCalledBack(call: Call): void {
    const placer = call.legs.find((l) => l.placed);
    if (!placer?.userId || call.outcome !== "answered") return;
    const key = call.to.e164 ?? call.to.raw;
    if (!key) return;
    this.db
      .prepare(
        `UPDATE legs SET done = 1, done_at = ? WHERE user_id = ? AND outcome = 'missed' AND done = 0
         AND call_id IN (SELECT call_id FROM calls WHERE coalesce(from_e164, from_raw) = ? AND started_at < ?)`,
      )
      .run(call.times.ended, placer.userId, key, call.times.started);
  }

  /** Mark a user's missed leg done (called back another way, or dismissed). */
  markDone(callId: string, userId: string, at: string): boolean {
    return this.db.prepare("UPDATE legs SET done = 1, done_at = ? WHERE call_id = ? AND user_id = ? AND outcome = 'missed'").run(at, callId, userId).changes > 0;
  }

  annotate(callId: string, annotation: Annotation): boolean {
    return this.db.prepare("UPDATE calls SET annotation = ? WHERE call_id = ?").run(JSON.stringify(annotation), callId).changes > 0;
  }

  /** linkedid → callId of calls that were open when the daemon stopped. */
  openCallIds(): Map<string, string> {
    const rows = this.db.prepare("SELECT linked_id, call_id FROM open_calls").all() as { linked_id: string; call_id: string }[];
    return new Map(rows.map((r) => [r.linked_id, r.call_id]));
  }

  /** linkedid → the last snapshot of each call that was open when the daemon stopped (a bad row is skipped). */
  openCallSnapshots(): Map<string, Call> {
    const rows = this.db.prepare("SELECT linked_id, snapshot FROM open_calls").all() as { linked_id: string; snapshot: string }[];
    const out = new Map<string, Call>();
    for (const r of rows) {
      try {
        const call = JSON.parse(r.snapshot) as Call;
        if (call && typeof call === "object" && typeof call.callId === "string") out.set(r.linked_id, call);
      } catch {
        // A snapshot that does not parse restores nothing; the callId still comes from openCallIds.
      }
    }
    return out;
  }

  /** Calls still marked open (snapshots), for closing those that vanished while we were down. */
  openCalls(): Call[] {
    const rows = this.db.prepare("SELECT DISTINCT call_id, snapshot FROM open_calls").all() as { call_id: string; snapshot: string }[];
    const seen = new Set<string>();
    return rows.filter((r) => !seen.has(r.call_id) && seen.add(r.call_id)).map((r) => JSON.parse(r.snapshot) as Call);
  }

  list(q: CallQuery = {}): Record<string, unknown>[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.since) {
      where.push("c.started_at >= ?");
      args.push(new Date(q.since).toISOString());
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
    const sql = `SELECT * FROM calls c ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY c.started_at DESC LIMIT ?`;
    args.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
    const rows = this.db.prepare(sql).all(...args) as Record<string, unknown>[];
    const legStmt = this.db.prepare("SELECT * FROM legs WHERE call_id = ? ORDER BY rowid");
    return rows.map((r) => rowToCall(r, legStmt.all(r.call_id) as Record<string, unknown>[]));
  }
}

function parse(v: unknown): unknown {
  return typeof v === "string" ? JSON.parse(v) : null;
}

/** A stored call as the CLI and REST show it (camelCase). */
function rowToCall(r: Record<string, unknown>, legs: Record<string, unknown>[]): Record<string, unknown> {
  return {
    callId: r.call_id,
    direction: r.direction,
    state: r.state,
    from: { raw: r.from_raw, e164: r.from_e164, name: r.from_name },
    to: { raw: r.to_raw, e164: r.to_e164, name: r.to_name },
    did: r.did,
    queue: r.queue,
    outcome: r.outcome,
    answeredBy: r.answered_by_device ? { userId: r.answered_by_user, device: r.answered_by_device } : null,
    times: {
      started: r.started_at,
      ringing: r.ringing_at,
      answered: r.answered_at,
      ended: r.ended_at,
      waitSeconds: r.wait_seconds,
      talkSeconds: r.talk_seconds,
    },
    hangupCause: r.hangup_cause === null ? null : { code: r.hangup_cause, text: r.hangup_text },
    endReason: r.end_reason,
    transfer: parse(r.transfer),
    ivr: parse(r.ivr) ?? {},
    recording: r.recording,
    restored: r.restored === 1,
    conference: r.conference,
    annotation: parse(r.annotation),
    legs: legs.map((l) => ({
      userId: l.user_id,
      device: l.device,
      outcome: l.outcome,
      placed: l.placed === 1,
      answeredAt: l.answered_at,
      endedAt: l.ended_at,
      waitSeconds: l.wait_seconds,
      talkSeconds: l.talk_seconds,
      done: l.done === 1,
    })),
  };
}

/**
 * Write-behind for the call log: the call-level events of one event-loop turn are coalesced
 * per call (only the newest snapshot is written) and written in one transaction on the next
 * turn, so a burst of AMI events costs one SQLite commit, not one per domain event. A failed
 * write keeps the snapshots and is tried again on the next turn (never dropped).
 */
export class CallLogWriter {
  private pending = new Map<string, { call: Call; at: string }>();
  private scheduled = false;

  constructor(
    private readonly log: CallLog,
    private readonly db: Db,
    private readonly onError: (err: unknown, calls: number) => void,
  ) {}

  save(call: Call, at: string): void {
    this.pending.set(call.callId, { call, at });
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
    try {
      this.db.transaction(() => {
        for (const { call, at } of batch.values()) this.log.save(call, at);
      })();
    } catch (err) {
      // Keep what failed, unless a newer snapshot of the same call arrived meanwhile.
      for (const [id, v] of batch) if (!this.pending.has(id)) this.pending.set(id, v);
      this.onError(err, batch.size);
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => this.flush(), 1000).unref();
      }
    }
  }

  get backlog(): number {
    return this.pending.size;
  }
}
