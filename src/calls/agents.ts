/**
 * Agent state per user: queue membership, pause (with reason) and device state, folded from
 * the PbxEvents that ami/events.ts makes of QueueStatus listings, QueueMember* events and
 * DeviceStateChange. Pure like the call tracker: no sockets, no clock. `onChange` fires only
 * when a user's published state really changed (these events are frequent and mostly repeat).
 *
 * Members map to users through their state interface first: a FreePBX-style member
 * `Local/1004@agents/n` has state interface `PJSIP/1004`, which is Dave's phone.
 *
 * A user's `deviceState` is the most active state among their devices (ringinuse > ringing >
 * busy > onhold > inuse > not_inuse > unavailable > invalid > unknown): a desk phone that is
 * ringing matters more than an idle softphone. A queue entry is `loggedIn` when the member's
 * device is reachable (Asterisk's own QueueSummary `LoggedIn`: status neither unavailable nor
 * invalid); when one user has several members in a queue, it is logged in if any is and paused
 * only if every member is.
 */
import { DEVICE_STATES, type DeviceState, type PbxEvent } from "./pbxEvents.js";
import type { AgentActivity, AgentState, WrapUpState } from "./model.js";

export type { AgentState };

/** One queue member as the supervisor board shows it (`GET /api/queues`). */
export interface QueueMemberView {
  userId: string | null;
  name: string;
  interface: string;
  deviceState: DeviceState | null;
  loggedIn: boolean;
  paused: boolean;
  reason: string | null;
  inCall: boolean;
  activity: AgentActivity | null;
}
export type AgentEvent = Extract<PbxEvent, { type: "queueMember" | "queueMemberRemoved" | "deviceState" }>;

export function isAgentEvent(ev: PbxEvent): ev is AgentEvent {
  return ev.type === "deviceState" || ev.type === "queueMember" || ev.type === "queueMemberRemoved";
}

export interface AgentDeps {
  userForDevice(device: string): string | null;
  /**
   * Optional: the user of an internal extension, for Local members whose state interface is not
   * a device (FreePBX `Local/1004@from-queue/n` with `hint:1004@ext-local`).
   */
  userForExtension?(extension: string): string | null;
  onChange(userId: string, state: AgentState): void;
  /** The user's running after-call work (daemon's wrap-up manager); absent: never in wrap-up. */
  wrapUpOf?(userId: string): WrapUpState | null;
  /**
   * Hold changes until `flush()` (the daemon calls it at the end of a burst of agent events):
   * Asterisk reports one change as several events (DeviceStateChange, then QueueMemberStatus),
   * and each alone would publish a state that never was. Default: one onChange per event.
   */
  coalesce?: boolean;
}

/** How active a device state is (a user's deviceState is the highest of their devices'; a gateway merges PBXs by it). */
export const DEVICE_RANK: Readonly<Record<DeviceState, number>> = {
  unknown: 0,
  invalid: 1,
  unavailable: 2,
  not_inuse: 3,
  inuse: 4,
  onhold: 5,
  busy: 6,
  ringing: 7,
  ringinuse: 8,
};

interface Member {
  queue: string;
  iface: string;
  stateIface: string;
  userId: string | null;
  loggedIn: boolean;
  paused: boolean;
  reason: string | null;
  name: string;
  inCall: boolean;
  /** The member's own wrap-up seconds as the PBX reports it (0: the queue's). */
  wrapUpSeconds: number;
  /** Listed by the resync in progress. */
  seen: boolean;
}

interface Device {
  name: string;
  state: DeviceState;
  /** Listed by the DeviceStateList in progress. */
  seen: boolean;
  /** Reported by DeviceStateChange; from then on queue member statuses no longer set it. */
  live: boolean;
  userId: string | null;
}

interface Agent {
  members: Member[];
  devices: Device[];
  last: AgentState | null;
}

/** A phone (`PJSIP/1001`), not `Queue:support_avail`, `confbridge:800`, `hint:…` or a Local member. */
function isPhone(device: string): boolean {
  const slash = device.indexOf("/");
  if (slash <= 0) return false;
  const colon = device.indexOf(":");
  return (colon < 0 || colon > slash) && !device.startsWith("Local/");
}

