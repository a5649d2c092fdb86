/**
 * The call-engine and screen-pop part of the report (issues 3 and 4): their target checks
 * and their row in docs/benchmarks.md's second results table. Separate from report.ts so the
 * codec table keeps its columns and old rows stay readable.
 */
import type { BenchResult } from "./registry.js";

export const TARGET_TRACKER_EVENTS_PER_S = 150_000;
export const TARGET_BYTES_PER_CALL = 4_000;
/** p99 screen-pop bounds by scenario (calls = clients). */
export const TARGET_POP_P99_MS: Readonly<Record<string, number>> = { "pop-100": 2, "pop-1000": 20 };

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Issue 7: other users' pops while one agent floods claim/resume frames. */
export const TARGET_ATTACK_P99_MS = 50;

function find(results: readonly BenchResult[], name: string) {
  return results.find((r) => r.name === name)?.metrics;
}

function eventsPerSecond(results: readonly BenchResult[], name: string): number | undefined {
  const m = find(results, name);
  return m?.messages === undefined ? undefined : m.messages / m.seconds;
}

export function engineChecks(results: readonly BenchResult[]): { label: string; ok: boolean | undefined }[] {
  const eps = eventsPerSecond(results, "tracker");
  const perCall = find(results, "call-memory")?.extra?.rssBytesPerCall;
  const checks = [
    {
      label: `decode + track ≥ ${fmt(TARGET_TRACKER_EVENTS_PER_S)} events/s (in memory, one core)`,
      ok: eps === undefined ? undefined : eps >= TARGET_TRACKER_EVENTS_PER_S,
    },
    {
      label: `RSS growth per active call ≤ ${fmt(TARGET_BYTES_PER_CALL)} bytes (10,000 open calls)`,
      ok: perCall === undefined ? undefined : perCall <= TARGET_BYTES_PER_CALL,
    },
  ];
  for (const [name, bound] of Object.entries(TARGET_POP_P99_MS)) {
    const p99 = find(results, name)?.extra?.p99Ms;
    checks.push({ label: `${name}: screen pop p99 < ${bound} ms (paced rings)`, ok: p99 === undefined ? undefined : p99 < bound });
  }
  const attackP99 = find(results, "dos-amplification")?.extra?.attackP99Ms;
  checks.push({
    label: `dos-amplification: other agents' pop p99 < ${TARGET_ATTACK_P99_MS} ms under the attack`,
    ok: attackP99 === undefined ? undefined : attackP99 < TARGET_ATTACK_P99_MS,
  });
  return checks;
}

/** The cells after date/commit/machine/method, or null when none of these benchmarks ran. */
export function engineRow(results: readonly BenchResult[]): string[] | null {
  const names = ["tracker", "tracker-tcp", "call-memory", "pop-100", "pop-1000"];
  if (!names.some((n) => find(results, n))) return null;
  const tracker = find(results, "tracker");
  const mem = find(results, "call-memory")?.extra;
  const pop = (name: string) => {
    const x = find(results, name)?.extra;
    return x ? `${fmt(x.p50Ms, 2)} / ${fmt(x.p99Ms, 2)} / ${fmt(x.maxMs, 2)}` : "—";
  };
  const burst = (name: string) => fmt(find(results, name)?.extra?.burstP99Ms, 1);
  const checks = engineChecks(results).map((c) => (c.ok === undefined ? "n/a" : c.ok ? "pass" : "FAIL"));
  return [
    fmt(eventsPerSecond(results, "tracker")),
    tracker?.cpuMicros !== undefined && tracker.messages ? fmt(tracker.cpuMicros / tracker.messages, 2) : "—",
    fmt(tracker?.extra?.domainEvents),
    fmt(eventsPerSecond(results, "tracker-tcp")),
    mem ? `${fmt(mem.rssBytesPerCall)} (heap ${fmt(mem.heapBytesPerCall)})` : "—",
    pop("pop-100"),
    pop("pop-1000"),
    `${burst("pop-100")} / ${burst("pop-1000")}`,
    fmt(find(results, "pop-1000")?.extra?.fanoutFramesPerSec),
    checks.join(" / "),
  ];
}

/** Console lines for the figures the main table has no columns for. */
export function engineLines(results: readonly BenchResult[]): string[] {
  const row = engineRow(results);
  if (!row) return [];
  const head = ["tracker events/s", "tracker CPU µs/event", "domain events", "tracker-tcp events/s", "bytes/call RSS", "pop 100/100 p50/p99/max ms", "pop 1000/1000 p50/p99/max ms", "burst p99 ms 100/1000", "frames/s, 1000 supervisors"];
  return head.map((h, i) => `${h.padEnd(30)} ${row[i]}`);
}

/** The amplification attack's row (issue 7), or null when it did not run. */
export function dosRow(results: readonly BenchResult[]): string[] | null {
  const x = find(results, "dos-amplification")?.extra;
  if (!x) return null;
  const trio = (a: number | undefined, b: number | undefined, c: number | undefined) => `${fmt(a, 2)} / ${fmt(b, 2)} / ${fmt(c, 2)}`;
  const p99 = x.attackP99Ms;
  return [
    fmt(x.activeCalls),
    `${fmt(x.attackerReplies)} replies, close ${x.attackerCloseCode ? String(x.attackerCloseCode) : "none"}`,
    trio(x.quietP50Ms, x.quietP99Ms, x.quietMaxMs),
    trio(x.attackP50Ms, x.attackP99Ms, x.attackMaxMs),
    p99 === undefined ? "n/a" : p99 < TARGET_ATTACK_P99_MS ? "pass" : "FAIL",
  ];
}
