/**
 * `npm run bench`: builds the shared stream, starts the loopback feeder, runs each selected
 * benchmark in its own child process, prints the table and ratios, and appends a row to
 * docs/benchmarks.md.
 *
 *   node --expose-gc dist/bench/run.js [--only NAME|GROUP[,…]] [--messages N] [--no-record]
 *                                      [--traces DIR] [--doc FILE] [--timeout SECONDS]
 *                                      [--repeat N] [--json FILE]
 *
 * `--repeat N` runs the selection N times (latency on a shared machine needs min/median/max);
 * every result, with the load average before and after it, goes to `--json` (default
 * bench-results.json), which bench/plot.ts turns into docs/images/*.png and the issue-12 table.
 *
 * Paths default to the repository layout, relative to the working directory (npm runs
 * scripts from the package root).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { runIsolated } from "./child.js";
import { startFeeder } from "./feeder.js";
import { BENCHES, GROUPS, SKIPPED, type BenchResult } from "./registry.js";
import { commit, machine, printReport, recordRun } from "./report.js";
import { buildStream } from "./stream.js";

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    messages: { type: "string", default: "300000" },
    "no-record": { type: "boolean", default: false },
    traces: { type: "string", default: "test/fixtures/ami" },
    doc: { type: "string", default: "docs/benchmarks.md" },
    timeout: { type: "string", default: "60" },
    repeat: { type: "string", default: "1" },
    json: { type: "string", default: "bench-results.json" },
  },
});

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer 1..${max}, got ${raw}`);
  return n;
}

async function main(): Promise<void> {
  const targetMessages = positiveInt("messages", values.messages, 5_000_000);
  const timeoutMs = positiveInt("timeout", values.timeout, 600) * 1000;
  const repeat = positiveInt("repeat", values.repeat, 20);
  const names = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((n) => GROUPS[n] ?? [n]);
  const unknown = names?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}; groups: ${Object.keys(GROUPS).join(", ")}`);
  }
  const selected = names ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    console.warn("warning: run with node --expose-gc so each measurement starts from a collected heap");
  }

  console.log(`machine: ${machine()}`);
  const t0 = Date.now();
  const stream = buildStream(values.traces, targetMessages);
  console.log(`built the stream in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { dispose, ...info } = stream;
  const runs: BenchResult[][] = [];
  const started = new Date().toISOString();
  const rev = commit();
  // Rewritten after every result, so a run that dies half-way keeps what it measured.
  const writeJson = (records: JsonRecord[], failures: string[]) => {
    mkdirSync(dirname(values.json), { recursive: true });
    const doc = { date: started, commit: rev, machine: machine(), stream: info, repeat, failures, results: records };
    writeFileSync(values.json, `${JSON.stringify(doc, null, 1)}\n`);
  };
  const failures: string[] = [];
  const skipped: string[] = [];
  const records: JsonRecord[] = [];
  try {
    const feeder = await startFeeder(stream.path);
    try {
      for (let rep = 0; rep < repeat; rep++) {
        const results: BenchResult[] = [];
        for (const entry of selected) {
          const bench = await entry.load();
          process.stdout.write(`${repeat > 1 ? `[${rep + 1}/${repeat}] ` : ""}running ${bench.name} (${bench.title}) … `);
          const loadBefore = loadavg();
          try {
            const budget = Math.max(timeoutMs, (entry.minTimeoutS ?? 0) * 1000);
            const r = await runIsolated(bench.name, { stream: info, feederPort: feeder.port, timeoutMs: budget, traces: values.traces });
            results.push(r);
            records.push({ repetition: rep, loadBefore, loadAfter: loadavg(), ...r });
            writeJson(records, failures);
            console.log(`${r.metrics.seconds.toFixed(2)} s (load ${loadBefore.map((x) => x.toFixed(2)).join(" ")})`);
          } catch (err) {
            const msg = err instanceof Error ? err.message : String(err);
            // A benchmark this machine cannot run (the descriptor limit for 25,000+ clients) is skipped, not failed.
            if (msg.includes(SKIPPED)) {
              skipped.push(msg);
              console.log("skipped");
            } else {
              failures.push(msg);
              console.log("failed");
            }
          }
        }
        runs.push(results);
      }
    } finally {
      feeder.stop();
    }
  } finally {
    dispose();
  }

  let failed = failures.length > 0;
  for (const results of runs) {
    const summary = printReport(info, results, runs.length === 1 ? failures : []);
    failed ||= summary.checks.some((c) => c.ok === false);
    if (!values["no-record"] && results.length > 0) {
      recordRun(values.doc, info, results, summary);
      console.log(`\nappended a row to ${values.doc}`);
    }
  }
  for (const s of new Set(skipped)) console.log(`  skipped ${s}`);
  writeJson(records, failures);
  console.log(`wrote ${records.length} results to ${values.json}`);
  if (failed) process.exitCode = 1;
}

/** One result in the JSON file: which repetition, and the load average (1, 5, 15 min) around it. */
type JsonRecord = BenchResult & { repetition: number; loadBefore: number[]; loadAfter: number[] };

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
