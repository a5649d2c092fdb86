/**
 * The call tracker: folds PBX events into conversations and per-user legs and emits domain
 * events. Channels are keyed by Uniqueid, calls by Linkedid (asterisk-java `live`); events
 * arrive out of order, so unknown channels are skipped at debug level, never thrown on.
 * Pure: no sockets, no database, no clock — time comes in with each event.
 */
import type { ChannelInfo, PbxEvent } from "./pbxEvents.js";
import { parseChannel } from "../directory/devices.js";
import type { NumberOptions } from "../directory/numbers.js";
import type { Config } from "../config.js";
import type { AnyCallEvent, Call, Match, Annotation } from "./model.js";
import { addLive, appended, Conversation, type ConversationEnv } from "./conversation.js";
import { cloneCall, iso, isTime, ringStopFromCause, ringStopFromDialStatus, type MissedPolicy } from "./outcomes.js";
import { makeParty, unknownParty } from "./parties.js";
import { finishRestore, restoreFromSnapshot } from "./restore.js";
import { Chan, type ChannelRole } from "./channels.js";
import { NO_IVR, own } from "./strings.js";
import { consultingDevice, DeferredResumes, startConsultation } from "./movements/consultation.js";
import { featureMatcher } from "./movements/featureCodes.js";
import { mergeConversations, type MergeKind } from "./movements/merge.js";
import * as park from "./movements/park.js";
import { pickUp } from "./movements/pickup.js";
import { Redirects } from "./movements/redirect.js";
import { attendedTransfer, blindTransfer, originalCaller } from "./movements/transfer.js";

export { Chan, type ChannelRole } from "./channels.js";

export interface TrackerDeps {
  userForDevice: (device: string) => string | null;
  deviceForExtension: (ext: string) => string | null;
  trunks: ReadonlySet<string>;
  numbers: NumberOptions;
  missedPolicy: MissedPolicy;
  ivrVariables: readonly string[];
  keepEndedMs: number;
  onEvent: (ev: AnyCallEvent) => void;
  newCallId: () => string;
  /** callIds of calls that were open before a daemon restart, by linkedid. */
  knownCallId?: (linkedId: string) => string | undefined;
  /** The last snapshot of a call that was open before a daemon restart, by linkedid (its times, ended legs …). */
  restoredCall?: (linkedId: string) => Call | undefined;
  debug?: (fields: Record<string, unknown>, msg: string) => void;
  /** Contact lookup, asked before the first event that carries the external number. */
  lookup?: (call: Call) => Match | null;
  /** Dialplan patterns of feature codes (`*8`, `_**X.`, parking spaces): such a dial is not a call of its own. */
  featureCodes?: readonly string[];
}

/** The tracker's deps that come straight from the configuration and the user directory. */
export function trackerDepsFromConfig(
  config: Pick<Config, "trunks" | "numbers" | "calls">,
  dir: { userForDevice(d: string): string | null; deviceForExtension(e: string): string | null },
): Pick<TrackerDeps, "userForDevice" | "deviceForExtension" | "trunks" | "numbers" | "missedPolicy" | "ivrVariables" | "keepEndedMs" | "featureCodes"> {
  return {
    userForDevice: (d) => dir.userForDevice(d),
    deviceForExtension: (e) => dir.deviceForExtension(e),
    trunks: new Set(config.trunks),
    numbers: config.numbers,
    missedPolicy: config.calls.missedPolicy,
    ivrVariables: config.calls.ivrVariables,
    keepEndedMs: config.calls.keepEndedMs,
    featureCodes: config.calls.featureCodes,
  };
}

export class CallTracker {
  private readonly chans = new Map<string, Chan>();
  private readonly byLinked = new Map<string, Conversation>();
  private readonly byCallId = new Map<string, Conversation>();
  private readonly endedQueue: Conversation[] = [];
  /** Unholds of a call while the same phone talks in another (REFER juggling), by device: resumed later or never. */
  private readonly resumes = new DeferredResumes();
  private readonly redirects = new Redirects();
  private readonly ivr: ReadonlySet<string>;
  private readonly trunkNames: ReadonlyMap<string, string>;
  private readonly convEnv: ConversationEnv;
  private readonly isFeatureCode: (dialled: string) => boolean;
  private resyncing = false;
  eventsHandled = 0;

