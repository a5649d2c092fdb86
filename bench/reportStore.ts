/**
 * The store part of the report (issue 7): time per CallLog.save at 10k, 100k and 1M stored
 * calls, one row per run in docs/benchmarks.md under STORE_HEADING, and the flatness check.
 */
import type { BenchResult } from "./registry.js";

export const STORE_HEADING = "## Results: store, time per save against stored history";
export const STORE_TABLE_HEAD = `| date (UTC) | commit | machine | method | stored calls | inbound answered p50 / p99 µs | missed p50 / p99 µs | outbound call-back p50 / p99 µs | old call-back statement p50 µs | populate s |
|---|---|---|---|---|---|---|---|---|---|`;
export const STORE_SIZES = ["store-10k", "store-100k", "store-1m"] as const;
/** The call-back save at the largest history may cost at most this many times the smallest's (p50). */
export const STORE_FLAT_FACTOR = 3;

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const extraOf = (results: readonly BenchResult[], name: string) => results.find((r) => r.name === name)?.metrics.extra;

export function storeChecks(results: readonly BenchResult[]): { label: string; ok: boolean | undefined }[] {
  const ran = STORE_SIZES.map((n) => extraOf(results, n)).filter((x) => x !== undefined);
  if (ran.length < 2) return [];
  const first = ran[0]!;
  const last = ran[ran.length - 1]!;
  const ok = ["inbound", "missed", "callback"].every((k) => last[`${k}P50Us`]! <= STORE_FLAT_FACTOR * first[`${k}P50Us`]!);
  return [{ label: `store: save p50 at ${fmt(last.rows)} stored calls ≤ ${STORE_FLAT_FACTOR}× at ${fmt(first.rows)} (every kind)`, ok }];
}

/** One table row (after date/commit/machine/method) per store size that ran. */
export function storeRows(results: readonly BenchResult[]): string[][] {
  const rows: string[][] = [];
  for (const name of STORE_SIZES) {
    const x = extraOf(results, name);
    if (!x) continue;
    const pair = (k: string) => `${fmt(x[`${k}P50Us`], 0)} / ${fmt(x[`${k}P99Us`], 0)}`;
    rows.push([fmt(x.rows), pair("inbound"), pair("missed"), pair("callback"), fmt(x.legacyCallbackP50Us, 0), fmt(x.populateSeconds, 1)]);
  }
  return rows;
}

export function storeLines(results: readonly BenchResult[]): string[] {
  const rows = storeRows(results);
  if (rows.length === 0) return [];
  return ["stored calls | inbound p50/p99 µs | missed p50/p99 µs | call-back p50/p99 µs | old call-back p50 µs | populate s", ...rows.map((r) => r.join(" | "))];
}
