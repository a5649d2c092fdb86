// Scratch diagnostics: GC entries and long macrotask callbacks, in hrtime ms.
import { PerformanceObserver, performance } from "node:perf_hooks";
import { createHook } from "node:async_hooks";
export const base = Number(process.hrtime.bigint()) / 1e6 - performance.now();
export const gcs = [];
export const busy = [];
export function startGc() {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push([base + e.startTime, e.duration, e.detail?.kind ?? e.kind]); }).observe({ entryTypes: ["gc"] });
}
export function startBusy(minMs = 0.05) {
  const types = new Map();
  const stack = [];
  createHook({
    init(id, type) { types.set(id, type); },
    before(id) { stack.push([id, performance.now()]); },
    after(id) { const s = stack.pop(); if (!s) return; const d = performance.now() - s[1]; if (d >= minMs) busy.push([base + s[1], d, types.get(id) ?? "?"]); },
    destroy(id) { types.delete(id); },
  }).enable();
}
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
import { readFileSync } from "node:fs";
/** ms this thread waited runnable on a run queue (schedstat field 2), and ms on CPU (field 1). */
export function sched() { const f = readFileSync("/proc/thread-self/schedstat", "latin1").split(" "); return [Number(f[1]) / 1e6, Number(f[0]) / 1e6]; }
import { readdirSync } from "node:fs";
/** Per thread of this process: [name, ms on CPU, ms waiting runnable]. */
export function threads() {
  const out = {};
  for (const t of readdirSync("/proc/self/task")) {
    try { const f = readFileSync(`/proc/self/task/${t}/schedstat`, "latin1").split(" "); out[t] = [readFileSync(`/proc/self/task/${t}/comm`, "latin1").trim(), Number(f[0]) / 1e6, Number(f[1]) / 1e6]; } catch {}
  }
  return out;
}
export function threadDiff(a, b) {
  const rows = {};
  for (const [t, [n, c, r]] of Object.entries(b)) { const p = a[t] ?? [n, 0, 0]; const k = t === String(process.pid) ? 'main' : `${n}#${t}`; rows[k] ??= [0, 0]; rows[k][0] += c - p[1]; rows[k][1] += r - p[2]; }
  return Object.entries(rows).filter(([, v]) => v[0] > 0.5 || v[1] > 0.5).map(([k, v]) => `${k}: cpu ${v[0].toFixed(1)} rq ${v[1].toFixed(1)}`).join("; ");
}