  constructor(private readonly deps: TrackerDeps) {
    this.ivr = new Set(deps.ivrVariables);
    this.convEnv = { emit: deps.onEvent, userOf: deps.userForDevice, lookup: deps.lookup, deferUpdates: () => this.resyncing };
    this.trunkNames = new Map([...deps.trunks].map((t) => [t, t]));
    this.isFeatureCode = featureMatcher(deps.featureCodes ?? []);
  }

  /** Whether a channel variable matters to the tracker (IVR allow-list, recording file). */
  readonly wantsVariable = (name: string): boolean => {
    const bare = name.charCodeAt(0) === 95 /* _ */ ? name.replace(/^_+/, "") : name;
    return this.ivr.has(bare) || bare === "MIXMONITOR_FILENAME";
  };

  handle(ev: PbxEvent): void {
    this.eventsHandled++;
    // toPbxEvent already fell back to the arrival time; this guards every other source of events.
    if (!isTime(ev.at)) return this.deps.debug?.({ type: ev.type, at: ev.at }, "event with an unusable time skipped");
    this.sweep(ev.at);
    switch (ev.type) {
      case "channelNew":
        this.channel(ev.ch, ev.at);
        return;
      case "channelState":
        return this.state(ev.ch, ev.at);
      case "channelListed": {
        const known = this.chans.has(ev.ch.channelId);
        const chan = this.channel(ev.ch, ev.at - ev.durationS * 1000, !known);
        if (!chan) return;
        chan.listed = true;
        this.state(ev.ch, ev.at);
        if (chan.role === "device" && ev.ch.state === "Up" && !chan.root && ev.bridgeId) this.answer(chan, ev.at);
        return;
      }
      case "dialBegin":
        return this.dialBegin(ev.caller, ev.dest, ev.at);
      case "dialState":
        if (ev.status === "RINGING") this.dialBegin(ev.caller, ev.dest, ev.at);
        return;
      case "dialEnd":
        return this.dialEnd(ev.dest, ev.status, ev.at);
      case "bridgeEnter": {
        const chan = this.known(ev.ch);
        if (chan?.conv && chan.role === "device" && !chan.root && ev.ch.state === "Up") this.answer(chan, ev.at);
        return;
      }
      case "hold":
      case "unhold": {
        const chan = this.known(ev.ch);
        if (!chan?.conv || !chan.device) return;
        // A phone that unholds the customer while it talks in a consultation call is about to
        // REFER (Asterisk 22 + pjsua unhold both calls just before the AttendedTransfer): the
        // resume goes out only if the consultation call then ends without a transfer.
        const wait = ev.type === "unhold" && this.resumes.unhold(chan.device, chan.conv, this.byCallId.values());
        chan.conv.hold(chan.device, ev.type === "hold", ev.at, wait);
        return;
      }
      case "bridgeLeave":
        return this.redirected(ev.ch);
      case "hangup":
        return this.hangup(ev.ch, ev.cause, ev.causeText, ev.at);
      case "varSet":
        return this.varSet(ev.ch, ev.name, ev.value, ev.at);
      case "queueJoin": {
        const conv = this.known(ev.ch)?.conv;
        if (conv && conv.call.queue !== ev.queue) {
          conv.call.queue = own(ev.queue);
          conv.updated(ev.at);
        }
        return;
      }
      case "queueAbandon": {
        const conv = this.known(ev.ch)?.conv;
        if (conv) conv.facts.queueAbandoned = true;
        return;
      }
      case "agentConnect": {
        const dest = ev.dest ? this.chans.get(ev.dest.channelId) : undefined;
        if (dest?.role === "device") this.answer(dest, ev.at);
        return;
      }
      case "agentRingNoAnswer": {
        const dest = ev.dest ? this.chans.get(ev.dest.channelId) : undefined;
        if (dest) this.ringOut(dest, ev.at);
        return;
      }
      case "conferenceJoin": {
        const chan = this.known(ev.ch);
        const conv = chan?.conv;
        if (!conv) return;
        conv.call.conference = own(ev.conference);
        if (chan.role === "device" && chan.device && !chan.root) this.answer(chan, ev.at);
        else conv.connectedWithoutLeg(ev.at);
        return;
      }
      case "voicemail": {
        const conv = this.known(ev.ch)?.conv;
        if (conv && !conv.facts.answered) conv.facts.voicemail = true;
        return;
      }
      case "blindTransfer":
        return this.blindTransferred(ev);
      case "attendedTransfer":
        return this.attendedTransferred(ev);
      case "parked":
      case "parkRetrieved":
      case "parkTimedOut":
      case "parkGaveUp":
        return this.park(ev);
      case "pickup": {
        const picker = this.known(ev.ch);
        const target = this.known(ev.target);
        if (!target?.conv || !picker?.device) return;
        return pickUp({ into: target.conv, from: picker.conv, device: picker.device, at: ev.at }, this.merger("pickup"));
      }
      case "rename": {
        const chan = this.chans.get(ev.channelId);
        if (chan) {
          chan.name = ev.newName;
          const p = parseChannel(ev.newName);
          if (p.kind === "device" && chan.role === "device") chan.device = p.device;
        }
        return;
      }
      case "originateResponse": {
        if (!ev.ok) this.originateFailed(ev.channelId, ev.reason, ev.at);
        return;
      }
      default:
        return;
    }
  }

