/**
 * `npm run bench`: builds the shared stream, starts the loopback feeder, runs each selected
 * benchmark in its own child process, prints the table and ratios, and appends a row to
 * docs/benchmarks.md.
 *
 *   node --expose-gc dist/bench/run.js [--only NAME[,NAME…]] [--messages N] [--no-record]
 *                                      [--traces DIR] [--doc FILE] [--timeout SECONDS]
 *
 * Paths default to the repository layout, relative to the working directory (npm runs
 * scripts from the package root).
 */
import { parseArgs } from "node:util";
import { runIsolated } from "./child.js";
import { startFeeder } from "./feeder.js";
import { BENCHES, type BenchResult } from "./registry.js";
import { machine, printReport, recordRun } from "./report.js";
import { buildStream } from "./stream.js";

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    messages: { type: "string", default: "300000" },
    "no-record": { type: "boolean", default: false },
    traces: { type: "string", default: "test/fixtures/ami" },
    doc: { type: "string", default: "docs/benchmarks.md" },
    timeout: { type: "string", default: "60" },
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
  const names = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}`);
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
  const results: BenchResult[] = [];
  const failures: string[] = [];
  try {
    const feeder = await startFeeder(stream.path);
    try {
      for (const entry of selected) {
        const bench = await entry.load();
        process.stdout.write(`running ${bench.name} (${bench.title}) … `);
        try {
          const r = await runIsolated(bench.name, { stream: info, feederPort: feeder.port, timeoutMs, traces: values.traces });
          results.push(r);
          console.log(`${r.metrics.seconds.toFixed(2)} s`);
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
          console.log("failed");
        }
      }
    } finally {
      feeder.stop();
    }
  } finally {
    dispose();
  }

  const summary = printReport(info, results, failures);
  if (!values["no-record"] && results.length > 0) {
    recordRun(values.doc, info, results, summary);
    console.log(`\nappended a row to ${values.doc}`);
  }
  if (failures.length > 0 || summary.checks.some((c) => c.ok === false)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
