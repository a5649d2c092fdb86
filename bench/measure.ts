/**
 * Instruments shared by the measurements: a loopback client that logs in to the feeder and
 * hands over every chunk, CPU time, and RSS sampling. Kept in one place so that every
 * benchmark measures the same way and the numbers can be compared row by row.
 */
import { connect } from "node:net";
import { encodeAction } from "../src/ami/codec.js";
import type { BenchMetrics } from "./registry.js";

/** Tracks the highest RSS seen; sampled from the data path and from a timer. */
export class RssSampler {
  readonly base: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 5) {
    this.base = process.memoryUsage.rss();
    this.peak = this.base;
    // The timer catches growth between reads; the explicit sample() calls catch it under load,
    // when a busy event loop would delay the timer.
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** Wall clock and CPU time of this process over a measurement. */
export class Stopwatch {
  private readonly t0 = process.hrtime.bigint();
  private readonly cpu0 = process.cpuUsage();

  read(): Pick<BenchMetrics, "seconds" | "cpuMicros"> & { cpuNote: string } {
    const cpu = process.cpuUsage(this.cpu0);
    const seconds = Number(process.hrtime.bigint() - this.t0) / 1e9;
    // The split tells parsing (user) from the kernel's socket work (system).
    const cpuNote = `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}) in ${seconds.toFixed(2)} s`;
    return { seconds, cpuMicros: cpu.user + cpu.system, cpuNote };
  }
}

/** Runs the collector before a measurement so garbage from setup does not count (needs --expose-gc). */
export function settleHeap(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/**
 * Connects to the feeder on 127.0.0.1, sends a Login, and passes every received chunk
 * (banner and Login response included) to `onChunk`. Resolves with the byte count when the
 * feeder closes the stream; rejects on a socket error or after `timeoutMs`.
 */
export function readFeeder(port: number, timeoutMs: number, onChunk: (chunk: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const socket = connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`stream not finished within ${timeoutMs} ms (${bytes} bytes read)`));
    }, timeoutMs);
    socket.once("connect", () =>
      socket.write(encodeAction("Login", [["ActionID", "bench-login"], ["Username", "bench"], ["Secret", "bench"]])),
    );
    socket.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      onChunk(chunk);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once("end", () => {
      clearTimeout(timer);
      socket.end();
      resolve(bytes);
    });
  });
}

