/**
 * Plots and the issue-12 table from the benchmark's JSON (run.ts `--json`):
 *
 *   node dist/bench/plot.js [FILE.json …] [--out docs/images] [--before FILE.json]
 *
 * Several files (or one with `--repeat N`) are pooled: each figure is the median over the
 * repetitions, with the min-max range drawn as a band / printed as "min-max". Charts are
 * drawn as SVG here and rendered to PNG with @resvg/resvg-js:
 *  - pop-latency-vs-clients.png: paced screen-pop p50 / p90 / p99 / max by client count;
 *  - memory-vs-clients.png: daemon RSS per connected client and in all, by client count;
 *  - memory-vs-calls.png: RSS and heap growth of the call tracker by open calls;
 *  - store-vs-history.png: time per call-log save (p50, each kind) by stored calls.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";

interface Rec {
  name: string;
  repetition: number;
  loadBefore: number[];
  metrics: { seconds: number; messages?: number; cpuMicros?: number; peakRssBytes?: number; baseRssBytes?: number; extra?: Record<string, number> };
}
interface RunFile {
  date: string;
  commit: string;
  machine: string;
  results: Rec[];
}

export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number; lo?: number; hi?: number }[];
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: Series[];
  /** Horizontal reference lines (targets). */
  marks?: { y: number; label: string }[];
  footnote?: string;
}

const W = 880;
const H = 520;
const M = { l: 90, r: 200, t: 56, b: 78 };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
    return out.filter((t) => t >= lo * 0.999 && t <= hi * 1.001);
  }
  const step0 = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(t);
  return out;
}

