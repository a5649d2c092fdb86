/**
 * `ctibridge export`: stored calls for reporting. `jsonl`: one call per line in the REST call
 * shape (GET /api/calls); `csv`: one row per call, the flat columns below (docs/data.md).
 */
import type { StoredCall } from "./callLog.js";

export const CSV_COLUMNS = [
  "call_id",
  "started",
  "answered",
  "ended",
  "direction",
  "state",
  "outcome",
  "end_reason",
  "from",
  "from_e164",
  "from_name",
  "to",
  "to_e164",
  "to_name",
  "did",
  "queue",
  "answered_by_user",
  "answered_by_device",
  "wait_seconds",
  "talk_seconds",
  "hangup_cause",
  "transfer",
  "users",
  "missed_by",
  "click_to_dial",
  "recording",
] as const;

export function csvRow(c: StoredCall): string {
  const users = [...new Set(c.legs.map((l) => l.userId).filter((u): u is string => u !== null))];
  const missed = [...new Set(c.legs.filter((l) => l.outcome === "missed" && l.userId !== null).map((l) => l.userId!))];
  const values: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    call_id: c.callId,
    started: c.times.started,
    answered: c.times.answered,
    ended: c.times.ended,
    direction: c.direction,
    state: c.state,
    outcome: c.outcome,
    end_reason: c.endReason,
    from: c.from.raw,
    from_e164: c.from.e164,
    from_name: c.from.name,
    to: c.to.raw,
    to_e164: c.to.e164,
    to_name: c.to.name,
    did: c.did,
    queue: c.queue,
    answered_by_user: c.answeredBy?.userId,
    answered_by_device: c.answeredBy?.device,
    wait_seconds: c.times.waitSeconds,
    talk_seconds: c.times.talkSeconds,
    hangup_cause: c.hangupCause?.code,
    transfer: c.transfer?.kind,
    users: users.join(";"),
    missed_by: missed.join(";"),
    click_to_dial: c.clickToDial ? 1 : 0,
    recording: c.recording,
  };
  return CSV_COLUMNS.map((k) => csvField(values[k])).join(",");
}

/**
 * RFC 4180 quoting; a text cell a spreadsheet would run as a formula (`=`, `@`, `+`/`-` not
 * followed by a number, tab, CR) gets a leading `'` (caller names come from the PBX).
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && (/^[=@\t\r]/.test(s) || /^[+-](?![0-9][0-9 ]*$)/.test(s))) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
