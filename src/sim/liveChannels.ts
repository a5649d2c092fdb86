/**
 * The channels a replayed scenario has up, as the simulator's AMI server must know them to
 * answer Hangup, BlindTransfer, Redirect and PJSIPNotify the way Asterisk does: read from the
 * events it sends (Newchannel … Hangup), with their last channel fields and bridge.
 */
import type { Fields } from "./replay.js";

/** The channel fields of an Asterisk 22 event, in wire order. */
export const CHANNEL_KEYS = [
  "Channel",
  "ChannelState",
  "ChannelStateDesc",
  "CallerIDNum",
  "CallerIDName",
  "ConnectedLineNum",
  "ConnectedLineName",
  "Language",
  "AccountCode",
  "Context",
  "Exten",
  "Priority",
  "Uniqueid",
  "Linkedid",
] as const;

export type SimChannel = Record<(typeof CHANNEL_KEYS)[number], string> & { bridge: string | null };

export function parseMessage(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(": ");
    if (i > 0 && !m.has(line.slice(0, i))) m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

export class LiveChannels {
  private readonly byId = new Map<string, SimChannel>();
  /** Device → Asterisk state name, from DeviceStateChange. */
  readonly deviceStates = new Map<string, string>();

  /** Follow one message the simulator sent. */
  observe(text: string): void {
    const m = parseMessage(text);
    const event = m.get("Event");
    if (event === "DeviceStateChange") {
      const d = m.get("Device");
      if (d) this.deviceStates.set(d, m.get("State") ?? "UNKNOWN");
      return;
    }
    const id = m.get("Uniqueid");
    if (!id || !m.has("Channel")) return;
    if (event === "Hangup") return void this.byId.delete(id);
    const ch = this.byId.get(id) ?? ({ bridge: null } as SimChannel);
    for (const k of CHANNEL_KEYS) ch[k] = m.get(k) ?? ch[k] ?? "";
    if (event === "BridgeEnter") ch.bridge = m.get("BridgeUniqueid") ?? null;
    if (event === "BridgeLeave") ch.bridge = null;
    this.byId.set(id, ch);
  }

  byName(name: string): SimChannel | undefined {
    for (const ch of this.byId.values()) if (ch.Channel === name) return ch;
    return undefined;
  }

  /** The other channels in the same bridge. */
  peers(ch: SimChannel): SimChannel[] {
    return ch.bridge === null ? [] : [...this.byId.values()].filter((o) => o !== ch && o.bridge === ch.bridge);
  }

  /**
   * Who this channel talks to: its bridge peer, or (between the two BridgeEnter events of an
   * answer, which the simulator paces apart) the other channel of its call that is up.
   */
  partner(ch: SimChannel): SimChannel | undefined {
    return (
      this.peers(ch)[0] ??
      [...this.byId.values()].find((o) => o !== ch && o.Linkedid === ch.Linkedid && o.ChannelStateDesc === "Up" && !o.Channel.startsWith("Local/"))
    );
  }

  all(): SimChannel[] {
    return [...this.byId.values()];
  }
}

/** A channel's fields for an event, optionally prefixed (`Dest`, `Transferer` …). */
export function channelFields(ch: SimChannel, prefix = ""): Fields {
  return CHANNEL_KEYS.map((k) => [`${prefix}${k}`, ch[k]] as const);
}

export function hangupEvent(ch: SimChannel): Fields {
  return [["Event", "Hangup"], ...channelFields(ch), ["Cause", "16"], ["Cause-txt", "Normal Clearing"]];
}