export class AgentTracker {
  private readonly queues = new Map<string, Map<string, Member>>();
  private readonly devices = new Map<string, Device>();
  private readonly agents = new Map<string, Agent>();
  private resyncing = false;
  private readonly dirty = new Set<string>();

  constructor(private readonly deps: AgentDeps) {}

  handle(ev: AgentEvent): void {
    switch (ev.type) {
      case "deviceState":
        this.report(ev.device, ev.state, true);
        break;
      case "queueMember":
        this.member(ev);
        break;
      case "queueMemberRemoved":
        this.remove(ev.queue, ev.memberInterface);
        break;
    }
    // One event may touch a user twice (a new member and its device state): one onChange.
    if (!this.resyncing && !this.deps.coalesce && this.dirty.size > 0) this.flush();
  }

  /** Users whose state may have changed since the last flush. */
  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** Listings follow: members (devices) they do not list are gone after endResync(true, true). */
  beginResync(): void {
    this.resyncing = true;
    for (const q of this.queues.values()) for (const m of q.values()) m.seen = false;
    for (const d of this.devices.values()) d.seen = false;
  }

  /**
   * `members`: the QueueStatus listing arrived (false when it failed or was not asked: keep
   * every member); `devices`: likewise the DeviceStateList. A listing replaces its part: what
   * it does not name is gone. Each user whose state changed during the resync gets one onChange.
   */
  endResync(members = true, devices = false): void {
    if (members) {
      for (const q of this.queues.values()) for (const m of q.values()) if (!m.seen) this.remove(m.queue, m.iface);
    }
    if (devices) {
      for (const d of [...this.devices.values()]) {
        if (d.seen) continue;
        this.devices.delete(d.name);
        if (d.userId !== null) this.rebind(d, null, "devices");
      }
    }
    this.resyncing = false;
    this.flush();
  }

  /** The user's current state; null when the PBX never reported anything about them. */
  stateOf(userId: string): AgentState | null {
    const a = this.agents.get(userId);
    return a ? (a.last ?? this.build(a, userId)) : null;
  }

  /** The queue member interfaces that stand for a device (`PJSIP/1004` → `Local/1004@agents/n`). */
  memberInterfacesOf(device: string, queue?: string): string[] {
    const out: string[] = [];
    for (const [name, q] of this.queues) {
      if (queue !== undefined && name !== queue) continue;
      for (const m of q.values()) if ((m.stateIface || m.iface) === device && !out.includes(m.iface)) out.push(m.iface);
    }
    return out;
  }

  /** The user's wrap-up (or something else outside the PBX's events) changed: publish at the next flush. */
  touch(userId: string): void {
    if (!this.agents.has(userId)) this.agents.set(userId, { members: [], devices: [], last: null });
    this.dirty.add(userId);
  }

  /** The user's queue members (queue and interface, paused and why). */
  membersOf(userId: string): { queue: string; iface: string; paused: boolean; reason: string | null }[] {
    return (this.agents.get(userId)?.members ?? []).map((m) => ({ queue: m.queue, iface: m.iface, paused: m.paused, reason: m.reason }));
  }

  /** Every member paused for this reason, with its user. */
  pausedFor(reason: string): { queue: string; iface: string; userId: string | null }[] {
    const out: { queue: string; iface: string; userId: string | null }[] = [];
    for (const q of this.queues.values()) for (const m of q.values()) if (m.paused && m.reason === reason) out.push({ queue: m.queue, iface: m.iface, userId: m.userId });
    return out;
  }

  /** The longest own wrap-up time the PBX reports for this user's members of a queue (0: none). */
  memberWrapUpSeconds(userId: string, queue: string): number {
    let s = 0;
    for (const m of this.agents.get(userId)?.members ?? []) if (m.queue === queue) s = Math.max(s, m.wrapUpSeconds);
    return s;
  }