  // ---- channels -------------------------------------------------------------------------

  private roleOf(name: string): { role: ChannelRole; device: string | null } {
    const p = parseChannel(name);
    if (p.kind !== "device") return { role: p.kind, device: p.device };
    // A trunk's name is the configuration's string, not one more copy per call.
    const trunk = this.trunkNames.get(p.device!);
    return trunk ? { role: "trunk", device: trunk } : { role: "device", device: p.device };
  }

  private known(ch: ChannelInfo): Chan | undefined {
    const chan = this.chans.get(ch.channelId);
    if (!chan) this.deps.debug?.({ channel: ch.name, channelId: ch.channelId }, "event for an unknown channel skipped");
    return chan;
  }

  /** Create (or find) a channel and attach it to its conversation. */
  private channel(ch: ChannelInfo, at: number, restored = false): Chan | undefined {
    let chan = this.chans.get(ch.channelId);
    if (chan) return chan;
    const name = own(ch.name);
    const { role, device } = this.roleOf(name);
    chan = new Chan(own(ch.channelId), name, role, device, ch.state, ch.channelId === ch.linkedId, own(ch.exten));
    this.chans.set(chan.id, chan);
    let conv = this.byLinked.get(ch.linkedId);
    if (!conv && (role === "device" || role === "trunk")) {
      conv = this.startCall(chan, chan.root ? chan.id : own(ch.linkedId), own(ch.callerNum), own(ch.callerName), at, restored);
    }
    if (!conv || conv.ended) return chan;
    chan.conv = conv;
    conv.channelIds = appended(conv.channelIds, chan.id);
    if (conv.pendingOriginate === chan.id) conv.pendingOriginate = null; // counted at beginClickToDial
    else if (role === "device" || role === "trunk") conv.liveParties++;
    if (role === "device" && chan.device) {
      addLive(conv.ensureLeg(chan.device, chan.device === conv.placer && chan.root), chan.id);
    }
    if (role === "trunk" && !chan.root && conv.placer) {
      conv.call.direction = "outbound";
      this.setDialled(conv, chan);
    }
    return chan;
  }

  private startCall(chan: Chan, linkedId: string, callerNum: string, callerName: string, at: number, restored: boolean, announce = true): Conversation {
    const snapshot = this.deps.restoredCall?.(linkedId);
    const callId = this.deps.knownCallId?.(linkedId) ?? snapshot?.callId ?? this.deps.newCallId();
    const n = this.deps.numbers;
    const ext = chan.exten === "s" ? "" : chan.exten;
    const inbound = chan.role === "trunk";
    const to = ext ? makeParty(ext, "", n, this.deps) : unknownParty();
    // The DID is normalised like every other number (the carrier often drops the `+`).
    const didRaw = inbound && chan.state !== "Down" ? ext || null : null;
    const call: Call = {
      callId,
      linkedIds: [linkedId],
      direction: inbound ? (chan.state === "Down" ? "outbound" : "inbound") : "internal",
      state: "ringing",
      from: inbound
        ? makeParty(callerNum, callerName, n, this.deps)
        : makeParty(callerNum, callerName, n, this.deps, chan.device),
      to,
      did: didRaw === null ? null : (to.e164 ?? didRaw),
      didRaw,
      queue: null,
      legs: [],
      answeredBy: null,
      times: { started: iso(at), ringing: null, answered: null, ended: null, waitSeconds: null, talkSeconds: null },
      outcome: null,
      hangupCause: null,
      endReason: null,
      transfer: null,
      park: null,
      ivr: NO_IVR,
      recording: null,
      restored: restored || this.deps.knownCallId?.(linkedId) !== undefined || snapshot !== undefined,
      clickToDial: false,
      conference: null,
      match: null,
      annotation: null,
      mergedInto: null,
    };
    const conv = new Conversation(call, this.convEnv);
    const fromSnapshot = snapshot?.callId === callId;
    if (fromSnapshot) restoreFromSnapshot(conv, snapshot);
    this.byLinked.set(linkedId, conv);
    this.byCallId.set(callId, conv);
    if (chan.role === "device" && chan.root && chan.device) {
      conv.placer = chan.device;
      conv.silent = this.isFeatureCode(ext);
      chan.conv = conv;
      // A phone dialling a number that is not an extension is calling out, before any trunk
      // channel exists (a rebuilt call keeps the direction of its snapshot).
      if (call.to.raw !== "" && !call.to.extension && !fromSnapshot) call.direction = "outbound";
      addLive(conv.ensureLeg(chan.device, true), chan.id);
      if (announce) conv.placerDialing(chan.device, at);
    }
    return conv;
  }

