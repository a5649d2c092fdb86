import { readFileSync } from "node:fs";
const all = JSON.parse(readFileSync(process.argv[2] ?? "/tmp/poptrace.json"));
const K = Number(process.argv[3] ?? 15);
const cause = { gc: 0, cgc: 0, drq: 0, crq: 0, other: 0 };
for (const R of all) {
  const byTime = [...R.pops].sort((a, b) => a.w - b.w);
  byTime.forEach((p, i) => { p.prev = byTime[i - 1]; p.tot = p.c - p.w; });
  const pops = [...R.pops].sort((a, b) => b.tot - a.tot);
  const lat = pops.map(p => p.tot);
  console.log(`== round ${R.round}: p99 ${lat[10].toFixed(3)} (11th slowest); gcs ${R.gcs.length} ${R.gcs.map(g => g[1].toFixed(1)).join(" ")}; client gcs ${R.cgcs.length}`);
  for (const p of pops.slice(0, K)) {
    const ov = (arr) => arr.filter(([t, d]) => t < p.c && t + d > p.w - 0.01).map(([t, d, k]) => `${k}@${(t - p.w).toFixed(2)}+${d.toFixed(2)}`).join(",");
    const crq = p.prev ? p.csc[0] - p.prev.csc[0] : NaN; // client run-queue wait since previous frame
    const drq = p.prev ? p.ssc[0] - p.prev.ssc[0] : NaN; // daemon run-queue wait since previous send
    const dgc = ov(R.gcs), cgc = ov(R.cgcs);
    console.log(`${p.tot.toFixed(3)} w→r ${(p.r - p.w).toFixed(3)} r→s ${(p.s - p.r).toFixed(3)} s→c ${(p.c - p.s).toFixed(3)} | daemon rq ${drq.toFixed(2)} client rq ${crq.toFixed(2)} | dgc ${dgc} | cgc ${cgc}`);
  }
}