  /** Every queue the PBX reported, with its members (sorted by queue name). */
  queueView(): { queue: string; members: QueueMemberView[] }[] {
    const out: { queue: string; members: QueueMemberView[] }[] = [];
    for (const [name, q] of this.queues) {
      const members = [...q.values()].map((m) => {
        const state = m.userId === null ? null : this.stateOf(m.userId);
        const dev = this.devices.get(m.stateIface || m.iface)?.state ?? state?.deviceState ?? null;
        return {
          userId: m.userId,
          name: m.name,
          interface: m.iface,
          deviceState: dev,
          loggedIn: m.loggedIn,
          paused: m.paused,
          reason: m.paused ? m.reason : null,
          inCall: m.inCall || dev === "inuse" || dev === "busy" || dev === "onhold" || dev === "ringinuse",
          activity: state?.activity ?? null,
        };
      });
      out.push({ queue: name, members });
    }
    return out.sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  }

  /** Users were reloaded: map every member and device again. */
  remap(): void {
    for (const q of this.queues.values()) for (const m of q.values()) this.rebind(m, this.userOfMember(m.iface, m.stateIface), "members");
    for (const d of this.devices.values()) this.rebind(d, isPhone(d.name) ? this.deps.userForDevice(d.name) : null, "devices");
    if (!this.resyncing) this.flush();
  }

  private member(ev: Extract<AgentEvent, { type: "queueMember" }>): void {
    let q = this.queues.get(ev.queue);
    if (!q) this.queues.set(ev.queue, (q = new Map()));
    const loggedIn = ev.status !== 4 && ev.status !== 5; // invalid, unavailable
    let m = q.get(ev.memberInterface);
    let changed = false;
    if (!m) {
      m = {
        queue: ev.queue,
        iface: ev.memberInterface,
        stateIface: ev.stateInterface,
        userId: null,
        loggedIn,
        paused: ev.paused,
        reason: ev.pausedReason,
        name: ev.memberName,
        inCall: ev.inCall,
        wrapUpSeconds: ev.wrapUpSeconds ?? 0,
        seen: true,
      };
      q.set(m.iface, m);
      this.rebind(m, this.userOfMember(m.iface, m.stateIface), "members");
    } else if (m.loggedIn !== loggedIn || m.paused !== ev.paused || m.reason !== ev.pausedReason) {
      m.loggedIn = loggedIn;
      m.paused = ev.paused;
      m.reason = ev.pausedReason;
      changed = true;
    }
    m.seen = true;
    m.inCall = ev.inCall;
    m.wrapUpSeconds = ev.wrapUpSeconds ?? 0;
    if (ev.memberName) m.name = ev.memberName;
    // The member's Status is its state interface's device state: the only source when the PBX
    // has no DeviceStateList (before Asterisk 13) and we joined after the last change.
    const dev = ev.stateInterface || ev.memberInterface;
    if (m.userId !== null && isPhone(dev)) this.report(dev, DEVICE_STATES[ev.status]!, false);
    if (changed && m.userId !== null) this.dirty.add(m.userId);
  }

  private remove(queue: string, iface: string): void {
    const q = this.queues.get(queue);
    const m = q?.get(iface);
    if (!q || !m) return;
    q.delete(iface);
    if (q.size === 0) this.queues.delete(queue);
    this.rebind(m, null, "members");
  }

  private report(device: string, state: DeviceState, live: boolean): void {
    let d = this.devices.get(device);
    if (!d) {
      d = { name: device, state, live, userId: null, seen: live };
      this.devices.set(device, d);
      if (isPhone(device)) this.rebind(d, this.deps.userForDevice(device), "devices");
      return;
    }
    if (live) d.seen = true;
    if (!live && d.live) return;
    d.live ||= live;
    if (d.state === state) return;
    d.state = state;
    if (d.userId !== null) this.dirty.add(d.userId);
  }

  private userOfMember(iface: string, stateIface: string): string | null {
    if (stateIface && isPhone(stateIface)) {
      const u = this.deps.userForDevice(stateIface);
      if (u !== null) return u;
    }
    if (isPhone(iface)) return this.deps.userForDevice(iface);
    const ext = /^Local\/([^@]+)@/.exec(iface)?.[1];
    return ext !== undefined && this.deps.userForExtension ? this.deps.userForExtension(ext) : null;
  }

