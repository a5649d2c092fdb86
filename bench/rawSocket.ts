/**
 * The ceiling: how fast this machine moves the stream's bytes over loopback TCP into a Node
 * process that does nothing with them. No parser can beat this number on the same socket,
 * so the codec's bytes/s is read as a fraction of it.
 *
 * One pass takes only a few hundred milliseconds, where scheduler noise (two cores, other
 * processes) swings the result by 2×; so the stream is read ROUNDS times and the fastest
 * round is reported, which is what "ceiling" means. The rounds are noted for the reader.
 */
import { readFeeder, RssSampler, settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchMetrics, BenchResult } from "./registry.js";
import { BANNER, loginResponse } from "./stream.js";

const ROUNDS = 5;

export const rawSocketBench: Bench = {
  name: "raw",
  title: `raw loopback TCP read (discard), best of ${ROUNDS}`,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const expected = ctx.stream.bytes + Buffer.byteLength(BANNER) + Buffer.byteLength(loginResponse("bench-login"));
    const deadline = Date.now() + ctx.timeoutMs;
    const rounds: BenchMetrics[] = [];
    const notes: string[] = [];
    for (let i = 0; i < ROUNDS && Date.now() < deadline; i++) {
      settleHeap();
      const rss = new RssSampler();
      const clock = new Stopwatch();
      let reads = 0;
      const bytes = await readFeeder(ctx.feederPort, deadline - Date.now(), () => {
        // Count only: touching the bytes would make this a parser benchmark.
        reads++;
      });
      const { seconds, cpuMicros } = clock.read();
      rss.stop();
      if (bytes !== expected) notes.push(`round ${i + 1}: read ${bytes} bytes, expected ${expected}`);
      rounds.push({ bytes, seconds, cpuMicros, peakRssBytes: rss.peak, baseRssBytes: rss.base });
      if (i === 0) notes.push(`${reads} reads per round, ${(bytes / reads / 1024).toFixed(1)} KiB average`);
    }
    const best = rounds.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const gbps = rounds.map((r) => ((r.bytes ?? 0) / r.seconds / 1e9).toFixed(2));
    notes.push(`rounds (GB/s): ${gbps.join(", ")}; the fastest is reported`);
    return { name: this.name, metrics: best, notes };
  },
};
