/**
 * PostgreSQL archiver throughput (issue 13, method p1): how many calls per second the
 * PostgreSQL CallStore takes through its idempotent, versioned upsert (src/store/postgres/),
 * on a real server started here on 127.0.0.1 with its default durable settings (fsync on,
 * synchronous_commit on): every commit waits for the WAL flush, as production would.
 *
 * Input: every recorded trace replayed through the tracker (call-level snapshots), the
 * final snapshot of each call cloned under fresh callIds until CALLS calls. Rounds:
 *   final-c1   one save per call, one writer (a standalone daemon's archiver)
 *   final-c8   the same with 8 writers at once (several archivers on one pool)
 *   redeliver  the same snapshots again, one writer (a consumer redelivering: rows unchanged)
 *   all-c1     every snapshot of every call in order, one writer (the archiver's real load:
 *              a call is written at each change), reported per call and per snapshot
 * Each round is bounded by CALLS and by DEADLINE_S; the database is deleted afterwards.
 *
 * node dist/bench/pgArchive.js [--calls N]  (after npm run build; needs Debian's postgresql)
 */
import { parseArgs } from "node:util";
import type { Call } from "../src/calls/model.js";
import { PostgresCallStore } from "../src/store/postgres/store.js";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { iso } from "../src/calls/outcomes.js";
import { replayFiles } from "../src/replay.js";
import { benchConfig, percentile } from "./lab.js";
import { postgresBin, startPostgres } from "./pgServer.js";
import { machine } from "./report.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "5000" }, deadline: { type: "string", default: "60" }, traces: { type: "string", default: "test/fixtures/ami" } } });
const CALLS = Number(values.calls);
const DEADLINE_S = Number(values.deadline);

interface Snap {
  call: Call;
  at: string;
}

/** Every trace's call-level snapshots in order, ids prefixed by the trace (replays number calls from 1 each). */
async function traceSnapshots(): Promise<Snap[]> {
  const out: Snap[] = [];
  for (const file of readdirSync(values.traces).filter((f) => f.endsWith(".ami")).sort()) {
    const { events } = await replayFiles([join(values.traces, file)], benchConfig());
    for (const ev of events) {
      if (ev.userId !== null) continue;
      const call = structuredClone(ev.call);
      call.callId = `${file}/${call.callId}`;
      call.linkedIds = call.linkedIds.map((l) => `${file}/${l}`);
      if (call.mergedInto) call.mergedInto = `${file}/${call.mergedInto}`;
      out.push({ call, at: iso(ev.at) });
    }
  }
  return out;
}

interface Round {
  name: string;
  saves: number;
  calls: number;
  seconds: number;
  p50us: number;
  p99us: number;
}

function clone(call: Call, n: number): Call {
  const c = structuredClone(call);
  c.callId = `${call.callId}#${n}`;
  c.linkedIds = c.linkedIds.map((l) => `${l}#${n}`);
  if (c.mergedInto) c.mergedInto = `${c.mergedInto}#${n}`;
  return c;
}

async function round(name: string, store: PostgresCallStore, work: { call: Call; at: string; seq: number }[], writers: number, calls: number): Promise<Round> {
  const times: number[] = [];
  let next = 0;
  const deadline = Date.now() + DEADLINE_S * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < work.length && Date.now() < deadline) {
        const w = work[next++]!;
        const s = process.hrtime.bigint();
        await store.save(w.call, { at: w.at, seq: w.seq });
        times.push(Number(process.hrtime.bigint() - s) / 1000);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  times.sort((a, b) => a - b);
  const done = times.length;
  return { name, saves: done, calls: Math.round((calls * done) / work.length), seconds, p50us: percentile(times, 50), p99us: percentile(times, 99) };
}

async function main(): Promise<void> {
  if (!postgresBin()) throw new Error("PostgreSQL binaries not found (apt-get install postgresql)");
  const snaps = await traceSnapshots();
  const finals = new Map<string, Snap>();
  for (const s of snaps) if (!s.call.mergedInto) finals.set(s.call.callId, s);
  for (const s of snaps) if (s.call.mergedInto) finals.delete(s.call.callId);
  const base = [...finals.values()].filter((s) => s.call.state === "ended");
  const copies = Math.ceil(CALLS / base.length);
  const final: { call: Call; at: string; seq: number }[] = [];
  for (let n = 0; n < copies && final.length < CALLS; n++) for (const s of base) if (final.length < CALLS) final.push({ call: clone(s.call, n), at: s.at, seq: final.length });
  const all: { call: Call; at: string; seq: number }[] = [];
  const allCopies = Math.ceil(CALLS / finals.size);
  for (let n = 0; n < allCopies; n++) for (const s of snaps) all.push({ call: clone(s.call, 1_000_000 + n), at: s.at, seq: all.length });
  const allCalls = new Set(all.map((w) => w.call.callId)).size;
  // Calls merged into another are deleted when they merge: not in the table at the end.
  const allKept = allCalls - new Set(all.filter((w) => w.call.mergedInto).map((w) => w.call.callId)).size;

  const pg = await startPostgres({ durable: true });
  const store = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres", max: 10 } });
  try {
    await store.open();
    const half = Math.floor(final.length / 2);
    const rounds: Round[] = [];
    rounds.push(await round("final-c1", store, final.slice(0, half), 1, half));
    rounds.push(await round("final-c8", store, final.slice(half), 8, final.length - half));
    rounds.push(await round("redeliver", store, final.slice(0, half), 1, half));
    rounds.push(await round("all-c1", store, all, 1, allCalls));
    const { rows } = await store.pool.query("SELECT (SELECT count(*)::int FROM calls) AS calls, (SELECT count(*)::int FROM legs) AS legs, version() AS v");
    console.log(`machine: ${machine()}`);
    console.log(`postgres: ${String(rows[0].v).split(" on ")[0]}, durable defaults (fsync on, synchronous_commit on), pool 10, loopback TCP`);
    console.log(`stored at the end: ${rows[0].calls} calls, ${rows[0].legs} legs (expected ${final.length} + ${allKept}: final + all-c1 less merged calls)`);
    console.log("| round | saves | calls | s | calls/s | saves/s | save p50 / p99 µs |");
    console.log("|---|---|---|---|---|---|---|");
    for (const r of rounds) {
      console.log(`| ${r.name} | ${r.saves} | ${r.calls} | ${r.seconds.toFixed(2)} | ${Math.round(r.calls / r.seconds)} | ${Math.round(r.saves / r.seconds)} | ${Math.round(r.p50us)} / ${Math.round(r.p99us)} |`);
    }
  } finally {
    await store.close();
    await pg.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