  /** The number a placing phone dialled, once known (Originate starts on `s`). */
  private setDialled(conv: Conversation, via: Chan): void {
    if (conv.call.to.raw !== "") return;
    const placerChan = [...conv.legs.get(conv.placer ?? "")?.live ?? []].map((id) => this.chans.get(id)).find(Boolean);
    const exten = placerChan && placerChan.exten !== "s" ? placerChan.exten : via.exten !== "s" ? via.exten : "";
    if (exten) conv.call.to = makeParty(exten, "", this.deps.numbers, this.deps);
  }

  private state(ch: ChannelInfo, at: number): void {
    const chan = this.known(ch);
    if (!chan) return;
    chan.state = ch.state;
    if (ch.exten && ch.exten !== "s" && ch.exten !== chan.exten) chan.exten = own(ch.exten);
    const conv = chan.conv;
    if (!conv || conv.ended || chan.root) return;
    if (chan.role === "device" && chan.device) {
      if (ch.state === "Ringing") conv.ringing(chan.device, at);
      else if (ch.state === "Up") this.answer(chan, at);
      else if (ch.state === "Busy") conv.stopRinging(chan.device, "declined", at);
    } else if (chan.role === "trunk" && ch.state === "Up" && conv.placer) {
      conv.connectedWithoutLeg(at);
    }
  }

  private answer(chan: Chan, at: number): void {
    const conv = chan.conv;
    if (!conv || conv.ended || !chan.device || chan.root) return;
    conv.answered(chan.device, at);
  }

  private dialBegin(caller: ChannelInfo | null, dest: ChannelInfo, at: number): void {
    const chan = this.chans.get(dest.channelId) ?? this.channel(dest, at);
    const conv = chan?.conv;
    if (!chan || !conv || conv.ended) return;
    const from = caller ? this.chans.get(caller.channelId) : undefined;
    if (from?.role === "local") from.dialled = chan.id;
    // An outgoing trunk channel starts on `s`; the dial names the number (DestExten).
    if (chan.role === "trunk" && !chan.root && dest.exten && dest.exten !== "s" && chan.exten === "s") chan.exten = own(dest.exten);
    if (caller) this.redirects.dialled(caller.channelId, at, this.deps);
    if (caller && chan.role === "device" && chan.device && from?.role === "local") this.consultation(conv, caller, chan.device);
    if (chan.role === "device" && chan.device && !chan.root) conv.ringing(chan.device, at);
    if (caller && conv.placer && conv.call.to.raw === "") this.setDialled(conv, chan);
  }

  private dialEnd(dest: ChannelInfo, status: string, at: number): void {
    const chan = this.known(dest);
    const conv = chan?.conv;
    if (!chan || !conv || conv.ended) return;
    if (status !== "ANSWER" && status !== "CANCEL") conv.facts.lastDialStatus = status;
    if (chan.role === "device" && chan.device && !chan.root) {
      if (status === "ANSWER") this.answer(chan, at);
      else conv.stopRinging(chan.device, ringStopFromDialStatus(status, conv.facts.answered), at);
    } else if (chan.role === "local" && status === "NOANSWER") {
      this.ringOut(chan, at);
    } else if (chan.role === "trunk" && status === "ANSWER") {
      // An inbound call answered on an outgoing trunk channel: an external ring-group member.
      const external = !conv.placer && !chan.root && chan.exten !== "s" && chan.exten !== "" ? chan.exten : undefined;
      conv.connectedWithoutLeg(at, external);
    }
  }

