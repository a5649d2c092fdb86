/**
 * The simulator's answers to call control, as Asterisk 22 gives them, on the channels the
 * running scenario has up (LiveChannels): Hangup, BlindTransfer, Redirect, PJSIPNotify (hold).
 * An action is answered at once; what follows (events) is played by the scenario loop
 * between two of its messages (`play`), and the rest of that scenario is dropped.
 */
import type { AmiMessage } from "../ami/codec.js";
import type { AmiServer, SimConnection } from "./amiServer.js";
import { channelFields, hangupEvent, type LiveChannels, type SimChannel } from "./liveChannels.js";
import type { Fields } from "./replay.js";

/** What a call-control action asked for. */
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

export interface SimCallControlDeps {
  server: AmiServer;
  live: LiveChannels;
  /** Send one event to every client (and follow it in `live`). */
  send: (fields: Fields) => Promise<void>;
  /** The scenario loop's pacing (speed-scaled, woken by `wake`). */
  sleep: (ms: number) => Promise<void>;
  wake: () => void;
  stopped: () => boolean;
}

export class SimCallControl {
  private interrupt: Interrupt | null = null;
  /** Channels the simulator creates itself (a transfer target), numbered. */
  private made = 0;

  constructor(private readonly d: SimCallControlDeps) {
    d.server.handle("Hangup", (a, conn) => this.onHangup(a, conn));
    d.server.handle("BlindTransfer", (a, conn) => this.onTransfer(a, conn, true));
    d.server.handle("Redirect", (a, conn) => this.onTransfer(a, conn, false));
    d.server.handle("PJSIPNotify", (a, conn) => this.onNotify(a, conn));
    d.server.handle("Atxfer", (_a, conn) =>
      conn.loggedIn
        ? [
            ["Response", "Error"],
            ["Message", "Attended transfer is not simulated; use a blind transfer"],
          ]
        : DENIED,
    );
  }

  /** An action waits to be played. */
  get pending(): boolean {
    return this.interrupt !== null;
  }

  private onHangup(a: AmiMessage, conn: SimConnection): Fields {
    if (!conn.loggedIn) return DENIED;
    const ch = this.d.live.byName(a.get("Channel") ?? "");
    if (!ch || this.interrupt) return NO_CHANNEL;
    this.interrupt = { kind: "hangup", channel: ch };
    this.d.wake();
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
    const ch = this.d.live.byName(a.get("Channel") ?? "");
    const exten = a.get("Exten") ?? "";
    if (!ch || this.interrupt) return NO_CHANNEL;
    if (!/^[0-9*#+]+$/.test(exten)) return [["Response", "Error"], ["Message", "Exten not specified"]];
    const peer = this.d.live.partner(ch);
    if (blind && !peer) return [["Response", "Error"], ["Message", "Transfer failed"]];
    this.interrupt = blind
      ? { kind: "transfer", transferee: peer!, transferer: ch, context: a.get("Context") ?? "from-internal", exten, blind }
      : { kind: "transfer", transferee: ch, transferer: peer ?? null, context: a.get("Context") ?? "from-internal", exten, blind };
    this.d.wake();
    return blind
      ? [["Response", "Success"], ["Message", "Transfer succeeded"]]
      : [["Response", "Success"], ["Message", "Redirect successful"]];
  }

  /** A phone that honours hold NOTIFY holds (or resumes), and Asterisk reports Hold/Unhold. */
  private onNotify(a: AmiMessage, conn: SimConnection): Fields {
    if (!conn.loggedIn) return DENIED;
    const ch = this.d.live.byName(a.get("Channel") ?? "");
    if (!ch) return NO_CHANNEL;
    const resume = /unhold|talk|resume/i.test(a.get("Option") ?? "");
    // After the response, as Asterisk: the phone answers the NOTIFY, then re-INVITEs.
    setImmediate(() => void this.d.send(resume ? [["Event", "Unhold"], ...channelFields(ch)] : [["Event", "Hold"], ...channelFields(ch), ["MusicClass", "default"]]));
    return [
      ["Response", "Success"],
      ["Message", "NOTIFY sent"],
    ];
  }

  private deviceOf(ch: SimChannel): string {
    return ch.Channel.replace(/-[^-]+$/, "");
  }

  private async hangUp(chans: SimChannel[]): Promise<void> {
    for (const ch of chans) {
      if (!this.d.live.byName(ch.Channel)) continue;
      await this.d.send(hangupEvent(ch));
      await this.d.send([["Event", "DeviceStateChange"], ["Device", this.deviceOf(ch)], ["State", "NOT_INUSE"]]);
    }
  }

  /** Play what the interrupt asked for, then end whatever the dropped rest of the scenario left up. */
  async play(): Promise<void> {
    while (this.interrupt && !this.d.stopped()) {
      const it = this.interrupt;
      this.interrupt = null;
      if (it.kind === "hangup") await this.hangUp([it.channel, ...this.d.live.all().filter((c) => c !== it.channel)]);
      else await this.playTransfer(it);
    }
    await this.hangUp(this.d.live.all());
  }

  /** The transferee dials the target, which rings, answers, talks a moment and hangs up (trace 16's shape). */
  private async playTransfer(t: Extract<Interrupt, { kind: "transfer" }>): Promise<void> {
    const { transferee, transferer } = t;
    if (t.blind && transferer) {
      await this.d.send([
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
      if (this.d.stopped() || this.interrupt) return;
      if (typeof step === "number") await this.d.sleep(step);
      else await this.d.send(step);
    }
    await this.hangUp([this.d.live.byName(dest.Channel) ?? dest, transferee]);
  }
}
