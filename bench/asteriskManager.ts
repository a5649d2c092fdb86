/**
 * The baseline: `asterisk-manager@0.2.0` (the npm client our codec replaces) reading the same
 * stream from the same loopback feeder. It is driven as its users drive it: `Manager(port,
 * host, user, secret, true)` connects and logs in by itself, and a `managerevent` listener
 * receives each event (dispatched on process.nextTick, part of its cost).
 *
 * Messages are counted on its internal `rawevent` (one per parsed message, events and
 * responses alike) so the count is comparable with ours.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { RssSampler, settleHeap, Stopwatch } from "./measure.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

/** The part of asterisk-manager's untyped CommonJS API used here. */
interface AmiManager {
  on(event: string, listener: (arg: unknown) => void): void;
  once(event: string, listener: (arg: unknown) => void): void;
  disconnect(): void;
}
type ManagerFactory = (port: number, host: string, user: string, secret: string, events: boolean) => AmiManager;

// Resolved from the package root (npm runs scripts there), so a build outside dist/ finds it too.
const require = createRequire(join(process.cwd(), "package.json"));

export const asteriskManagerBench: Bench = {
  name: "asterisk-manager",
  title: "asterisk-manager 0.2.0, loopback TCP",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const Manager = require("asterisk-manager") as ManagerFactory;
    const pkg = require("asterisk-manager/package.json") as { version: string };
    settleHeap();
    const rss = new RssSampler();
    const clock = new Stopwatch();
    let messages = 0;
    let events = 0;
    let loggedIn = false;

    await new Promise<void>((resolve, reject) => {
      const ami = Manager(ctx.feederPort, "127.0.0.1", "bench", "bench", true);
      const timer = setTimeout(() => {
        ami.disconnect();
        reject(new Error(`asterisk-manager did not finish within ${ctx.timeoutMs} ms (${messages} messages)`));
      }, ctx.timeoutMs);
      ami.on("rawevent", () => {
        if (++messages % 1024 === 0) rss.sample();
      });
      ami.on("managerevent", () => {
        events++;
      });
      ami.once("response", (res) => {
        loggedIn ||= (res as { response?: string }).response === "Success";
      });
      ami.once("error", (err) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
      ami.once("close", () => {
        clearTimeout(timer);
        ami.disconnect();
        // Its emits are queued with process.nextTick; let them drain before stopping the clock.
        setImmediate(resolve);
      });
    });
    const { cpuNote, ...time } = clock.read();
    rss.stop();

    const notes = [`version ${pkg.version}, ${events} managerevent emits`, cpuNote];
    if (!loggedIn) notes.push("login response not seen as Success");
    if (messages !== ctx.stream.messages + 1) notes.push(`parsed ${messages} messages, expected ${ctx.stream.messages + 1}`);
    return {
      name: this.name,
      metrics: { messages, bytes: ctx.stream.bytes, ...time, peakRssBytes: rss.peak, baseRssBytes: rss.base },
      notes,
    };
  },
};
