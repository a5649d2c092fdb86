/**
 * Our codec (src/ami/codec.ts) on the benchmark stream, two ways:
 *  - "codec": the bytes arrive over loopback TCP exactly as from a PBX; this is the number
 *    the product sees (messages/s, CPU µs per message, peak RSS while decoding);
 *  - "codec-memory": the same bytes fed from memory in 64 KiB chunks, the pure decode rate
 *    with no socket in the way (this process holds the whole stream, so its RSS means nothing).
 * Messages are counted and dropped, as a consumer that keeps nothing would.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { AmiDecoder } from "../src/ami/codec.js";
import { readFeeder, RssSampler, settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const CHUNK = 64 * 1024;
/** How often the data path samples RSS (every Nth read); the sampler's timer covers the rest. */
const SAMPLE_EVERY = 8;

export const codecTcpBench: Bench = {
  name: "codec",
  title: "ctibridge codec, loopback TCP",
  async run(ctx: BenchContext): Promise<BenchResult> {
    settleHeap();
    const decoder = new AmiDecoder();
    const rss = new RssSampler();
    const clock = new Stopwatch();
    let messages = 0;
    let reads = 0;
    const bytes = await readFeeder(ctx.feederPort, ctx.timeoutMs, (chunk) => {
      messages += decoder.push(chunk).length;
      if (++reads % SAMPLE_EVERY === 0) rss.sample();
    });
    const { cpuNote, ...time } = clock.read();
    rss.stop();
    return {
      name: this.name,
      metrics: { messages, bytes, ...time, peakRssBytes: rss.peak, baseRssBytes: rss.base },
      notes: [cpuNote, ...countNotes(messages, ctx.stream.messages + 1, decoder.pendingBytes)],
    };
  },
};

export const codecMemoryBench: Bench = {
  name: "codec-memory",
  title: "ctibridge codec, in-memory chunks",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const chunks = readChunks(ctx.stream.path);
    settleHeap();
    const decoder = new AmiDecoder({ expectBanner: false });
    const deadline = Date.now() + ctx.timeoutMs;
    const clock = new Stopwatch();
    let messages = 0;
    let bytes = 0;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      messages += decoder.push(chunk).length;
      bytes += chunk.length;
      // Bounded in time as well as by the chunk count (checked every 256 chunks, 16 MiB).
      if ((i & 255) === 255 && Date.now() > deadline) throw new Error("codec-memory exceeded its time budget");
    }
    const { cpuNote, ...time } = clock.read();
    return {
      name: this.name,
      metrics: { messages, bytes, ...time },
      notes: [cpuNote, ...countNotes(messages, ctx.stream.messages, decoder.pendingBytes)],
    };
  },
};

/** The stream file as 64 KiB Buffers (each its own allocation, as socket reads would be). */
function readChunks(path: string): Buffer[] {
  const fd = openSync(path, "r");
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      chunks.push(n === CHUNK ? buf : buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return chunks;
}

function countNotes(got: number, expected: number, pending: number): string[] {
  const notes: string[] = [];
  if (got !== expected) notes.push(`decoded ${got} messages, expected ${expected}`);
  if (pending !== 0) notes.push(`${pending} bytes left undecoded`);
  return notes;
}
