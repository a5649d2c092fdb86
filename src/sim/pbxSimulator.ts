/**
 * The built-in PBX simulator: a real AMI server on loopback that replays the recorded
 * scenarios in a loop, each copy with fresh ids and current times, paced like a real call
 * (a phone rings for a moment, a conversation lasts a moment). The daemon connects to it
 * exactly as to a live Asterisk, and it answers like one: QueueStatus and DeviceStateList
 * (the lab PBX's queues and the device states the scenarios reported), Originate (the
 * recorded click-to-dial), Hangup, BlindTransfer, Redirect and PJSIPNotify (hold) on the
 * channels a scenario has up, with the events Asterisk sends; the rest of an interrupted
 * scenario is dropped.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.js";
import type { AmiMessage } from "../ami/codec.js";
import { AmiServer } from "./amiServer.js";
import { SimCallControl } from "./callControl.js";
import { LAB_DEVICES, queueStatusItems } from "./labPbx.js";
import { LiveChannels } from "./liveChannels.js";
import { renumberTrace } from "./renumber.js";
import { encodeMessage, type Fields } from "./replay.js";

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

/** Scenarios that make no sense on their own in a demo (a second connection's view, raw listings, a PBX restart). */
const SKIP = /originator|resync|burst|restart/;

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
  // Long enough for a demo user to click hang up, transfer or hold on a connected call.
  if (message.startsWith("Event: BridgeEnter")) return 1500;
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
  private readonly originates: AmiMessage[] = [];
  private readonly clickToDial: Buffer | null;
  /** Each played click-to-dial gets its own renumbering copy, so its channels never collide. */
  private clickToDials = 0;
  private readonly live = new LiveChannels();
  private readonly control: SimCallControl;

  constructor(private readonly opts: SimulatorOptions) {
    // record: false — the demo may run for days; nothing reads what it received.
    this.server = new AmiServer({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0, asteriskVersion: "22.10.1 (ctibridge simulator)", record: false, fullyBooted: true });
    const dir = opts.tracesDir ?? defaultTracesDir();
    this.traces = readdirSync(dir)
      .filter((f) => f.endsWith(".ami") && !SKIP.test(f))
      .sort()
      .map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
    if (this.traces.length === 0) throw new Error(`no .ami traces in ${dir}`);
    const c2d = readdirSync(dir).find((f) => f === "13-click-to-dial.ami");
    this.clickToDial = c2d ? readFileSync(join(dir, c2d)) : null;
    // Click-to-dial: the recorded click-to-dial scenario, re-targeted at the requested
    // device, number and ChannelId, is played after the scenario that is running.
    this.server.handle("Originate", (action) => {
      if (!this.clickToDial || this.originates.length >= 10) {
        return [
          ["Response", "Error"],
          ["Message", this.clickToDial ? "Simulator busy" : "No click-to-dial recording to play"],
        ];
      }
      this.originates.push(action);
      this.wake?.();
      return [
        ["Response", "Success"],
        ["Message", "Originate successfully queued"],
      ];
    });
    this.updateLists();
    this.control = new SimCallControl({
      server: this.server,
      live: this.live,
      send: (f) => this.send(f),
      sleep: (ms) => this.sleep(ms),
      wake: () => this.wake?.(),
      stopped: () => this.stopped,
    });
  }

  /** QueueStatus and DeviceStateList as Asterisk would answer now. */
  private updateLists(): void {
    const state = (d: string) => this.live.deviceStates.get(d) ?? "NOT_INUSE";
    this.server.setList("QueueStatus", queueStatusItems(state, () => false));
    const devices = [...new Set([...LAB_DEVICES, ...this.live.deviceStates.keys()])];
    this.server.setList(
      "DeviceStateList",
      devices.map((d): Fields => [
        ["Event", "DeviceStateChange"],
        ["Device", d],
        ["State", state(d)],
      ]),
    );
  }

  /** Send one event to every client and follow it. */
  private async send(fields: Fields): Promise<void> {
    const bytes = encodeMessage(fields);
    await this.server.replay(bytes, { raw: true });
    this.observe(bytes.toString("utf8"));
  }

  private observe(message: string): void {
    this.live.observe(message);
    if (message.startsWith("Event: DeviceStateChange")) this.updateLists();
    else if (message.includes("\r\nUniqueid: ")) this.updateChannels();
  }

  /** CoreShowChannels as Asterisk would answer now: the channels up (a reconnecting client resyncs from it). */
  private updateChannels(): void {
    this.server.setList(
      "CoreShowChannels",
      this.live.all().map((ch): Fields => [
        ["Event", "CoreShowChannel"],
        ...(["Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "Context", "Exten"] as const).map((k) => [k, ch[k]] as const),
        ["Application", "Dial"],
        ["Duration", "00:00:01"],
        ["BridgeId", ch.bridge ?? ""],
      ]),
    );
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
      if (this.control.pending) await this.control.play();
      if (this.server.connections.length === 0) {
        await this.sleep(200 * this.opts.speed);
        continue;
      }
      const originate = this.originates.shift();
      const trace = this.traces[this.scenariosPlayed % this.traces.length]!;
      if (this.scenariosPlayed > 0 && this.scenariosPlayed % this.traces.length === 0) copy++;
      const shift = Date.now() - 1_795_300_000_000;
      const text = originate
        ? this.retarget(renumberTrace(this.clickToDial!, 1000 + ++this.clickToDials, { stripPreamble: true, dropResponses: true, timeShiftMs: shift }), originate)
        : renumberTrace(trace.bytes, copy, { stripPreamble: true, dropResponses: true, timeShiftMs: shift }).toString("utf8");
      this.opts.log.debug({ scenario: originate ? "click-to-dial" : trace.name, copy }, "simulator scenario");
      for (const message of text.split("\r\n\r\n")) {
        if (this.stopped) return;
        if (this.control.pending) break;
        if (message.trim() === "") continue;
        await this.server.replay(Buffer.from(message + "\r\n\r\n", "utf8"), { raw: true });
        this.observe(message);
        const pause = pauseAfter(message);
        if (pause > 2) await this.sleep(pause);
      }
      if (this.control.pending) await this.control.play();
      if (!originate) this.scenariosPlayed++;
      await this.sleep(this.opts.gapMs);
    }
  }

  /** The recorded click-to-dial as the requested Originate: its device, number, ChannelId, ActionID. */
  private retarget(bytes: Buffer, action: AmiMessage): string {
    let text = bytes.toString("utf8");
    const root = /^Uniqueid: (\S+)$/m.exec(text)?.[1];
    const device = action.get("Channel") ?? "PJSIP/1001";
    const to = action.get("Exten") ?? "0309876543";
    if (root) text = text.split(root).join(action.get("ChannelId") ?? root);
    text = text.split("PJSIP/1001-").join(`${device}-`).split("0309876543").join(to);
    return text.replace(/^ActionID: c2d-4711$/m, `ActionID: ${action.get("ActionID") ?? ""}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
    await this.server.close();
  }
}