  /** Move a member or device to another user (or none); both users are touched. */
  private rebind(item: Member | Device, userId: string | null, kind: "members" | "devices"): void {
    const old = item.userId;
    if (old !== null) {
      const list: (Member | Device)[] | undefined = this.agents.get(old)?.[kind];
      const i = list ? list.indexOf(item) : -1;
      if (old === userId && i >= 0) return;
      if (i >= 0) list!.splice(i, 1);
      this.dirty.add(old);
    }
    item.userId = userId;
    if (userId !== null) {
      let a = this.agents.get(userId);
      if (!a) this.agents.set(userId, (a = { members: [], devices: [], last: null }));
      (a[kind] as (Member | Device)[]).push(item);
      this.dirty.add(userId);
    }
  }

  /** Publish each changed user once (outside a resync: endResync flushes). */
  flush(): void {
    if (this.resyncing) return;
    for (const u of this.dirty) this.publish(u);
    this.dirty.clear();
  }

  private publish(userId: string): void {
    const a = this.agents.get(userId);
    if (!a) return;
    const next = this.build(a, userId);
    if (a.last !== null && sameState(a.last, next)) return;
    a.last = next;
    this.deps.onChange(userId, next);
  }

  private build(a: Agent, userId?: string): AgentState {
    let deviceState: DeviceState | null = null;
    for (const d of a.devices) if (deviceState === null || DEVICE_RANK[d.state] > DEVICE_RANK[deviceState]) deviceState = d.state;
    const queues: AgentState["queues"] = [];
    for (const m of a.members) {
      const q = queues.find((x) => x.queue === m.queue);
      if (!q) queues.push({ queue: m.queue, loggedIn: m.loggedIn, paused: m.paused, reason: m.paused ? m.reason : null });
      else {
        q.loggedIn ||= m.loggedIn;
        if (!m.paused) {
          q.paused = false;
          q.reason = null;
        }
      }
    }
    queues.sort((x, y) => (x.queue < y.queue ? -1 : x.queue > y.queue ? 1 : 0));
    const wrapUp = userId === undefined ? null : (this.deps.wrapUpOf?.(userId) ?? null);
    return { deviceState, queues, activity: activityOf(deviceState, queues, wrapUp), wrapUp };
  }
}

/** The pause reason of after-call work (the daemon's wrap-up, src/wrapUp.ts). */
export const WRAP_UP_PAUSE_REASON = "wrap-up";

/**
 * The one-word mode (model.ts AgentActivity), by the precedence documented there. A pause for
 * `wrap-up` is not `paused`: when the wrap-up ends the agent is idle at once, not for the moment
 * until the PBX reports the unpause.
 */
export function activityOf(deviceState: DeviceState | null, queues: AgentState["queues"], wrapUp: WrapUpState | null): AgentActivity {
  if (deviceState === "ringing" || deviceState === "ringinuse") return "ringing";
  if (deviceState === "inuse" || deviceState === "busy") return "talking";
  if (deviceState === "onhold") return "on_hold";
  if (wrapUp !== null) return "wrap_up";
  if (deviceState === "unavailable" || deviceState === "invalid") return "offline";
  if (queues.length > 0 && !queues.some((q) => q.loggedIn)) return "offline";
  if (queues.length > 0 && queues.every((q) => q.paused && q.reason !== WRAP_UP_PAUSE_REASON)) return "paused";
  return "idle";
}

function sameWrapUp(a: WrapUpState | null, b: WrapUpState | null): boolean {
  return a === b || (a !== null && b !== null && a.callId === b.callId && a.since === b.since && a.until === b.until);
}

function sameState(a: AgentState, b: AgentState): boolean {
  if (a.deviceState !== b.deviceState || a.queues.length !== b.queues.length) return false;
  if (a.activity !== b.activity || !sameWrapUp(a.wrapUp, b.wrapUp)) return false;
  for (let i = 0; i < a.queues.length; i++) {
    const x = a.queues[i]!;
    const y = b.queues[i]!;
    if (x.queue !== y.queue || x.loggedIn !== y.loggedIn || x.paused !== y.paused || x.reason !== y.reason) return false;
  }
  return true;
}