  /**
   * A member rang out (queue member timeout, `AgentRingNoAnswer` / `DialEnd NOANSWER`) while the
   * caller waits. For a Local member the event names the `;1` half; the phone is what its `;2`
   * half dialled, whose own `DialEnd CANCEL` follows and must not turn this into a hangup.
   */
  private ringOut(chan: Chan, at: number): void {
    let dev: Chan | undefined = chan;
    if (chan.role === "local" && chan.conv && chan.name.endsWith(";1")) {
      const twin = chan.name.slice(0, -1) + "2";
      const half = chan.conv.channelIds.map((id) => this.chans.get(id)).find((c) => c?.name === twin);
      dev = half?.dialled ? this.chans.get(half.dialled) : undefined;
    }
    if (dev?.conv && dev.role === "device" && dev.device && !dev.root) dev.conv.stopRinging(dev.device, "timeout", at);
  }

  private hangup(ch: ChannelInfo, cause: number, causeText: string, at: number): void {
    const chan = this.chans.get(ch.channelId);
    if (!chan || chan.hungUp) return;
    chan.hungUp = true;
    this.redirects.gone(chan.id);
    const conv = chan.conv;
    if (!conv) {
      this.chans.delete(chan.id);
      return;
    }
    if (conv.ended) return;
    if (chan.root || (!conv.call.hangupCause && chan.role !== "local")) conv.call.hangupCause = { code: cause, text: causeText };
    if (chan.role === "device" && chan.device) {
      conv.stopRinging(chan.device, ringStopFromCause(cause, conv.facts.answered), at);
      conv.legChannelGone(chan.device, chan.id, at);
    }
    if (chan.role === "device" || chan.role === "trunk") conv.liveParties--;
    if (conv.liveParties <= 0) this.endCall(conv, at, false);
    else if (chan.role === "device" && chan.device && !this.redirects.movedFrom(conv, chan.device)) conv.left(chan.device, at);
    if (chan.role === "device" && chan.device) this.resumes.channelGone(chan.device, conv, at);
  }

  private varSet(ch: ChannelInfo, name: string, value: string, at: number): void {
    const bare = name.charCodeAt(0) === 95 /* _ */ ? name.replace(/^_+/, "") : name;
    const isIvr = this.ivr.has(bare);
    if (!isIvr && bare !== "MIXMONITOR_FILENAME") return;
    const conv = this.chans.get(ch.channelId)?.conv;
    if (!conv || conv.ended) return;
    if (isIvr) {
      if (conv.call.ivr[bare] === value) return;
      conv.call.ivr = { ...conv.call.ivr, [own(bare)]: own(value) };
    } else {
      if (conv.call.recording === value) return;
      conv.call.recording = own(value);
    }
    conv.updated(at);
  }

  private endCall(conv: Conversation, at: number, unknownEnd: boolean): void {
    conv.end(at, this.deps.missedPolicy, unknownEnd);
    this.endedQueue.push(conv);
  }

  /** Forget ended calls once nothing late can arrive for them. */
  private sweep(now: number): void {
    const q = this.endedQueue;
    while (q.length > 0 && now - q[0]!.endedAtMs > this.deps.keepEndedMs) {
      const conv = q.shift()!;
      for (const id of conv.call.linkedIds) if (this.byLinked.get(id) === conv) this.byLinked.delete(id);
      if (this.byCallId.get(conv.call.callId) === conv) this.byCallId.delete(conv.call.callId);
      for (const id of conv.channelIds) {
        this.chans.delete(id);
        this.redirects.gone(id);
      }
    }
  }

  // ---- call movements (calls/movements/): the tracker resolves channels, the modules act ----

  private park(ev: Extract<PbxEvent, { type: "parked" | "parkRetrieved" | "parkTimedOut" | "parkGaveUp" }>): void {
    const conv = this.known(ev.parkee)?.conv;
    if (!conv) return;
    if (ev.type === "parked") {
      // ParkerDialString names the parker's phone (`PJSIP/1001`); AMI Park from outside may name none.
      const device = ev.parkerDial && (conv.legs.has(ev.parkerDial) || this.deps.userForDevice(ev.parkerDial)) ? ev.parkerDial : null;
      return park.parked(conv, device ? { userId: this.deps.userForDevice(device), device } : null, own(ev.slot), ev.at);
    }
    if (ev.type === "parkTimedOut") return park.timedOut(conv, ev.at);
    if (ev.type === "parkGaveUp") return park.gaveUp(conv);
    const retriever = ev.retriever ? this.known(ev.retriever) : undefined;
    if (!retriever?.device || retriever.role !== "device") return;
    const input = { into: conv, from: retriever.conv, device: retriever.device, userId: this.deps.userForDevice(retriever.device), at: ev.at };
    park.retrieved(input, this.merger("park_retrieve"));
  }

