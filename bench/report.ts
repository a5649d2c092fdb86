/**
 * Turning results into what people read: a console table, the ratios that DESIGN §7 asks
 * for (ours ÷ asterisk-manager, ours ÷ the raw socket), the target checks, and one dated row
 * per run in docs/benchmarks.md, so the history of the numbers lives next to the code.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { dirname } from "node:path";
import type { BenchResult, StreamInfo } from "./registry.js";
import { docTemplate, DOS_HEADING, ENGINE_HEADING, METHOD_ID, RESULTS_HEADING } from "./reportDoc.js";
import { dosRow, engineChecks, engineLines, engineRow } from "./reportEngine.js";
import { STORE_HEADING, STORE_TABLE_HEAD, storeChecks, storeLines, storeRows } from "./reportStore.js";

export const TARGET_RATIO = 4;
export const TARGET_PEAK_RSS_MB = 100;

const MB = 1024 * 1024;
const rate = (n: number | undefined, s: number) => (n === undefined || s <= 0 ? undefined : n / s);
const fmt = (n: number | undefined, digits = 0) =>
  n === undefined ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export interface Summary {
  readonly ratio?: number;
  /** asterisk-manager's CPU µs per message ÷ ours: less sensitive to other load than wall time. */
  readonly cpuRatio?: number;
  readonly memoryRatio?: number;
  readonly ceilingShare?: number;
  readonly checks: { label: string; ok: boolean | undefined }[];
}

export function summarize(results: readonly BenchResult[]): Summary {
  const by = (name: string) => results.find((r) => r.name === name)?.metrics;
  const ours = by("codec");
  const mem = by("codec-memory");
  const base = by("asterisk-manager");
  const raw = by("raw");
  const mps = (m: typeof ours) => (m ? rate(m.messages, m.seconds) : undefined);
  const div = (a: number | undefined, b: number | undefined) => (a === undefined || !b ? undefined : a / b);
  const ratio = div(mps(ours), mps(base));
  const cpuPerMsg = (m: typeof ours) => (m?.cpuMicros !== undefined && m.messages ? m.cpuMicros / m.messages : undefined);
  // The target is in MB (10^6 bytes), stricter than MiB; the tables show MiB.
  const peakMb = ours?.peakRssBytes === undefined ? undefined : ours.peakRssBytes / 1e6;
  return {
    ratio,
    cpuRatio: div(cpuPerMsg(base), cpuPerMsg(ours)),
    memoryRatio: div(mps(mem), mps(base)),
    ceilingShare: div(ours && rate(ours.bytes, ours.seconds), raw && rate(raw.bytes, raw.seconds)),
    checks: [
      { label: `ours ≥ ${TARGET_RATIO}× asterisk-manager (messages/s, loopback TCP)`, ok: ratio === undefined ? undefined : ratio >= TARGET_RATIO },
      { label: `peak RSS while decoding < ${TARGET_PEAK_RSS_MB} MB (10^6 bytes)`, ok: peakMb === undefined ? undefined : peakMb < TARGET_PEAK_RSS_MB },
      ...engineChecks(results),
      ...storeChecks(results),
    ],
  };
}

export function printReport(stream: StreamInfo, results: readonly BenchResult[], failures: readonly string[]): Summary {
  const rows = results.map((r) => {
    const m = r.metrics;
    return [
      r.name,
      fmt(m.messages),
      fmt((m.bytes ?? 0) / MB, 1),
      fmt(m.seconds, 3),
      fmt(rate(m.messages, m.seconds)),
      fmt(rate(m.bytes !== undefined ? m.bytes / MB : undefined, m.seconds), 0),
      fmt(m.cpuMicros !== undefined && m.messages ? m.cpuMicros / m.messages : undefined, 2),
      m.peakRssBytes === undefined ? "—" : `${fmt(m.peakRssBytes / MB, 1)} (from ${fmt((m.baseRssBytes ?? 0) / MB, 1)})`,
    ];
  });
  const head = ["bench", "messages", "MiB", "seconds", "messages/s", "MiB/s", "CPU µs/msg", "peak RSS MiB"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(`\nstream: ${fmt(stream.messages)} messages, ${fmt(stream.bytes / MB, 1)} MiB (${stream.traces} traces × ${stream.copies} renumbered copies)\n`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  for (const r of results) for (const n of r.notes) console.log(`  ${r.name}: ${n}`);
  for (const f of failures) console.log(`  FAILED ${f}`);

  const s = summarize(results);
  console.log(`\nours ÷ asterisk-manager (TCP):       ${s.ratio === undefined ? "—" : s.ratio.toFixed(2) + "×"}`);
  console.log(`same, by CPU time per message:       ${s.cpuRatio === undefined ? "—" : s.cpuRatio.toFixed(2) + "×"}`);
  console.log(`ours in-memory ÷ asterisk-manager:   ${s.memoryRatio === undefined ? "—" : s.memoryRatio.toFixed(2) + "×"}`);
  // The second baseline (issue 12), by CPU time per message like the line above it.
  const cpu = (name: string) => {
    const m = results.find((r) => r.name === name)?.metrics;
    return m?.cpuMicros !== undefined && m.messages ? m.cpuMicros / m.messages : undefined;
  };
  const aac = cpu("asterisk-ami-client");
  const ours = cpu("codec");
  console.log(`asterisk-ami-client ÷ ours, CPU/msg: ${aac === undefined || ours === undefined ? "—" : (aac / ours).toFixed(2) + "×"}`);
  console.log(`ours TCP bytes/s ÷ raw socket:       ${s.ceilingShare === undefined ? "—" : (s.ceilingShare * 100).toFixed(1) + " %"}`);
  const engine = engineLines(results);
  if (engine.length > 0) console.log(`\ncall engine and screen pop:\n${engine.join("\n")}`);
  const store = storeLines(results);
  if (store.length > 0) console.log(`\nstore, time per save:\n${store.join("\n")}`);
  for (const c of s.checks) console.log(`${c.ok === undefined ? "n/a " : c.ok ? "PASS" : "FAIL"}  ${c.label}`);
  return s;
}

export function machine(): string {
  const model = cpus()[0]?.model.replace(/\s+/g, " ").trim() ?? "unknown CPU";
  return `nproc ${availableParallelism()}, ${model}, ${fmt(totalmem() / 1024 ** 3, 0)} GiB, node ${process.version}`;
}

export function commit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", timeout: 5_000 }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src/ami", "src/sim", "src/calls", "src/publish", "src/store", "bench"], { encoding: "utf8", timeout: 5_000 });
    return dirty.trim() === "" ? head : `${head}+wip`;
  } catch {
    return "unknown";
  }
}

