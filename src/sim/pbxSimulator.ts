/**
 * The built-in PBX simulator: a real AMI server on loopback that replays the recorded
 * scenarios in a loop, each copy with fresh ids and current times, paced like a real call
 * (a phone rings for a moment, a conversation lasts a moment). The daemon connects to it
 * exactly as to a live Asterisk.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.js";
import { AmiServer } from "./amiServer.js";
import { renumberTrace } from "./renumber.js";

export interface SimulatorOptions {
  tracesDir?: string;
  /** Replay speed factor: 2 plays twice as fast. */
  speed: number;
  loop: boolean;
  gapMs: number;
  log: Logger;
  /** Stop after this many scenarios (tests); default: no limit while `loop`. */
  maxScenarios?: number;
  host?: string;
  port?: number;
}

/** Scenarios that make no sense on their own in a demo (a second connection's view, raw listings). */
const SKIP = /originator|resync|burst/;

/** The traces shipped with ctibridge (test/fixtures/ami beside dist/). */
export function defaultTracesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/sim → ../../test/fixtures/ami; dist/src/sim → ../../../test/fixtures/ami
  for (const up of ["../..", "../../.."]) {
    const dir = resolve(here, up, "test/fixtures/ami");
    try {
      if (readdirSync(dir).some((f) => f.endsWith(".ami"))) return dir;
    } catch {
      // try the next candidate
    }
  }
  return resolve(here, "../../test/fixtures/ami");
}

/** How long to wait after a message before the next one, in ms at speed 1. */
function pauseAfter(message: string): number {
  if (message.startsWith("Event: Newstate") && message.includes("ChannelStateDesc: Ringing")) return 1200;
  if (message.startsWith("Event: BridgeEnter")) return 600;
  if (message.startsWith("Event: Hold")) return 1500;
  if (message.startsWith("Event: ConfbridgeJoin")) return 800;
  if (message.startsWith("Event: QueueCallerJoin")) return 500;
  return 2;
}

export class PbxSimulator {
  readonly server: AmiServer;
  private readonly traces: { name: string; bytes: Buffer }[];
  private stopped = false;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  scenariosPlayed = 0;

  constructor(private readonly opts: SimulatorOptions) {
    this.server = new AmiServer({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0, asteriskVersion: "22.10.1 (ctibridge simulator)" });
    const dir = opts.tracesDir ?? defaultTracesDir();
    this.traces = readdirSync(dir)
      .filter((f) => f.endsWith(".ami") && !SKIP.test(f))
      .sort()
      .map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
    if (this.traces.length === 0) throw new Error(`no .ami traces in ${dir}`);
    // Click-to-dial against the simulator: accepted, then reported as failed (it cannot place calls).
    this.server.handle("Originate", () => [
      ["Response", "Success"],
      ["Message", "Originate successfully queued"],
    ]);
  }

  async start(): Promise<number> {
    const port = await this.server.listen();
    this.opts.log.info({ port, scenarios: this.traces.length }, "pbx simulator listening");
    this.running = this.run();
    return port;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((res) => {
      this.wake = res;
      this.timer = setTimeout(res, ms / this.opts.speed);
    });
  }

  private async run(): Promise<void> {
    let copy = 1;
    const max = this.opts.maxScenarios ?? (this.opts.loop ? Infinity : this.traces.length);
    while (!this.stopped && this.scenariosPlayed < max) {
      if (this.server.connections.length === 0) {
        await this.sleep(200 * this.opts.speed);
        continue;
      }
      const trace = this.traces[this.scenariosPlayed % this.traces.length]!;
      if (this.scenariosPlayed > 0 && this.scenariosPlayed % this.traces.length === 0) copy++;
      const bytes = renumberTrace(trace.bytes, copy, { stripPreamble: true, dropResponses: true, timeShiftMs: Date.now() - 1_795_300_000_000 });
      this.opts.log.debug({ scenario: trace.name, copy }, "simulator scenario");
      for (const message of bytes.toString("utf8").split("\r\n\r\n")) {
        if (this.stopped) return;
        if (message.trim() === "") continue;
        await this.server.replay(Buffer.from(message + "\r\n\r\n", "utf8"), { raw: true });
        const pause = pauseAfter(message);
        if (pause > 2) await this.sleep(pause);
      }
      this.scenariosPlayed++;
      await this.sleep(this.opts.gapMs);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
    await this.server.close();
  }
}