  /** mergeConversations for a movement module (pickup, park), keeping the tracker's indexes. */
  private merger(kind: MergeKind): (into: Conversation, from: Conversation, at: number) => void {
    return (into, from, at) => this.merge(into, from, at, kind);
  }

  /** Merge `from` into `into` and point every channel and linkedid of `from` at `into`. */
  private merge(into: Conversation, from: Conversation, at: number, kind: MergeKind): void {
    if (into === from) return;
    const moved = mergeConversations(into, from, at, kind);
    for (const id of moved.channelIds) {
      const chan = this.chans.get(id);
      if (chan) chan.conv = into;
    }
    for (const id of moved.linkedIds) this.byLinked.set(id, into);
    this.endedQueue.push(from);
  }

  private blindTransferred(ev: Extract<PbxEvent, { type: "blindTransfer" }>): void {
    if (!ev.ok) return;
    const transferer = ev.transferer ? this.chans.get(ev.transferer.channelId) : undefined;
    const transferee = ev.transferee ? this.chans.get(ev.transferee.channelId) : undefined;
    const conv = transferer?.conv ?? transferee?.conv;
    if (!conv) return;
    const byDevice = transferer?.role === "device" ? transferer.device : null;
    for (const c of [transferer, transferee]) if (c) this.redirects.reported(c.id);
    // A transfer to a feature code (the park extension 700): the ParkedCall that follows says what it was.
    if (this.isFeatureCode(ev.exten)) return;
    blindTransfer(conv, { byDevice, exten: ev.exten, at: ev.at }, this.deps);
  }

  /** The caller's channel left its bridge on a new extension: perhaps an AMI Redirect (movements/redirect.ts). */
  private redirected(ch: ChannelInfo): void {
    const chan = this.chans.get(ch.channelId);
    const conv = chan?.conv;
    if (!chan || !conv || chan.hungUp || !(chan.root || chan.role === "trunk")) return;
    if (!ch.exten || ch.exten === chan.exten || ch.exten === "h") return;
    chan.exten = own(ch.exten);
    this.redirects.note(conv, chan.id, chan.device, chan.exten);
  }

  private attendedTransferred(ev: Extract<PbxEvent, { type: "attendedTransfer" }>): void {
    if (!ev.ok) return;
    const orig = ev.origTransferer ? this.chans.get(ev.origTransferer.channelId) : undefined;
    const second = ev.secondTransferer ? this.chans.get(ev.secondTransferer.channelId) : undefined;
    const target = ev.target ? this.chans.get(ev.target.channelId) : undefined;
    const a = orig?.conv;
    const b = second?.conv ?? target?.conv;
    if (!a || a.ended) return;
    const byDevice = orig?.role === "device" ? orig.device : null;
    const caller = originalCaller(a, byDevice);
    const targetRaw = b && b !== a ? (b.placer === byDevice ? b.call.to.raw : b.call.from.raw) : "";
    if (b && b !== a) this.merge(a, b, ev.at, "attended_transfer");
    if (byDevice) this.resumes.transferred(byDevice);
    attendedTransfer(a, { byDevice, target: target?.role === "device" ? target.device : null, targetRaw, caller, at: ev.at }, this.deps);
  }

  /** A dial from a Local channel into a call where the caller id's phone talks: a consultation. */
  private consultation(conv: Conversation, caller: ChannelInfo, targetDevice: string): void {
    const from = consultingDevice(conv, caller.callerNum, targetDevice, this.deps.deviceForExtension);
    if (!from) return;
    const n = this.deps.numbers;
    startConsultation(conv.ensureLeg(targetDevice, false), {
      fromDevice: from,
      from: makeParty(caller.callerNum, caller.callerName, n, this.deps, from),
      for: originalCaller(conv, from),
    });
  }

  // ---- resync ---------------------------------------------------------------------------

  /** A (re)login happened: the status listing that follows says which channels still exist. */
  beginResync(): void {
    this.resyncing = true;
    for (const chan of this.chans.values()) chan.listed = false;
  }