/** Appends this run's row at the end of the results table, creating the document if needed. */
export function recordRun(docPath: string, stream: StreamInfo, results: readonly BenchResult[], s: Summary): void {
  const by = (name: string) => results.find((r) => r.name === name)?.metrics;
  const mps = (name: string) => {
    const m = by(name);
    return m ? fmt(rate(m.messages, m.seconds)) : "—";
  };
  const raw = by("raw");
  const ours = by("codec");
  const row = [
    new Date().toISOString().slice(0, 16).replace("T", " "),
    commit(),
    machine(),
    METHOD_ID,
    `${fmt(stream.messages)} msgs, ${fmt(stream.bytes / MB, 0)} MiB`,
    raw ? `${fmt(rate(raw.bytes, raw.seconds)! / 1e9, 2)} GB/s` : "—",
    mps("codec"),
    ours?.cpuMicros !== undefined && ours.messages ? fmt(ours.cpuMicros / ours.messages, 2) : "—",
    ours?.peakRssBytes !== undefined ? `${fmt(ours.peakRssBytes / MB, 1)} MiB` : "—",
    mps("codec-memory"),
    mps("asterisk-manager"),
    s.ratio === undefined ? "—" : `${s.ratio.toFixed(2)}×`,
    s.cpuRatio === undefined ? "—" : `${s.cpuRatio.toFixed(2)}×`,
    s.checks.map((c) => (c.ok === undefined ? "n/a" : c.ok ? "pass" : "FAIL")).join(" / "),
  ];
  if (!existsSync(docPath)) {
    mkdirSync(dirname(docPath), { recursive: true });
    writeFileSync(docPath, docTemplate());
  }
  const lines = readFileSync(docPath, "utf8").split("\n");
  const codecRan = ["raw", "codec", "codec-memory", "asterisk-manager"].some((n) => by(n) !== undefined);
  if (codecRan) appendRow(docPath, lines, RESULTS_HEADING, row);
  const engine = engineRow(results);
  if (engine) appendRow(docPath, lines, ENGINE_HEADING, [row[0]!, row[1]!, row[2]!, METHOD_ID, ...engine]);
  const store = storeRows(results);
  if (store.length > 0 && !lines.includes(STORE_HEADING)) lines.push("", STORE_HEADING, "", ...STORE_TABLE_HEAD.split("\n"), "");
  for (const cells of store) appendRow(docPath, lines, STORE_HEADING, [row[0]!, row[1]!, row[2]!, "s1", ...cells]);
  const dos = dosRow(results);
  if (dos && lines.includes(DOS_HEADING)) appendRow(docPath, lines, DOS_HEADING, [row[0]!, row[1]!, row[2]!, ...dos]);
  writeFileSync(docPath, lines.join("\n"));
}

/** Puts `cells` after the last line of the first table under `heading`. */
function appendRow(docPath: string, lines: string[], heading: string, cells: string[]): void {
  const h = lines.indexOf(heading);
  if (h < 0) throw new Error(`${docPath} has no "${heading}" section`);
  // The table is the first run of `|` lines after the heading; the row goes after its last line.
  let at = lines.findIndex((l, i) => i > h && l.startsWith("|"));
  if (at < 0) throw new Error(`${docPath}: no table under "${heading}"`);
  while (lines[at + 1]?.startsWith("|")) at++;
  lines.splice(at + 1, 0, `| ${cells.join(" | ")} |`);
}
