/**
 * Memory per active call (issue 3): how much the call tracker holds for each open call.
 *
 * Each call is the inbound shape of trace 01 as typed PbxEvents (what toPbxEvent makes of
 * the AMI bytes): the carrier channel, the agent's device channel, DialBegin, the device
 * Ringing, then Up and both channels in the bridge: a connected call that stays open (no
 * Hangup). One agent and one device per call, so every call has a real user leg.
 *
 * The tracker, its 10,500 users and JIT warm-up (WARMUP calls, left open and not counted)
 * come before the baseline; the heap is collected before and after, and the growth of
 * heapUsed and of RSS is divided by CALLS. Domain events are counted and dropped, so the
 * figure is the tracker's own state, not a publisher's journal.
 */
import type { ChannelInfo, PbxEvent } from "../src/ami/events.js";
import { replayTracker } from "../src/replay.js";
import { Directory } from "../src/directory/users.js";
import { benchConfig, TRUNK } from "./lab.js";
import { settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

export const CALLS = 10_000;
const WARMUP = 500;
/** After the measured CALLS, more calls are opened up to each of these counts and memory read again (the curve of issue 12). */
export const MEMORY_POINTS = [20_000, 30_000, 40_000, 50_000];
/** Issue 3's bound, in 10^3 bytes (stricter than KiB). */
export const TARGET_BYTES_PER_CALL = 4_000;
const EPOCH = 1_795_000_000;

function chan(id: number, linked: number, name: string, state: string, callerNum: string, exten: string): ChannelInfo {
  return {
    channelId: `${EPOCH}.${id}`,
    linkedId: `${EPOCH}.${linked}`,
    name,
    state,
    callerNum,
    callerName: callerNum,
    connectedNum: "<unknown>",
    connectedName: "<unknown>",
    context: "from-carrier",
    exten,
  };
}

/** The events of call `i`: carrier → PJSIP/(20000+i), answered and bridged, left open. */
export function openCallEvents(i: number, at: number): PbxEvent[] {
  const device = `PJSIP/${20_000 + i}`;
  const caller = `+49301${String(1_000_000 + i)}`;
  const suffix = (n: number) => n.toString(16).padStart(8, "0");
  const trunk = (state: string) => chan(2 * i, 2 * i, `${TRUNK}-${suffix(2 * i)}`, state, caller, "4930555000");
  const dev = (state: string) => chan(2 * i + 1, 2 * i, `${device}-${suffix(2 * i + 1)}`, state, String(20_000 + i), "s");
  return [
    { type: "channelNew", ch: trunk("Ring"), at },
    { type: "channelNew", ch: dev("Down"), at: at + 1 },
    { type: "dialBegin", caller: trunk("Ring"), dest: dev("Down"), dialString: String(20_000 + i), at: at + 2 },
    { type: "channelState", ch: dev("Ringing"), at: at + 3 },
    { type: "channelState", ch: dev("Up"), at: at + 4 },
    { type: "channelState", ch: trunk("Up"), at: at + 5 },
    { type: "bridgeEnter", ch: dev("Up"), bridgeId: `bridge-${i}`, at: at + 6 },
    { type: "bridgeEnter", ch: trunk("Up"), bridgeId: `bridge-${i}`, at: at + 7 },
  ];
}

/** Users u0…u(n-1), one device each (PJSIP/20000+i), as the config file would list them. */
export function benchUsers(n: number, firstDevice = 20_000): { id: string; name: string; devices: string[] }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `u${i}`, name: `User ${i}`, devices: [`PJSIP/${firstDevice + i}`] }));
}

export const callMemoryBench: Bench = {
  name: "call-memory",
  title: `memory per active call, ${CALLS.toLocaleString("en-US")} open calls`,
  async run(ctx: BenchContext): Promise<BenchResult> {
    if (typeof (globalThis as { gc?: unknown }).gc !== "function") throw new Error("call-memory needs node --expose-gc");
    const config = benchConfig(benchUsers(WARMUP + MEMORY_POINTS[MEMORY_POINTS.length - 1]!));
    const directory = new Directory({});
    directory.applyConfig(config.users);
    let domainEvents = 0;
    const tracker = replayTracker(config, () => void domainEvents++, directory);
    const deadline = Date.now() + ctx.timeoutMs;
    // The event times are a virtual clock: one call every 10 ms, all still open at the end.
    const t0 = Date.UTC(2026, 10, 22, 9);
    const open = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        for (const ev of openCallEvents(i, t0 + i * 10)) tracker.handle(ev);
        if ((i & 1023) === 1023 && Date.now() > deadline) throw new Error("call-memory exceeded its time budget");
      }
    };
    open(0, WARMUP);
    settleHeap();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage.rss();
    const clock = new Stopwatch();
    open(WARMUP, WARMUP + CALLS);
    const { cpuNote, ...time } = clock.read();
    settleHeap();
    const heap1 = process.memoryUsage().heapUsed;
    const rss1 = process.memoryUsage.rss();

    const active = tracker.activeCalls();
    const connected = active.filter((c) => c.state === "connected").length;
    // The curve: growth from the same baseline at more open calls (not part of the timed figure).
    const curve: Record<string, number> = { [`rssAt${CALLS}`]: rss1 - rss0, [`heapAt${CALLS}`]: heap1 - heap0 };
    let opened = CALLS;
    for (const n of MEMORY_POINTS) {
      open(WARMUP + opened, WARMUP + n);
      opened = n;
      settleHeap();
      curve[`rssAt${n}`] = process.memoryUsage.rss() - rss0;
      curve[`heapAt${n}`] = process.memoryUsage().heapUsed - heap0;
    }
    const notes = [
      `${active.length} calls open (${connected} connected), ${domainEvents} domain events; heap ${((heap1 - heap0) / 1e6).toFixed(1)} MB, RSS ${((rss1 - rss0) / 1e6).toFixed(1)} MB for ${CALLS} calls`,
      cpuNote,
    ];
    if (active.length !== WARMUP + CALLS) notes.push(`expected ${WARMUP + CALLS} open calls`);
    return {
      name: this.name,
      metrics: {
        ...time,
        messages: CALLS * 8,
        peakRssBytes: rss1,
        baseRssBytes: rss0,
        extra: { heapBytesPerCall: (heap1 - heap0) / CALLS, rssBytesPerCall: (rss1 - rss0) / CALLS, openCalls: active.length, ...curve },
      },
      notes,
    };
  },
};
