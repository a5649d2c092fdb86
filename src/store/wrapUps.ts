/**
 * After-call work records (table `wrap_ups`, migration 7): one row per (call, agent), running
 * while `ended_at` is null, so a restarted daemon can resume or end what was running, and undo
 * the queue pauses it made for it (`paused`: the [queue, interface] pairs ctibridge paused).
 */
import type { Db } from "./db.js";

export interface WrapUpRow {
  callId: string;
  userId: string;
  since: string;
  /** When it ends by itself; null: until the agent is ready (at most the configured maximum). */
  until: string | null;
  paused: [string, string][];
}

export type WrapUpEndReason = "timeout" | "ready" | "disposition" | "superseded";

export class WrapUpStore {
  private readonly insert;
  private readonly setPausedStmt;
  private readonly endStmt;
  private readonly runningStmt;
  private readonly existsStmt;

  constructor(db: Db) {
    this.insert = db.prepare(
      "INSERT INTO wrap_ups (call_id, user_id, started_at, until, paused) VALUES (?, ?, ?, ?, ?) ON CONFLICT(call_id, user_id) DO UPDATE SET started_at = excluded.started_at, until = excluded.until, ended_at = NULL, seconds = NULL, end_reason = NULL, paused = excluded.paused",
    );
    this.setPausedStmt = db.prepare("UPDATE wrap_ups SET paused = ? WHERE call_id = ? AND user_id = ?");
    this.endStmt = db.prepare("UPDATE wrap_ups SET ended_at = ?, seconds = ?, end_reason = ? WHERE call_id = ? AND user_id = ? AND ended_at IS NULL");
    this.existsStmt = db.prepare("SELECT 1 FROM wrap_ups WHERE call_id = ? AND user_id = ?");
    this.runningStmt = db.prepare("SELECT call_id, user_id, started_at, until, paused FROM wrap_ups WHERE ended_at IS NULL");
  }

  start(r: WrapUpRow): void {
    this.insert.run(r.callId, r.userId, r.since, r.until, JSON.stringify(r.paused));
  }

  /** Whether this agent had (or has) a wrap-up for this call. */
  exists(callId: string, userId: string): boolean {
    return this.existsStmt.get(callId, userId) !== undefined;
  }

  setPaused(callId: string, userId: string, paused: [string, string][]): void {
    this.setPausedStmt.run(JSON.stringify(paused), callId, userId);
  }

  end(callId: string, userId: string, endedAt: string, seconds: number, reason: WrapUpEndReason): void {
    this.endStmt.run(endedAt, seconds, reason, callId, userId);
  }

  /** Wrap-ups that were running when the daemon stopped (a bad `paused` value counts as none). */
  running(): WrapUpRow[] {
    const rows = this.runningStmt.all() as { call_id: string; user_id: string; started_at: string; until: string | null; paused: string }[];
    return rows.map((r) => {
      let paused: [string, string][] = [];
      try {
        const p = JSON.parse(r.paused) as unknown;
        if (Array.isArray(p)) paused = p.filter((x): x is [string, string] => Array.isArray(x) && x.length === 2 && x.every((v) => typeof v === "string"));
      } catch {
        // nothing known to undo
      }
      return { callId: r.call_id, userId: r.user_id, since: r.started_at, until: r.until, paused };
    });
  }
}
