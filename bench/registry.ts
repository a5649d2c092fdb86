/**
 * What a benchmark is, and the list of them. Adding a measurement (call tracker throughput,
 * WebSocket pop latency, …) means one new file exporting a `Bench` and one line below;
 * `node dist/bench/run.js --only NAME[,NAME]` then selects it.
 *
 * Every benchmark runs in a fresh child process (see child.ts), so one measurement's heap,
 * JIT state and RSS never leak into the next: peak-RSS figures are the decoder's own.
 */

/** The shared AMI byte stream, written once per run to a temporary file (stream.ts). */
export interface StreamInfo {
  /** File holding the stream body: renumbered copies of every trace, no banner, no Login response. */
  readonly path: string;
  readonly bytes: number;
  /** AMI messages in the file (the Login response the feeder adds is not counted). */
  readonly messages: number;
  readonly copies: number;
  readonly traces: number;
}

export interface BenchContext {
  readonly stream: StreamInfo;
  /** Port of the loopback feeder (feeder.ts) that serves the stream to each connection. */
  readonly feederPort: number;
  /** Wall-clock budget for this measurement; a benchmark stops and reports failure after it. */
  readonly timeoutMs: number;
  /** Folder of the recorded traces (`--traces`), for benchmarks that build their own input. */
  readonly traces: string;
}

/** Numbers a benchmark reports; absent ones do not apply to it. */
export interface BenchMetrics {
  messages?: number;
  bytes?: number;
  seconds: number;
  /** CPU time (user + system) of the measuring process during the measurement. */
  cpuMicros?: number;
  /** Highest RSS sampled while the measurement ran, and RSS just before it started. */
  peakRssBytes?: number;
  baseRssBytes?: number;
  /** Figures particular to one benchmark (latency percentiles, bytes per call, …), by name. */
  extra?: Record<string, number>;
}

export interface BenchResult {
  readonly name: string;
  readonly metrics: BenchMetrics;
  /** Anything the reader should know (e.g. a message count that differs from the stream's). */
  readonly notes: string[];
}

export interface Bench {
  readonly name: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

/**
 * A benchmark by name, loaded on demand: each measuring child process imports only the module
 * of its own benchmark, so the daemon, ws and SQLite that the pop benchmark needs do not
 * inflate the RSS the codec benchmark reports.
 */
/** In a benchmark's error: it cannot run on this machine (reported as skipped, not failed). */
export const SKIPPED = "cannot run here: ";

export interface BenchEntry {
  readonly name: string;
  load(): Promise<Bench>;
  /** A budget this benchmark needs at least, whatever `--timeout` says (the large client counts). */
  readonly minTimeoutS?: number;
}

const entry = (name: string, load: () => Promise<Bench>, minTimeoutS?: number): BenchEntry => ({ name, load, ...(minTimeoutS ? { minTimeoutS } : {}) });

/** In run order: the codec group (the ceiling first, the baseline last), the call engine and the pop, then the store. */
export const BENCHES: readonly BenchEntry[] = [
  entry("raw", async () => (await import("./rawSocket.js")).rawSocketBench),
  entry("codec", async () => (await import("./codec.js")).codecTcpBench),
  entry("codec-memory", async () => (await import("./codec.js")).codecMemoryBench),
  entry("asterisk-manager", async () => (await import("./asteriskManager.js")).asteriskManagerBench),
  entry("asterisk-ami-client", async () => (await import("./asteriskAmiClient.js")).asteriskAmiClientBench),
  entry("tracker", async () => (await import("./tracker.js")).trackerBench),
  entry("tracker-tcp", async () => (await import("./tracker.js")).trackerTcpBench),
  entry("call-memory", async () => (await import("./callMemory.js")).callMemoryBench),
  entry("pop-100", async () => (await import("./popLatency.js")).popBench(100)),
  entry("pop-1000", async () => (await import("./popLatency.js")).popBench(1000)),
  entry("pop-100-file", async () => (await import("./popLatency.js")).popBench(100, 100_000)),
  entry("pop-100-webhook-fast", async () => (await import("./popLatency.js")).popBench(100, 0, "fast")),
  entry("pop-100-webhook-dead", async () => (await import("./popLatency.js")).popBench(100, 0, "dead")),
  entry("webhooks-c4", async () => (await import("./webhooks.js")).webhookBench(4)),
  entry("webhooks-c16", async () => (await import("./webhooks.js")).webhookBench(16)),
  entry("store-10k", async () => (await import("./storeSave.js")).storeBench(10_000, "10k")),
  entry("store-100k", async () => (await import("./storeSave.js")).storeBench(100_000, "100k")),
  entry("store-1m", async () => (await import("./storeSave.js")).storeBench(1_000_000, "1m")),
  entry("dos-amplification", async () => (await import("./amplification.js")).amplificationBench),
  entry("resync-1000", async () => (await import("./resync.js")).resyncBench(1_000)),
  entry("loop-lag", async () => (await import("./loopLag.js")).loopLagBench),
  entry("clients-1k", async () => (await import("./scale.js")).scaleBench(1_000, "1k"), 120),
  entry("clients-5k", async () => (await import("./scale.js")).scaleBench(5_000, "5k"), 120),
  entry("clients-10k", async () => (await import("./scale.js")).scaleBench(10_000, "10k"), 180),
  entry("clients-19k", async () => (await import("./scale.js")).scaleBench(19_500, "19k"), 240),
  entry("clients-25k", async () => (await import("./scale.js")).scaleBench(25_000, "25k"), 240),
  entry("clients-50k", async () => (await import("./scale.js")).scaleBench(50_000, "50k"), 300),
];

/**
 * Named subsets for `--only`: `headroom` is every row of issue 12's table (the two baselines
 * with our codec, decode + track, memory per call, the pops by client count, resync, event-loop
 * lag, the store at 10k/100k/1M).
 */
export const GROUPS: Readonly<Record<string, readonly string[]>> = {
  codecs: ["codec", "asterisk-manager", "asterisk-ami-client"],
  clients: ["clients-1k", "clients-5k", "clients-10k", "clients-19k", "clients-25k", "clients-50k"],
  headroom: [
    "codec",
    "asterisk-manager",
    "asterisk-ami-client",
    "tracker",
    "call-memory",
    "pop-1000",
    "resync-1000",
    "loop-lag",
    "clients-1k",
    "clients-5k",
    "clients-10k",
    "clients-19k",
    "clients-25k",
    "clients-50k",
    "store-10k",
    "store-100k",
    "store-1m",
  ],
};

export async function findBench(name: string): Promise<Bench | undefined> {
  const e = BENCHES.find((b) => b.name === name);
  return e ? e.load() : undefined;
}
