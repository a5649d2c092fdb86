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
import { AmiServer, type SimConnection } from "./amiServer.js";
import { LAB_DEVICES, queueStatusItems } from "./labPbx.js";
import { channelFields, hangupEvent, LiveChannels, type SimChannel } from "./liveChannels.js";
import { renumberTrace } from "./renumber.js";
import { encodeMessage, type Fields } from "./replay.js";

/** What a call-control action asked for, played by the scenario loop between two messages. */
type Interrupt =
  | { kind: "hangup"; channel: SimChannel }
  | { kind: "transfer"; transferee: SimChannel; transferer: SimChannel | null; context: string; exten: string; blind: boolean };

const DENIED: Fields = [
  ["Response", "Error"],
  ["Message", "Permission denied"],
];
const NO_CHANNEL: Fields = [
  ["Response", "Error"],
  ["Message", "No such channel"],
];

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
  private readonly originates: AmiMessage[] = [];
  private readonly clickToDial: Buffer | null;
  /** Each played click-to-dial gets its own renumbering copy, so its channels never collide. */
  private clickToDials = 0;
  private readonly live = new LiveChannels();
  private interrupt: Interrupt | null = null;
  /** Channels the simulator creates itself (a transfer target), numbered. */
  private made = 0;

  constructor(private readonly opts: SimulatorOptions) {
    // record: false — the demo may run for days; nothing reads what it received.
    this.server = new AmiServer({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0, asteriskVersion: "22.10.1 (ctibridge simulator)", record: false });
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
    this.server.handle("Hangup", (a, conn) => this.onHangup(a, conn));
    this.server.handle("BlindTransfer", (a, conn) => this.onTransfer(a, conn, true));
    this.server.handle("Redirect", (a, conn) => this.onTransfer(a, conn, false));
    this.server.handle("PJSIPNotify", (a, conn) => this.onNotify(a, conn));
    this.server.handle("Atxfer", (_a, conn) =>
      conn.loggedIn
        ? [
            ["Response", "Error"],
            ["Message", "Attended transfer is not simulated; use a blind transfer"],
          ]
        : DENIED,
    );
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

  private onHangup(a: AmiMessage, conn: SimConnection): Fields {
    if (!conn.loggedIn) return DENIED;
    const ch = this.live.byName(a.get("Channel") ?? "");
    if (!ch || this.interrupt) return NO_CHANNEL;
    this.interrupt = { kind: "hangup", channel: ch };
    this.wake?.();
    return [
      ["Response", "Success"],
      ["Message", "Channel Hungup"],
    ];
  }

  /**
   * BlindTransfer: the named channel's bridge peer goes to Context/Exten, the named channel
   * hangs up. Redirect: the named channel itself goes there, its peer hangs up.
   */
  private onTransfer(a: AmiMessage, conn: SimConnection, blind: boolean): Fields {
    if (!conn.loggedIn) return DENIED;
    const ch = this.live.byName(a.get("Channel") ?? "");
    const exten = a.get("Exten") ?? "";
    if (!ch || this.interrupt) return NO_CHANNEL;
    if (!/^[0-9*#+]+$/.test(exten)) return [["Response", "Error"], ["Message", "Exten not specified"]];
    const peer = this.live.partner(ch);
    if (blind && !peer) return [["Response", "Error"], ["Message", "Transfer failed"]];
    this.interrupt = blind
      ? { kind: "transfer", transferee: peer!, transferer: ch, context: a.get("Context") ?? "from-internal", exten, blind }
      : { kind: "transfer", transferee: ch, transferer: peer ?? null, context: a.get("Context") ?? "from-internal", exten, blind };
    this.wake?.();
    return blind
      ? [["Response", "Success"], ["Message", "Transfer succeeded"]]
      : [["Response", "Success"], ["Message", "Redirect successful"]];
  }

  /** A phone that honours hold NOTIFY holds (or resumes), and Asterisk reports Hold/Unhold. */
  private onNotify(a: AmiMessage, conn: SimConnection): Fields {
    if (!conn.loggedIn) return DENIED;
    const ch = this.live.byName(a.get("Channel") ?? "");
    if (!ch) return NO_CHANNEL;
    const resume = /unhold|talk|resume/i.test(a.get("Option") ?? "");
    // After the response, as Asterisk: the phone answers the NOTIFY, then re-INVITEs.
    setImmediate(() => void this.send(resume ? [["Event", "Unhold"], ...channelFields(ch)] : [["Event", "Hold"], ...channelFields(ch), ["MusicClass", "default"]]));
    return [
      ["Response", "Success"],
      ["Message", "NOTIFY sent"],
    ];
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
  }

  private deviceOf(ch: SimChannel): string {
    return ch.Channel.replace(/-[^-]+$/, "");
  }

  private async hangUp(chans: SimChannel[]): Promise<void> {
    for (const ch of chans) {
      if (!this.live.byName(ch.Channel)) continue;
      await this.send(hangupEvent(ch));
      await this.send([["Event", "DeviceStateChange"], ["Device", this.deviceOf(ch)], ["State", "NOT_INUSE"]]);
    }
  }

  /** Play what the interrupt asked for, then end whatever the dropped rest of the scenario left up. */
  private async playInterrupt(): Promise<void> {
    while (this.interrupt && !this.stopped) {
      const it = this.interrupt;
      this.interrupt = null;
      if (it.kind === "hangup") await this.hangUp([it.channel, ...this.live.all().filter((c) => c !== it.channel)]);
      else await this.playTransfer(it);
    }
    await this.hangUp(this.live.all());
  }

  /** The transferee dials the target, which rings, answers, talks a moment and hangs up (trace 16's shape). */
  private async playTransfer(t: Extract<Interrupt, { kind: "transfer" }>): Promise<void> {
    const { transferee, transferer } = t;
    if (t.blind && transferer) {
      await this.send([
        ["Event", "BlindTransfer"],
        ["Result", "Success"],
        ...channelFields(transferer, "Transferer"),
        ...channelFields(transferee, "Transferee"),
        ["BridgeUniqueid", transferee.bridge ?? ""],
        ["BridgeType", "basic"],
        ["IsExternal", "Yes"],
        ["Context", t.context],
        ["Extension", t.exten],
      ]);
    }
    if (transferer) await this.hangUp([transferer]);
    const device = /^[0-9]{1,6}$/.test(t.exten) ? `PJSIP/${t.exten}` : "PJSIP/carrier";
    const n = ++this.made;
    const dest: SimChannel = {
      Channel: `${device}-5${n.toString(16).padStart(7, "0")}`,
      ChannelState: "0",
      ChannelStateDesc: "Down",
      CallerIDNum: t.exten,
      CallerIDName: "",
      ConnectedLineNum: transferee.CallerIDNum,
      ConnectedLineName: transferee.CallerIDName,
      Language: "en",
      AccountCode: "",
      Context: t.context,
      Exten: "",
      Priority: "1",
      Uniqueid: `${transferee.Uniqueid}.x${n}`,
      Linkedid: transferee.Linkedid,
      bridge: null,
    };
    const bridge = `sim-bridge-${n}`;
    const state = (ch: SimChannel, code: string, desc: string): Fields => [["Event", "Newstate"], ...channelFields({ ...ch, ChannelState: code, ChannelStateDesc: desc })];
    const enter = (ch: SimChannel, count: number): Fields => [
      ["Event", "BridgeEnter"],
      ["BridgeUniqueid", bridge],
      ["BridgeType", "basic"],
      ["BridgeTechnology", "simple_bridge"],
      ["BridgeCreator", "<unknown>"],
      ["BridgeName", "<unknown>"],
      ["BridgeNumChannels", String(count)],
      ["BridgeVideoSourceMode", "none"],
      ...channelFields(ch),
    ];
    const steps: (Fields | number)[] = [
      [["Event", "Newchannel"], ...channelFields(dest)],
      [["Event", "DialBegin"], ...channelFields(transferee), ...channelFields(dest, "Dest"), ["DialString", t.exten]],
      state(dest, "5", "Ringing"),
      [["Event", "DeviceStateChange"], ["Device", device], ["State", "RINGING"]],
      1200,
      [["Event", "DialEnd"], ...channelFields(transferee), ...channelFields(dest, "Dest"), ["DialStatus", "ANSWER"]],
      state(dest, "6", "Up"),
      [["Event", "DeviceStateChange"], ["Device", device], ["State", "INUSE"]],
      enter({ ...dest, ChannelState: "6", ChannelStateDesc: "Up" }, 1),
      enter(transferee, 2),
      2500,
    ];
    for (const step of steps) {
      if (this.stopped || this.interrupt) return;
      if (typeof step === "number") await this.sleep(step);
      else await this.send(step);
    }
    await this.hangUp([this.live.byName(dest.Channel) ?? dest, transferee]);
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
      if (this.interrupt) await this.playInterrupt();
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
        if (this.interrupt) break;
        if (message.trim() === "") continue;
        await this.server.replay(Buffer.from(message + "\r\n\r\n", "utf8"), { raw: true });
        this.observe(message);
        const pause = pauseAfter(message);
        if (pause > 2) await this.sleep(pause);
      }
      if (this.interrupt) await this.playInterrupt();
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