/** One line chart as an SVG document. */
export function lineChart(c: Chart): string {
  const all = c.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]).concat((c.marks ?? []).map((m) => m.y));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (c.xLog) [x0, x1] = [x0 / 1.3, x1 * 1.3];
  else [x0, x1] = [x0 - (x1 - x0) * 0.05, x1 + (x1 - x0) * 0.05];
  if (c.yLog) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  else [y0, y1] = [0, y1 * 1.1];
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const sx = (x: number) => M.l + (c.xLog ? Math.log(x / x0) / Math.log(x1 / x0) : (x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.t + ph - (c.yLog ? Math.log(y / y0) / Math.log(y1 / y0) : (y - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${M.l}" y="30" font-size="18" font-weight="bold">${esc(c.title)}</text>`);
  for (const t of ticks(y0, y1, c.yLog ?? false)) {
    out.push(`<line x1="${M.l}" x2="${M.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${M.l - 8}" y="${sy(t) + 4}" font-size="12" text-anchor="end">${num(t)}</text>`);
  }
  const xt = c.xLog ? [...new Set(xs)].sort((a, b) => a - b) : ticks(Math.min(...xs), Math.max(...xs), false);
  for (const t of xt) {
    out.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.t}" y2="${M.t + ph}" stroke="#efefef"/>`);
    out.push(`<text x="${sx(t)}" y="${M.t + ph + 18}" font-size="12" text-anchor="middle">${num(t)}</text>`);
  }
  out.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${M.l + pw / 2}" y="${H - M.b + 44}" font-size="13" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(22 ${M.t + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle">${esc(c.yLabel)}</text>`);
  for (const m of c.marks ?? []) {
    out.push(`<line x1="${M.l}" x2="${M.l + pw}" y1="${sy(m.y)}" y2="${sy(m.y)}" stroke="#c0392b" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${M.l + pw - 4}" y="${sy(m.y) - 5}" font-size="11" fill="#c0392b" text-anchor="end">${esc(m.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    const band = pts.filter((p) => p.lo !== undefined && p.hi !== undefined && p.hi > p.lo);
    if (band.length > 1) {
      const d = [...pts.map((p) => `${sx(p.x)},${sy(p.hi ?? p.y)}`), ...[...pts].reverse().map((p) => `${sx(p.x)},${sy(p.lo ?? p.y)}`)].join(" ");
      out.push(`<polygon points="${d}" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`);
    }
    out.push(`<polyline points="${pts.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`);
    for (const p of pts) {
      out.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="4" fill="${s.color}"/>`);
      if (p.lo !== undefined && p.hi !== undefined && p.hi > p.lo) {
        out.push(`<line x1="${sx(p.x)}" x2="${sx(p.x)}" y1="${sy(p.lo)}" y2="${sy(p.hi)}" stroke="${s.color}" stroke-width="1.2"/>`);
      }
    }
    const ly = M.t + 14 + i * 22;
    out.push(`<line x1="${W - M.r + 16}" x2="${W - M.r + 40}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${W - M.r + 46}" y="${ly}" font-size="12">${esc(s.name)}</text>`);
  });
  if (c.footnote) out.push(`<text x="${M.l}" y="${H - 12}" font-size="11" fill="#555">${esc(c.footnote)}</text>`);
  out.push("</svg>");
  return out.join("\n");
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** min / median / max of a figure over every repetition of a benchmark. */
function stat(recs: Rec[], name: string, pick: (r: Rec) => number | undefined): { min: number; med: number; max: number; n: number } | null {
  const v = recs.filter((r) => r.name === name).map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return null;
  return { min: Math.min(...v), med: median(v), max: Math.max(...v), n: v.length };
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
export const CLIENT_BENCHES: [string, number][] = [
  ["clients-1k", 1_000],
  ["clients-5k", 5_000],
  ["clients-10k", 10_000],
  ["clients-19k", 19_500],
  ["clients-25k", 25_000],
  ["clients-50k", 50_000],
];

function charts(recs: Rec[], footnote: string, before: Rec[]): Record<string, Chart> {
  const ex = (k: string) => (r: Rec) => r.metrics.extra?.[k];
  const byClients = (key: string, scale = 1) =>
    CLIENT_BENCHES.flatMap(([n, x]) => {
      const s = stat(recs, n, ex(key));
      return s ? [{ x, y: s.med * scale, lo: s.min * scale, hi: s.max * scale }] : [];
    });
  const out: Record<string, Chart> = {};
  out["pop-latency-vs-clients"] = {
    title: "Screen-pop latency by connected clients (paced rings, 1 ring/ms)",
    xLabel: "WebSocket clients connected to one daemon (10 of them supervisors)",
    yLabel: "ms from ring bytes written to call.ringing read",
    xLog: true,
    yLog: true,
    series: [
      { name: "p50", color: COLORS[0]!, points: byClients("p50Ms") },
      { name: "p90", color: COLORS[1]!, points: byClients("p90Ms") },
      { name: "p99", color: COLORS[3]!, points: byClients("p99Ms") },
      { name: "max", color: COLORS[4]!, points: byClients("maxMs") },
    ],
    marks: [
      { y: 5, label: "target p99 at 10,000: 5 ms" },
      { y: 10, label: "target p99 at 50,000: 10 ms" },
    ],
    footnote,
  };
  out["memory-vs-clients"] = {
    title: "Daemon memory by connected clients",
    xLabel: "WebSocket clients connected and subscribed",
    yLabel: "bytes per client (RSS growth ÷ clients)",
    xLog: true,
    series: [
      { name: "RSS per client", color: COLORS[0]!, points: byClients("rssPerClient") },
      { name: "V8 heap per client", color: COLORS[2]!, points: byClients("heapPerClient") },
    ],
    marks: [{ y: 16_000, label: "target: 16 KB RSS per client" }],
    footnote,
  };
  const cm = recs.filter((r) => r.name === "call-memory");
  const callCounts = [...new Set(cm.flatMap((r) => Object.keys(r.metrics.extra ?? {}).filter((k) => k.startsWith("rssAt")).map((k) => Number(k.slice(5)))))].sort((a, b) => a - b);
  const perCall = (prefix: string, from = recs) =>
    callCounts.flatMap((n) => {
      const s = stat(from, "call-memory", (r) => {
        const v = r.metrics.extra?.[`${prefix}${n}`];
        return v === undefined ? undefined : v / n;
      });
      return s ? [{ x: n, y: s.med, lo: s.min, hi: s.max }] : [];
    });
  out["memory-vs-calls"] = {
    title: "Call tracker memory by open calls",
    xLabel: "connected calls open at once (after 500 warm-up calls)",
    yLabel: "bytes per open call (growth ÷ calls)",
    series: [
      { name: "RSS per call", color: COLORS[0]!, points: perCall("rssAt") },
      { name: "V8 heap per call", color: COLORS[2]!, points: perCall("heapAt") },
      ...(before.length > 0
        ? [
            { name: "RSS, before", color: "#9ecae1", points: perCall("rssAt", before) },
            { name: "heap, before", color: "#a1d99b", points: perCall("heapAt", before) },
          ]
        : []),
    ],
    marks: [{ y: 2_000, label: "target: 2,000 B RSS per call" }],
    footnote,
  };
  const stores: [string, number][] = [
    ["store-10k", 10_000],
    ["store-100k", 100_000],
    ["store-1m", 1_000_000],
  ];
  const store = (key: string) =>
    stores.flatMap(([n, x]) => {
      const s = stat(recs, n, ex(key));
      return s ? [{ x, y: s.med, lo: s.min, hi: s.max }] : [];
    });
  out["store-vs-history"] = {
    title: "Call-log write cost by stored history",
    xLabel: "calls already stored",
    yLabel: "µs per save, p50",
    xLog: true,
    series: [
      { name: "inbound answered", color: COLORS[0]!, points: store("inboundP50Us") },
      { name: "missed", color: COLORS[1]!, points: store("missedP50Us") },
      { name: "outbound call-back", color: COLORS[2]!, points: store("callbackP50Us") },
    ],
    footnote,
  };
  return out;
}

/** The rows of issue 12's table from the pooled records: [figure, measured, target, verdict]. */
export function headroomTable(recs: Rec[]): string[][] {
  const ex = (k: string) => (r: Rec) => r.metrics.extra?.[k];
  const f = (s: ReturnType<typeof stat>, unit: string, d = 2) =>
    s === null ? "not run" : s.n === 1 ? `${s.med.toFixed(d)} ${unit}` : `${s.med.toFixed(d)} ${unit} (min ${s.min.toFixed(d)}, max ${s.max.toFixed(d)}, ${s.n} runs)`;
  const verdict = (s: ReturnType<typeof stat>, ok: (v: number) => boolean) => (s === null ? "n/a" : ok(s.med) ? "met" : "NOT met");
  const rows: string[][] = [];
  const pop1000 = stat(recs, "pop-1000", ex("p99Ms"));
  rows.push(["screen-pop p99, 1,000 calls / 1,000 clients, paced", f(pop1000, "ms"), "< 1 ms", verdict(pop1000, (v) => v < 1)]);
  const pop10k = stat(recs, "clients-10k", ex("p99Ms"));
  rows.push(["screen-pop p99, 1,000 calls / 10,000 clients (10 supervisors)", f(pop10k, "ms"), "< 5 ms", verdict(pop10k, (v) => v < 5)]);
  // 50,000 where it could be measured; else the largest count that ran (the descriptor limit).
  const big = [...CLIENT_BENCHES].reverse().find(([n]) => stat(recs, n, ex("rssPerClient")) !== null);
  const rss50 = big ? stat(recs, big[0], ex("rssPerClient")) : null;
  const pop50 = big ? stat(recs, big[0], ex("p99Ms")) : null;
  rows.push([
    `${(big?.[1] ?? 50_000).toLocaleString("en-US")} clients on one process (target: 50,000): RSS per client / pop p99`,
    rss50 === null ? "not run" : `${f(rss50, "B", 0)} / ${f(pop50, "ms")}`,
    "≤ 16 KB, < 10 ms",
    rss50 === null || pop50 === null ? "n/a" : `${rss50.med <= 16_000 && pop50.med < 10 ? "met" : "NOT met"}${big && big[1] < 50_000 ? ` at ${big[1].toLocaleString("en-US")} (50,000 not reachable: descriptor limit)` : ""}`,
  ]);
  const perCall = stat(recs, "call-memory", ex("rssBytesPerCall"));
  const heapCall = stat(recs, "call-memory", ex("heapBytesPerCall"));
  rows.push(["memory per active call (RSS; heap)", `${f(perCall, "B", 0)}; heap ${f(heapCall, "B", 0)}`, "≤ 2,000 B", verdict(perCall, (v) => v <= 2000)]);
  const resync = stat(recs, "resync-1000", ex("resyncMedianMs"));
  rows.push(["resync of 1,000 channels after a reconnect", f(resync, "ms", 1), "< 200 ms", verdict(resync, (v) => v < 200)]);
  const tracker = stat(recs, "tracker", (r) => (r.metrics.messages ? r.metrics.messages / r.metrics.seconds : undefined));
  const trackerCpu = stat(recs, "tracker", (r) => (r.metrics.cpuMicros && r.metrics.messages ? r.metrics.cpuMicros / r.metrics.messages : undefined));
  const perCpuSecond = trackerCpu === null ? null : { min: 1e6 / trackerCpu.max, med: 1e6 / trackerCpu.med, max: 1e6 / trackerCpu.min, n: trackerCpu.n };
  rows.push([
    "decode + track, one core (wall clock; by CPU time)",
    `${f(tracker, "events/s", 0)}; ${f(perCpuSecond, "events per CPU-second", 0)}`,
    "≥ 300,000 events/s",
    tracker === null ? "n/a" : tracker.med >= 300_000 ? "met" : perCpuSecond !== null && perCpuSecond.med >= 300_000 ? "met by CPU time (wall clock starved by other load)" : "NOT met",
  ]);
  const lag = stat(recs, "loop-lag", ex("lagP99Ms"));
  rows.push(["event-loop lag p99, burst trace at 20×, 500 clients", f(lag, "ms"), "< 5 ms", verdict(lag, (v) => v < 5)]);
  const s10 = stat(recs, "store-10k", ex("callbackP50Us"));
  const s1m = stat(recs, "store-1m", ex("callbackP50Us"));
  const i10 = stat(recs, "store-10k", ex("inboundP50Us"));
  const i1m = stat(recs, "store-1m", ex("inboundP50Us"));
  rows.push([
    "call-log write per call at 10k / 1M stored (p50, inbound; outbound call-back)",
    s10 && s1m && i10 && i1m ? `${i10.med.toFixed(0)} / ${i1m.med.toFixed(0)} µs; ${s10.med.toFixed(0)} / ${s1m.med.toFixed(0)} µs` : "not run",
    "flat",
    s10 && s1m && i10 && i1m ? (s1m.med <= 3 * s10.med && i1m.med <= 3 * i10.med ? "met" : "NOT met") : "n/a",
  ]);
  const codec = stat(recs, "codec", (r) => (r.metrics.cpuMicros && r.metrics.messages ? r.metrics.cpuMicros / r.metrics.messages : undefined));
  const am = stat(recs, "asterisk-manager", (r) => (r.metrics.cpuMicros && r.metrics.messages ? r.metrics.cpuMicros / r.metrics.messages : undefined));
  const aac = stat(recs, "asterisk-ami-client", (r) => (r.metrics.cpuMicros && r.metrics.messages ? r.metrics.cpuMicros / r.metrics.messages : undefined));
  if (codec && (am || aac)) {
    rows.push([
      "codec CPU µs/message: ours / asterisk-manager / asterisk-ami-client",
      `${codec.med.toFixed(2)} / ${am?.med.toFixed(2) ?? "—"} / ${aac?.med.toFixed(2) ?? "—"} (ours ${am ? (am.med / codec.med).toFixed(1) : "—"}× and ${aac ? (aac.med / codec.med).toFixed(1) : "—"}× less)`,
      "ratio (reported)",
      "—",
    ]);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { out: { type: "string", default: "docs/images" }, before: { type: "string" } },
    allowPositionals: true,
  });
  // --before FILE: the same benchmarks on the code before issue 12 (drawn lighter where a chart has them).
  const before = values.before ? (JSON.parse(readFileSync(values.before, "utf8")) as RunFile).results : [];
  const files = positionals.length > 0 ? positionals : ["bench-results.json"];
  const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as RunFile);
  const recs = runs.flatMap((r) => r.results);
  const loads = recs.map((r) => r.loadBefore[0] ?? NaN).filter(Number.isFinite);
  const footnote = `${runs[0]?.machine ?? ""}; ${runs.map((r) => `${r.date.slice(0, 16)} ${r.commit}`).join(", ")}; load avg ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}; median, bars min-max`;
  const require = createRequire(join(process.cwd(), "package.json"));
  const { Resvg } = require("@resvg/resvg-js") as { Resvg: new (svg: string, opts?: object) => { render(): { asPng(): Buffer } } };
  mkdirSync(values.out, { recursive: true });
  for (const [name, chart] of Object.entries(charts(recs, footnote, before))) {
    if (chart.series.every((s) => s.points.length === 0)) {
      console.log(`skipped ${name}: no data`);
      continue;
    }
    const svg = lineChart(chart);
    const png = new Resvg(svg, { fitTo: { mode: "width", value: W }, font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
    writeFileSync(join(values.out, `${name}.png`), png);
    console.log(`wrote ${join(values.out, `${name}.png`)}`);
  }
  console.log("\n| figure | measured | target | verdict |\n|---|---|---|---|");
  for (const row of headroomTable(recs)) console.log(`| ${row.join(" | ")} |`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