  /** The listing is complete: channels it did not name vanished while we were away. */
  endResync(at: number): void {
    if (!this.resyncing) return;
    this.resyncing = false;
    for (const chan of [...this.chans.values()]) {
      if (chan.listed || chan.hungUp) continue;
      chan.hungUp = true;
      const conv = chan.conv;
      if (!conv || conv.ended) continue;
      if (chan.device) conv.legChannelGone(chan.device, chan.id, at);
      if (chan.role === "device" || chan.role === "trunk") conv.liveParties--;
      if (conv.liveParties <= 0) this.endCall(conv, at, true);
    }
    for (const conv of this.byCallId.values()) if (conv.restoredLegs) finishRestore(conv, iso(at));
    for (const conv of this.byCallId.values()) if (!conv.ended) conv.flushDeferredUpdate();
  }

  /** The listing failed: nothing is concluded from it; updates held back for it go out now. */
  abortResync(): void {
    if (!this.resyncing) return;
    this.resyncing = false;
    for (const conv of this.byCallId.values()) if (!conv.ended) conv.flushDeferredUpdate();
  }

  // ---- reconcile: periodic listings while live events keep flowing ----------------------

  /**
   * Active calls the PBX no longer has: none of their channels, and no channel whose Uniqueid
   * is one of their linkedids, is in `listed` (Uniqueids of a CoreShowChannels listing).
   * Spared: calls with a channel or linkedid in `touched` (an event for them arrived while the
   * listing ran, so the listing may predate them or their change). `awaitingOriginate`: a
   * click-to-dial call whose PBX channel has not appeared yet (the listing may have raced the
   * Originate; the caller decides how long to wait).
   */
  unlistedCalls(listed: ReadonlySet<string>, touched: ReadonlySet<string>): { callId: string; awaitingOriginate: boolean }[] {
    const out: { callId: string; awaitingOriginate: boolean }[] = [];
    for (const conv of this.byCallId.values()) {
      if (conv.ended) continue;
      if (conv.channelIds.some((id) => listed.has(id) || touched.has(id))) continue;
      if (conv.call.linkedIds.some((id) => listed.has(id) || touched.has(id))) continue;
      out.push({ callId: conv.call.callId, awaitingOriginate: conv.pendingOriginate !== null });
    }
    return out;
  }

  /**
   * End these calls with `unknown_end`, as a resync ends calls that vanished, at `at` (one time
   * for all, or each call's own). Returns how many.
   */
  endUnknown(callIds: Iterable<string>, endAt: number | ((callId: string) => number)): number {
    let n = 0;
    for (const callId of callIds) {
      const conv = this.byCallId.get(callId);
      if (!conv || conv.ended) continue;
      const at = typeof endAt === "number" ? endAt : endAt(callId);
      for (const id of conv.channelIds) {
        const chan = this.chans.get(id);
        if (!chan || chan.hungUp) continue;
        chan.hungUp = true;
        if (chan.device) conv.legChannelGone(chan.device, chan.id, at);
      }
      conv.liveParties = 0;
      this.endCall(conv, at, true);
      n++;
    }
    return n;
  }

  /**
   * A call the store still had open after a restart that the PBX no longer lists: it ended
   * while the daemon was down. Rebuilt from its last snapshot and ended (`unknown_end`, at
   * `at`, the last moment it was known up) through the same transition as any call, so its
   * users get `call.ended` (and `call.missed` for a ringing leg) and the store closes it.
   */
  closeStored(snap: Call, at: number): void {
    if (this.byCallId.has(snap.callId)) return;
    const call: Call = { ...cloneCall({ ...snap, legs: [], park: snap.park ?? null }), state: snap.state === "ended" ? "connected" : snap.state, restored: true, mergedInto: null };
    const conv = new Conversation(call, this.convEnv);
    conv.facts.answered = call.times.answered !== null;
    for (const old of Array.isArray(snap.legs) ? snap.legs : []) {
      if (!old || typeof old.device !== "string") continue;
      const rec = conv.ensureLeg(old.device, old.placed === true);
      Object.assign(rec.leg, { state: old.state, outcome: old.outcome ?? null, ringingAt: old.ringingAt ?? null, answeredAt: old.answeredAt ?? null, endedAt: old.endedAt ?? null });
      if (old.placed) conv.placer = old.device;
      rec.rang = rec.leg.ringingAt !== null;
      rec.answered = rec.leg.answeredAt !== null;
      rec.pickedUp = old.outcome === "picked_up";
      rec.declined = old.outcome === "declined";
      if (rec.declined) conv.facts.anyDeclined = true;
    }
    this.byCallId.set(call.callId, conv);
    for (const id of call.linkedIds) this.byLinked.set(id, conv);
    this.endCall(conv, at, true);
  }

