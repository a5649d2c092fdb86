/**
 * Webhooks from a cluster's PostgreSQL outbox (issue 13): on a real server started here on
 * 127.0.0.1 with its durable defaults (fsync on, synchronous_commit on).
 *   write   the archiver's cost: SAVES call snapshots saved with their webhook rows (one row per
 *           save, ~2 KB, the ordered insert under its advisory lock) and the same without rows,
 *           4 at a time (cluster.archive.concurrency's default): saves/s each.
 *   deliver the deliverer (src/webhooks/deliver.ts over PgOutbox): EVENTS rows (1,000 calls × 5
 *           events) sent to the receiver of bench/webhooks.ts in another process, concurrency 4
 *           and 16; the clock runs from start() until the `delivered` counter reaches EVENTS,
 *           then the outbox must say every row is delivered: deliveries/s, CPU per delivery.
 * Bounded by the counts and by DEADLINE_S; the database is deleted afterwards.
 *
 * node dist/bench/webhooksPg.js  (after npm run build; needs Debian's postgresql)
 */
import { Registry } from "prom-client";
import type { Call } from "../src/calls/model.js";
import { createLogger } from "../src/log.js";
import { replayFiles } from "../src/replay.js";
import type { NewOutboxRow } from "../src/store/outbox.js";
import { insertOutboxRows, PgOutbox } from "../src/store/postgres/outbox.js";
import { PostgresCallStore } from "../src/store/postgres/store.js";
import { Webhooks } from "../src/webhooks/deliver.js";
import { benchConfig } from "./lab.js";
import { postgresBin, startPostgres } from "./pgServer.js";
import { machine } from "./report.js";
import { deliveredAll, startSink } from "./webhooks.js";

const SAVES = 4_000;
const CALLS = 1_000;
const EVENTS = CALLS * 5;
const DEADLINE_S = 120;

function body(i: number, callId: string): string {
  const call = { callId, direction: "inbound", state: "ended", from: { raw: "0049891234567", e164: "+49891234567", display: "+49 89 1234567", name: null }, pad: "x".repeat(1_700) };
  return JSON.stringify({ id: `evt-${i}`, type: "call.ended", ts: new Date().toISOString(), webhook: "bench", call });
}

async function saves(store: PostgresCallStore, base: Call, withRows: boolean, tag: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + DEADLINE_S * 1000;
  let next = 0;
  const worker = async () => {
    while (next < SAVES && Date.now() < deadline) {
      const i = next++;
      const call = { ...base, callId: `${tag}-${i}`, linkedIds: [`${tag}-${i}`] };
      const rows: NewOutboxRow[] = withRows ? [{ eventId: `${tag}-e${i}`, target: "bench", type: "call.ended", callId: call.callId, payload: body(i, call.callId), at: new Date().toISOString(), seq: i + 1, pos: 0 }] : [];
      await store.save(call, { at: new Date().toISOString(), seq: i + 1 }, rows);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return next / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function deliver(store: PostgresCallStore, concurrency: number): Promise<{ perSec: number; cpuUs: number }> {
  await store.pool.query("DELETE FROM outbox");
  const c = await store.pool.connect();
  try {
    await c.query("BEGIN");
    for (let b = 0; b < EVENTS; b += 500) {
      const rows: NewOutboxRow[] = [];
      for (let i = b; i < Math.min(EVENTS, b + 500); i++) rows.push({ eventId: `c${concurrency}-evt-${i}`, target: "bench", type: "call.ended", callId: `call-${i % CALLS}`, payload: body(i, `call-${i % CALLS}`), at: new Date().toISOString(), seq: i + 1, pos: 0 });
      await insertOutboxRows(c, rows);
    }
    await c.query("COMMIT");
  } finally {
    c.release();
  }
  const sink = await startSink();
  const outbox = new PgOutbox(store.pool);
  const registry = new Registry();
  const webhooks = new Webhooks({
    targets: [{ name: "bench", url: `http://127.0.0.1:${sink.port}/hook`, events: ["call.ended"], secret: "bench-secret-0123456789", timeoutMs: 10_000, maxAttempts: 100, retryForHours: 24, minDelayMs: 1_000, maxDelayMs: 3_600_000, concurrency }],
    outbox,
    log: createLogger({ level: "silent" }),
    registry,
    version: "bench",
    popTemplate: () => undefined,
  });
  try {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    webhooks.start();
    await deliveredAll(registry, EVENTS, DEADLINE_S * 1000);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    if ((await outbox.counts()).delivered !== EVENTS) throw new Error("the outbox does not say every event was delivered");
    if ((await sink.count()) !== EVENTS) throw new Error("the receiver did not answer every event");
    return { perSec: EVENTS / seconds, cpuUs: (cpu.user + cpu.system) / EVENTS };
  } finally {
    webhooks.stop();
    sink.stop();
  }
}

async function main(): Promise<void> {
  if (!postgresBin()) throw new Error("PostgreSQL not installed (apt-get install postgresql)");
  const { events } = await replayFiles(["test/fixtures/ami/01-inbound-answered.ami"], benchConfig());
  const base = events.filter((e) => e.userId === null).at(-1)!.call;
  const pg = await startPostgres({ durable: true });
  const store = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres", max: 10 } });
  try {
    await store.open();
    const without = await saves(store, base, false, "plain");
    const withRows = await saves(store, base, true, "hook");
    const c4 = await deliver(store, 4);
    const c16 = await deliver(store, 16);
    const { rows } = await store.pool.query("SELECT version() AS v");
    console.log(`machine: ${machine()}`);
    console.log(`postgres: ${String(rows[0].v).split(" on ")[0]}, durable defaults (fsync on, synchronous_commit on), pool 10, loopback TCP`);
    console.log("| measure | result |");
    console.log("|---|---|");
    console.log(`| archiver saves/s, 4 at a time, no webhook rows (${SAVES} calls) | ${Math.round(without)} |`);
    console.log(`| archiver saves/s, 4 at a time, one ~2 KB webhook row each (${SAVES} calls) | ${Math.round(withRows)} |`);
    console.log(`| deliveries/s from PostgreSQL, concurrency 4 (${EVENTS} events) | ${Math.round(c4.perSec)} (${Math.round(c4.cpuUs)} µs CPU each) |`);
    console.log(`| deliveries/s from PostgreSQL, concurrency 16 (${EVENTS} events) | ${Math.round(c16.perSec)} (${Math.round(c16.cpuUs)} µs CPU each) |`);
  } finally {
    await store.close();
    await pg.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
