/**
 * The second baseline (issue 12): `asterisk-ami-client` (on top of `asterisk-ami-connector`),
 * reading the same stream from the same loopback feeder as `codec` and `asterisk-manager`. It
 * is driven as its README shows: `new AmiClient({ reconnect: false })`, `connect(user,
 * secret, { host, port })` logs in, an `event` listener receives each event. Messages are
 * counted on `event` + `response` (events and responses alike), comparable with ours.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { RssSampler, settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

/** The part of asterisk-ami-client's untyped CommonJS API used here. */
interface AmiClient {
  connect(user: string, secret: string, opts: { host: string; port: number }): Promise<unknown>;
  on(event: string, listener: (arg: unknown) => void): AmiClient;
  once(event: string, listener: (arg: unknown) => void): AmiClient;
  disconnect(): void;
}
type AmiClientCtor = new (opts: Record<string, unknown>) => AmiClient;

// Resolved from the package root (npm runs scripts there), like asteriskManager.ts.
const require = createRequire(join(process.cwd(), "package.json"));

export const asteriskAmiClientBench: Bench = {
  name: "asterisk-ami-client",
  title: "asterisk-ami-client, loopback TCP",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const Client = require("asterisk-ami-client") as AmiClientCtor;
    const pkg = require("asterisk-ami-client/package.json") as { version: string };
    settleHeap();
    const rss = new RssSampler();
    const clock = new Stopwatch();
    let messages = 1; // the Login response, consumed by connect() before any listener sees it
    let events = 0;

    await new Promise<void>((resolve, reject) => {
      const client = new Client({ reconnect: false, keepAlive: false, emitEventsByTypes: false });
      const timer = setTimeout(() => {
        client.disconnect();
        reject(new Error(`asterisk-ami-client did not finish within ${ctx.timeoutMs} ms (${messages} messages)`));
      }, ctx.timeoutMs);
      client.on("event", () => {
        events++;
        if (++messages % 1024 === 0) rss.sample();
      });
      client.on("response", () => {
        messages++;
      });
      client.once("disconnect", () => {
        clearTimeout(timer);
        setImmediate(resolve);
      });
      client.connect("bench", "bench", { host: "127.0.0.1", port: ctx.feederPort }).catch((err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
    const { cpuNote, ...time } = clock.read();
    rss.stop();

    const notes = [`version ${pkg.version}, ${events} event emits`, cpuNote];
    if (messages !== ctx.stream.messages + 1) notes.push(`parsed ${messages} messages, expected ${ctx.stream.messages + 1}`);
    return {
      name: this.name,
      metrics: { messages, bytes: ctx.stream.bytes, ...time, peakRssBytes: rss.peak, baseRssBytes: rss.base },
      notes,
    };
  },
};