  // ---- queries and commands -------------------------------------------------------------

  activeCalls(): Call[] {
    const out: Call[] = [];
    for (const conv of this.byCallId.values()) if (!conv.ended && !conv.silent) out.push(conv.call);
    return out;
  }

  getCall(callId: string): Call | undefined {
    return this.byCallId.get(callId)?.call;
  }

  /** The call as `activeCalls` lists it: running and not a silent feature-code dial; else undefined. */
  getActiveCall(callId: string): Call | undefined {
    const conv = this.byCallId.get(callId);
    return conv && !conv.ended && !conv.silent ? conv.call : undefined;
  }

  /** The call a channel (Uniqueid) or linkedid belongs to, for log lines; undefined when none. */
  callIdOf(id: string): string | undefined {
    return this.chans.get(id)?.conv?.call.callId ?? this.byLinked.get(id)?.call.callId;
  }

  /** The live channel of `device` in a call (for hangup/transfer commands). */
  channelOf(callId: string, device: string): string | undefined {
    const conv = this.byCallId.get(callId);
    for (const id of conv?.legs.get(device)?.live ?? []) {
      const chan = this.chans.get(id);
      if (chan && !chan.hungUp) return chan.name;
    }
    return undefined;
  }

  /** The channel of the other party (the caller, the far end) as seen from `device`. */
  peerChannelOf(callId: string, device: string): string | undefined {
    const conv = this.byCallId.get(callId);
    if (!conv || conv.ended) return undefined;
    let best: Chan | undefined;
    for (const id of conv.channelIds) {
      const chan = this.chans.get(id);
      if (!chan || chan.hungUp || chan.device === device || (chan.role !== "device" && chan.role !== "trunk")) continue;
      if (!best || (chan.root && !best.root) || (chan.state === "Up" && best.state !== "Up")) best = chan;
    }
    return best?.name;
  }

  /** Our own click-to-dial: the call exists (and `callDialing` goes out) before the PBX answers. */
  beginClickToDial(a: { userId: string; device: string; to: string; channelId: string; at: number }): Call {
    const chanLike = new Chan(a.channelId, a.device, "device", a.device, "Down", true, a.to);
    // Announced only once the call says what it is: the user's first `call.dialing` is the pop.
    const conv = this.startCall(chanLike, a.channelId, "", "", a.at, false, false);
    const placerLeg = conv.legs.get(a.device);
    placerLeg?.clearLive();
    conv.call.clickToDial = true;
    conv.call.to = makeParty(a.to, "", this.deps.numbers, this.deps);
    if (conv.call.to.extension === null) conv.call.direction = "outbound";
    const p = conv.call.from;
    if (!p.raw) conv.call.from = makeParty("", "", this.deps.numbers, this.deps, a.device);
    conv.liveParties++;
    conv.pendingOriginate = a.channelId;
    conv.placerDialing(a.device, a.at);
    return conv.call;
  }

  /** The Originate failed (or its channel never came up): the call ends as failed. */
  originateFailed(channelId: string, _reason: string, at: number): void {
    const conv = this.byLinked.get(channelId);
    if (!conv || conv.ended) return;
    conv.facts.failed = true;
    conv.liveParties = 0;
    this.endCall(conv, at, false);
  }

  /** Attach the contact match (looked up outside the tracker); emits `callUpdated`. */
  setMatch(callId: string, match: Match, at: number): void {
    const conv = this.byCallId.get(callId);
    if (!conv) return;
    conv.call.match = match;
    conv.updated(at);
  }

  annotate(callId: string, annotation: Annotation, at: number): boolean {
    const conv = this.byCallId.get(callId);
    if (!conv) return false;
    conv.call.annotation = annotation;
    conv.updated(at);
    return true;
  }

  /**
   * An agent's after-call work for this call ended: her answered legs carry `wrapUpSeconds`,
   * and `callUpdated` goes out. False when the call is no longer held (the caller publishes the stored one).
   */
  setWrapUp(callId: string, userId: string, seconds: number, at: number): boolean {
    const conv = this.byCallId.get(callId);
    if (!conv) return false;
    for (const l of conv.call.legs) if (l.userId === userId && (l.outcome === "answered_by_me" || l.outcome === "picked_up")) l.wrapUpSeconds = seconds;
    conv.updated(at);
    return true;
  }

  get size(): { calls: number; channels: number } {
    return { calls: this.byCallId.size, channels: this.chans.size };
  }
}
