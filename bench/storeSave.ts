/**
 * Store work per call against the size of the history (issue 7): the time one `CallLog.save`
 * takes with 10k, 100k and 1M calls already stored, in a file database (WAL, as the daemon
 * opens it). The cost must stay flat: every statement of a save is an index search.
 *
 * Population (not timed): one transaction of prepared INSERTs, one call every 30 s going back
 * from the measured calls, from 1 of rows/10 external numbers (ten calls per number spread
 * over the history), one leg each for one of 50 users, a fifth of each user's legs missed.
 * Measured: for each kind (inbound answered, inbound missed, outbound answered: the call-back
 * check, placed by the user who had a recent call from that number, so it finds calls in
 * the window and, for the old statement, thousands of that user's missed legs), SAVES saves of
 * a recorded call's final snapshot under a fresh callId, each its own transaction as
 * `CallLog.save` runs it. For comparison, the call-back statement as it was before the
 * from_key index (coalesce(from_e164, from_raw), no window) is timed on the same database.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Call } from "../src/calls/model.js";
import { replayFiles } from "../src/replay.js";
import { CallLog } from "../src/store/callLog.js";
import { openDb, type Db } from "../src/store/db.js";
import { benchConfig, percentile } from "./lab.js";
import { Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const SAVES = 2_000;
const LEGACY_ROUNDS = 20;
const USERS = 50;
const STEP_MS = 30_000;
/** The measured calls start here; the history lies before it. */
const NOW = Date.UTC(2026, 10, 30, 12);

const KINDS = [
  ["inbound", "06-ringgroup-answered"],
  ["missed", "03-inbound-missed-caller-abandon"],
  ["callback", "11-outbound-answered"],
] as const;
type Kind = (typeof KINDS)[number][0];

const numberOf = (n: number) => `+4930${String(10_000_000 + n)}`;

/** A file database at `path` holding `rows` calls of history (also used by the pop benchmark). */
export function populateHistory(path: string, rows: number, deadline: number): void {
  const db = openDb(path);
  try {
    populate(db, rows, deadline);
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

function populate(db: Db, rows: number, deadline: number): void {
  const call = db.prepare(`INSERT INTO calls (call_id, linked_ids, direction, state, from_raw, from_e164, from_key, to_raw, outcome,
    started_at, ended_at, end_reason, updated_at) VALUES (?, '[]', 'inbound', 'ended', ?, ?, ?, '4930555000', ?, ?, ?, 'hangup', ?)`);
  const leg = db.prepare("INSERT INTO legs (call_id, device, user_id, state, outcome) VALUES (?, ?, ?, 'ended', ?)");
  const numbers = Math.max(1, Math.floor(rows / 10));
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const id = `h${i}`;
      const at = new Date(NOW - (rows - i) * STEP_MS).toISOString();
      const num = numberOf(i % numbers);
      const missed = Math.floor(i / USERS) % 5 === 0;
      call.run(id, num, num, num, missed ? "abandoned" : "answered", at, at, at);
      const u = i % USERS;
      leg.run(id, `PJSIP/${2000 + u}`, `u${u}`, missed ? "missed" : "answered_by_me");
      if ((i & 16_383) === 16_383 && Date.now() > deadline) throw new Error(`populating ${rows} calls exceeded the time budget`);
    }
  })();
}

/** The final snapshot of each kind, made to look like one of the history's numbers and users. */
async function templates(traces: string): Promise<Record<Kind, Call>> {
  const out = {} as Record<Kind, Call>;
  for (const [kind, trace] of KINDS) {
    const { events } = await replayFiles([join(traces, `${trace}.ami`)], benchConfig());
    const last = events.filter((e) => e.userId === null).at(-1)!.call;
    out[kind] = structuredClone(last);
  }
  return out;
}

