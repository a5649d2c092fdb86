/**
 * Decode + track (issue 3): the daemon's production path over the burst trace
 * (`24-burst-30-concurrent`, 30 calls at once) repeated with renumbered ids to ~300,000
 * messages, two ways:
 *  - "tracker": the bytes fed from memory in 64 KiB chunks: AmiDecoder with the daemon's
 *    `skipEvent` (skipUnneeded: unused events, unwanted VarSets, non-VoiceMail Newexten dropped before decoding) → toPbxEvent(msg, wantsVariable) →
 *    CallTracker.handle. The call engine's own rate, no socket in the way;
 *  - "tracker-tcp": the same bytes served by the loopback feeder (another process) and read
 *    by the real AmiClient, whose `event`s go through the same toPbxEvent → handle.
 * Rates count every input message, skipped ones included (what the PBX sends is the load).
 * Domain events are counted, not published: WebSocket fan-out is the pop benchmark's part.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AmiClient } from "../src/ami/client.js";
import { AmiDecoder } from "../src/ami/codec.js";
import { skipUnneeded, toPbxEvent } from "../src/ami/events.js";
import { replayTracker } from "../src/replay.js";
import { createLogger } from "../src/log.js";
import { startFeeder } from "./feeder.js";
import { benchConfig, BURST_TRACE, repeatTrace } from "./lab.js";
import { RssSampler, settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

export const TRACKER_TARGET_MESSAGES = 300_000;

/** A tracker with the lab users, counting the domain events it emits. */
function countingTracker() {
  const counter = { domainEvents: 0 };
  const tracker = replayTracker(benchConfig(), () => {
    counter.domainEvents++;
  });
  return { tracker, counter };
}

export const trackerBench: Bench = {
  name: "tracker",
  title: "decode + track, burst trace, in-memory chunks",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const input = repeatTrace(ctx.traces, BURST_TRACE, TRACKER_TARGET_MESSAGES);
    const { tracker, counter } = countingTracker();
    // The production decoder: no banner (the chunks start with an event), Date.now clock.
    const decoder = new AmiDecoder({ expectBanner: false, skipEvent: skipUnneeded(tracker.wantsVariable) });
    const deadline = Date.now() + ctx.timeoutMs;
    settleHeap();
    const rss = new RssSampler();
    const clock = new Stopwatch();
    let decoded = 0;
    for (let i = 0; i < input.chunks.length; i++) {
      const msgs = decoder.push(input.chunks[i]!);
      decoded += msgs.length;
      for (const msg of msgs) {
        const ev = toPbxEvent(msg, tracker.wantsVariable);
        if (ev) tracker.handle(ev);
      }
      // Bounded by the chunk count and, checked every 64 chunks (4 MiB), by time.
      if ((i & 63) === 63) {
        rss.sample();
        if (Date.now() > deadline) throw new Error("tracker exceeded its time budget");
      }
    }
    const { cpuNote, ...time } = clock.read();
    rss.stop();
    const notes = [
      cpuNote,
      `${input.copies} renumbered copies of ${BURST_TRACE}; ${decoded} decoded, ${decoder.skipped} skipped unread (skipUnneeded), ${tracker.eventsHandled} reached the tracker; ${counter.domainEvents} domain events; ${tracker.activeCalls().length} calls still open`,
    ];
    if (decoded + decoder.skipped !== input.messages) notes.push(`saw ${decoded + decoder.skipped} messages, expected ${input.messages}`);
    if (decoder.pendingBytes !== 0) notes.push(`${decoder.pendingBytes} bytes left undecoded`);
    return {
      name: this.name,
      metrics: {
        messages: input.messages,
        bytes: input.bytes,
        ...time,
        peakRssBytes: rss.peak,
        baseRssBytes: rss.base,
        extra: { domainEvents: counter.domainEvents, handled: tracker.eventsHandled },
      },
      notes,
    };
  },
};

export const trackerTcpBench: Bench = {
  name: "tracker-tcp",
  title: "decode + track, burst trace, AmiClient over loopback TCP",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const input = repeatTrace(ctx.traces, BURST_TRACE, TRACKER_TARGET_MESSAGES);
    // The feeder serves a file: this benchmark's own stream, in its own temporary directory.
    const dir = mkdtempSync(join(tmpdir(), "ctibridge-bench-tracker-"));
    const path = join(dir, "burst.ami");
    writeFileSync(path, Buffer.concat(input.chunks));
    const bytes = input.bytes;
    input.chunks.length = 0;
    const feeder = await startFeeder(path);
    try {
      const { tracker, counter } = countingTracker();
      const config = benchConfig();
      // The feeder answers the Login only; a long action timeout keeps the unanswered
      // post-login actions from dropping the link mid-stream. No reconnects: one pass.
      const client = new AmiClient({
        ...config.ami,
        host: "127.0.0.1",
        port: feeder.port,
        secret: "bench",
        actionTimeoutMs: ctx.timeoutMs,
        pingIntervalMs: ctx.timeoutMs,
        reconnect: { minDelayMs: ctx.timeoutMs, maxDelayMs: ctx.timeoutMs },
        log: createLogger({ level: "silent" }),
        skipEvent: skipUnneeded(tracker.wantsVariable),
      });
      let events = 0;
      client.on("event", (msg) => {
        events++;
        const ev = toPbxEvent(msg, tracker.wantsVariable);
        if (ev) tracker.handle(ev);
      });
      settleHeap();
      const rss = new RssSampler();
      const clock = new Stopwatch();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stream not finished within ${ctx.timeoutMs} ms (${events} events)`)), ctx.timeoutMs);
        client.once("disconnected", () => {
          clearTimeout(timer);
          resolve();
        });
        client.start();
      });
      const { cpuNote, ...time } = clock.read();
      rss.stop();
      await client.stop();
      const stats = client.stats;
      const notes = [
        cpuNote,
        `${stats.messages} messages handed over by AmiClient (${events} events), ${tracker.eventsHandled} reached the tracker; ${counter.domainEvents} domain events; time includes connect and login`,
      ];
      return {
        name: this.name,
        metrics: {
          messages: input.messages,
          bytes,
          ...time,
          peakRssBytes: rss.peak,
          baseRssBytes: rss.base,
          extra: { domainEvents: counter.domainEvents, handled: tracker.eventsHandled },
        },
        notes,
      };
    } finally {
      feeder.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
