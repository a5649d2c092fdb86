/**
 * The cluster's call log writer end to end (issue 13, method p2): how fast the gateway's
 * StreamArchiver (src/bus/archive.ts) drains the stream into PostgreSQL. A real nats-server and
 * a real PostgreSQL with its durable defaults (fsync on, synchronous_commit on) on 127.0.0.1.
 *
 * Input: every recorded trace replayed through the tracker, every bus event of it as a worker
 * publishes it (the user copies, which the archiver reads and skips, and the call-level copies
 * it writes), repeated under fresh callIds until CALLS calls, published into the stream first.
 * Then an archiver starts on the full stream and the clock runs until it has acknowledged the
 * last message. Rounds (each on a fresh stream and database):
 *   b256-c4   the defaults: batches of 256 messages, 4 calls written at once
 *   b256-c1   one write at a time
 *   b1-c1     no batching (one message per batch: every snapshot written, none coalesced)
 * Each round is bounded by DEADLINE_S.
 *
 * node dist/bench/streamArchive.js [--calls N] [--deadline S]  (after npm run build; needs nats-server and postgresql)
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { StreamArchiver } from "../src/bus/archive.js";
import { subjectOf, type BusEntry } from "../src/bus/entry.js";
import { JetStreamBus } from "../src/bus/jetstream.js";
import type { AnyCallEvent } from "../src/calls/model.js";
import { createLogger } from "../src/log.js";
import { replayFiles } from "../src/replay.js";
import { PostgresCallStore } from "../src/store/postgres/store.js";
import { benchConfig } from "./lab.js";
import { startNats } from "./natsServer.js";
import { postgresBin, startPostgres } from "./pgServer.js";
import { machine } from "./report.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "3000" }, deadline: { type: "string", default: "120" }, traces: { type: "string", default: "test/fixtures/ami" } } });
const CALLS = Number(values.calls);
const DEADLINE_S = Number(values.deadline);

/** Every bus event of every trace, ids prefixed by the trace. */
async function traceEvents(): Promise<AnyCallEvent[]> {
  const out: AnyCallEvent[] = [];
  for (const file of readdirSync(values.traces).filter((f) => f.endsWith(".ami")).sort()) {
    const { events } = await replayFiles([join(values.traces, file)], benchConfig());
    for (const ev of events) {
      // Replays number calls from 1 each: the trace's name keeps them apart.
      const e = structuredClone(ev);
      const id = (x: string) => `${file}/${x}`;
      e.call.callId = id(e.call.callId);
      e.call.linkedIds = e.call.linkedIds.map(id);
      if (e.call.mergedInto) e.call.mergedInto = id(e.call.mergedInto);
      out.push(e);
    }
  }
  return out;
}

/** The events again under copy n's callIds (every copy a distinct set of calls). */
function copyOf(events: AnyCallEvent[], n: number): AnyCallEvent[] {
  return events.map((ev) => {
    const e = structuredClone(ev);
    const id = (x: string) => `${x}#${n}`;
    e.call.callId = id(e.call.callId);
    e.call.linkedIds = e.call.linkedIds.map(id);
    if (e.call.mergedInto) e.call.mergedInto = id(e.call.mergedInto);
    return e;
  });
}

interface Round {
  name: string;
  messages: number;
  callLevel: number;
  calls: number;
  seconds: number;
  written: number;
  stored: number;
}

async function round(name: string, events: AnyCallEvent[][], batchSize: number, concurrency: number): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), "ctib-bench-archive-"));
  const nats = await startNats(dir);
  const pg = await startPostgres({ durable: true });
  const log = createLogger({ level: "warn" });
  const bus = await JetStreamBus.connect({ servers: [nats.url], name: "bench", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
  const store = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres", max: 10 } });
  try {
    await bus.ensureStream();
    await store.open();
    // Publish every copy's events as the worker would (64 publishes in flight: the stream is only the input here).
    let messages = 0;
    let callLevel = 0;
    const pending: Promise<unknown>[] = [];
    for (const copy of events) {
      for (const ev of copy) {
        const entry: BusEntry = { pbxId: "bench", term: 1, sentAt: Date.now(), ev: { kind: "call", event: ev } };
        pending.push(bus.publish(subjectOf(entry), JSON.stringify(entry), `bench:${++messages}`));
        if (ev.userId === null) callLevel++;
        if (pending.length >= 64) await Promise.all(pending.splice(0));
      }
    }
    await Promise.all(pending);
    const last = await bus.lastSeq();
    // Calls merged into another are deleted when they merge: not in the table at the end.
    const merged = new Set(events.flatMap((c) => c.filter((e) => e.call.mergedInto).map((e) => e.call.callId)));
    const calls = new Set(events.flatMap((c) => c.map((e) => e.call.callId)).filter((id) => !merged.has(id))).size;
    const archiver = new StreamArchiver({ bus, store, log, holder: "bench", leaseTtlMs: 2_000, batchSize, ackWaitMs: 30_000, concurrency });
    const t0 = process.hrtime.bigint();
    await archiver.start();
    const deadline = Date.now() + DEADLINE_S * 1000;
    while (archiver.stats.lastSeq < last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const written = archiver.stats.callsWritten;
    await archiver.stop();
    const { rows } = await store.pool.query("SELECT count(*)::int AS n FROM calls");
    return { name, messages: archiver.stats.lastSeq, callLevel, calls, seconds, written, stored: rows[0].n as number };
  } finally {
    await bus.close();
    await store.close();
    await pg.destroy();
    nats.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!postgresBin()) throw new Error("PostgreSQL binaries not found (apt-get install postgresql)");
  const base = await traceEvents();
  const perCopy = new Set(base.map((e) => e.call.callId)).size;
  const copies: AnyCallEvent[][] = [];
  for (let n = 0; n * perCopy < CALLS; n++) copies.push(copyOf(base, n));
  const rounds: Round[] = [];
  rounds.push(await round("b256-c4", copies, 256, 4));
  rounds.push(await round("b256-c1", copies, 256, 1));
  rounds.push(await round("b1-c1", copies, 1, 1));
  console.log(`machine: ${machine()}`);
  console.log(`input: ${copies.length} copies of the ${perCopy} calls of the recorded traces; PostgreSQL durable defaults, pool 10; nats-server 1 node, file store`);
  console.log("| round | messages | call-level | calls | s | messages/s | calls/s | snapshots written | calls stored |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rounds) {
    console.log(`| ${r.name} | ${r.messages} | ${r.callLevel} | ${r.calls} | ${r.seconds.toFixed(2)} | ${Math.round(r.messages / r.seconds)} | ${Math.round(r.calls / r.seconds)} | ${r.written} | ${r.stored} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