function instance(t: Call, kind: Kind, i: number, rows: number): Call {
  const c = structuredClone(t);
  c.callId = `${kind}-${i}`;
  const started = new Date(NOW + i * 1_000).toISOString();
  c.times = { ...c.times, started, ended: new Date(NOW + i * 1_000 + 60_000).toISOString() };
  // One of the 5,000 most recent history calls (all within the 7-day window), its number and user.
  const h = rows - 1 - ((i * 13) % Math.min(rows, 5_000));
  const num = numberOf(h % Math.max(1, Math.floor(rows / 10)));
  if (kind === "callback") {
    c.outcome = "answered";
    c.to = { ...c.to, raw: num, e164: num };
    const placer = c.legs.find((l) => l.placed);
    if (placer) placer.userId = `u${h % USERS}`;
  } else c.from = { ...c.from, raw: num, e164: num };
  return c;
}

export function storeBench(rows: number, label: string): Bench {
  return {
    name: `store-${label}`,
    title: `CallLog.save with ${rows.toLocaleString("en-US")} calls stored (file database)`,
    async run(ctx: BenchContext): Promise<BenchResult> {
      const deadline = Date.now() + ctx.timeoutMs;
      const dir = mkdtempSync(join(tmpdir(), "ctib-bench-store-"));
      try {
        const path = join(dir, "bench.db");
        const db = openDb(path);
        const p0 = Date.now();
        populate(db, rows, deadline);
        const populateSeconds = (Date.now() - p0) / 1000;
        db.pragma("wal_checkpoint(TRUNCATE)");
        const log = new CallLog(db);
        const t = await templates(ctx.traces);
        const extra: Record<string, number> = { rows, populateSeconds, dbMiB: statSync(path).size / 2 ** 20 };
        const clock = new Stopwatch();
        let saves = 0;
        for (const [kind] of KINDS) {
          const times: number[] = [];
          for (let i = 0; i < SAVES; i++) {
            const c = instance(t[kind], kind, i, rows);
            const t0 = process.hrtime.bigint();
            log.save(c, c.times.ended!);
            times.push(Number(process.hrtime.bigint() - t0) / 1000);
            if ((i & 255) === 255 && Date.now() > deadline) throw new Error(`store-${label} exceeded its time budget`);
          }
          saves += SAVES;
          times.sort((a, b) => a - b);
          extra[`${kind}P50Us`] = percentile(times, 50);
          extra[`${kind}P99Us`] = percentile(times, 99);
          extra[`${kind}MeanUs`] = times.reduce((a, b) => a + b, 0) / times.length;
        }
        const { cpuNote, ...time } = clock.read();
        const closed = (db.prepare("SELECT count(*) AS n FROM legs WHERE done = 1").get() as { n: number }).n;

        // The statement before from_key: an expression no index serves, no window.
        const legacy = db.prepare(`UPDATE legs SET done = 1, done_at = ? WHERE user_id = ? AND outcome = 'missed' AND done = 0
          AND call_id IN (SELECT call_id FROM calls WHERE coalesce(from_e164, from_raw) = ? AND started_at < ?)`);
        const legacyTimes: number[] = [];
        const legacyStop = Math.min(deadline, Date.now() + 10_000);
        for (let i = 0; i < LEGACY_ROUNDS && Date.now() < legacyStop; i++) {
          const t0 = process.hrtime.bigint();
          const c = instance(t.callback, "callback", SAVES + i, rows);
          const user = c.legs.find((l) => l.placed)?.userId ?? "u0";
          db.transaction(() => legacy.run(c.times.ended, user, c.to.e164, c.times.started))();
          legacyTimes.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        legacyTimes.sort((a, b) => a - b);
        extra.legacyCallbackP50Us = percentile(legacyTimes, 50);
        db.close();
        return {
          name: this.name,
          metrics: { ...time, messages: saves, extra },
          notes: [
            `populated ${rows} calls in ${populateSeconds.toFixed(1)} s (${extra.dbMiB!.toFixed(0)} MiB); ${closed} missed legs closed by call-backs; legacy call-back statement timed ${legacyTimes.length}×`,
            cpuNote,
          ],
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
