/**
 * A gateway's view of what runs now, folded from the stream: every call's newest call-level
 * snapshot (the `userId: null` copy), each user's newest agent state per PBX (clients get their
 * merge, bus/agentMerge.ts: a user may have phones on several PBXs), which PBX owns what. It
 * answers what the tracker answers in a standalone daemon for snapshots, `claim` and command
 * routing (`activeCalls`, `getCall`, `agentStateOf`). Ended calls stay `keepEndedMs` for late
 * claims, as in the tracker. Pure (time comes from the events).
 */
import type { AgentState, AnyCallEvent, Call } from "../calls/model.js";
import type { QueueInfo } from "../publish/protocol.js";
import { mergeAgentStates } from "./agentMerge.js";

export class LiveView {
  private readonly calls = new Map<string, Call>();
  private readonly ended = new Map<string, number>();
  /** userId → PBX id → that PBX's newest state of the user. */
  private readonly agents = new Map<string, Map<string, AgentState>>();
  /** userId → the merge sent to clients. */
  private readonly merged = new Map<string, AgentState>();
  /** The PBX each user was last seen on (a call leg or an agent state). */
  private readonly userPbx = new Map<string, string>();
  readonly pbxs = new Set<string>();
  /** `<pbxId>\n<queue>` → the newest board of that queue (GET /api/queues on a gateway). */
  private readonly boards = new Map<string, QueueInfo>();

  constructor(private readonly keepEndedMs: number) {}

  queue(info: QueueInfo, pbxId: string): void {
    this.pbxs.add(pbxId);
    this.boards.set(`${pbxId}\n${info.queue}`, { ...info, pbxId });
  }

  /** Every queue board seen, by queue name then PBX. */
  queues(): QueueInfo[] {
    return [...this.boards.values()].sort((a, b) => (a.queue === b.queue ? (a.pbxId! < b.pbxId! ? -1 : 1) : a.queue < b.queue ? -1 : 1));
  }

  call(ev: AnyCallEvent, pbxId: string): void {
    this.pbxs.add(pbxId);
    if (ev.userId !== null) {
      this.userPbx.set(ev.userId, pbxId);
      return;
    }
    const call = ev.call;
    this.calls.set(call.callId, call);
    if (call.state === "ended") this.ended.set(call.callId, ev.at);
    else this.ended.delete(call.callId);
    this.sweep(ev.at);
  }

  /** A running call changed without a fact (bus "view"): the snapshots show it, no frame. */
  refresh(call: Call, pbxId: string): void {
    this.pbxs.add(pbxId);
    if (this.ended.has(call.callId)) return; // its end came first: the ended copy stays
    this.calls.set(call.callId, call);
  }

  /** One PBX's state of the user; returns the new merged state, or null when the merge did not change. */
  agent(userId: string, state: AgentState, pbxId: string): AgentState | null {
    this.pbxs.add(pbxId);
    this.userPbx.set(userId, pbxId);
    let per = this.agents.get(userId);
    if (!per) this.agents.set(userId, (per = new Map()));
    per.set(pbxId, state);
    const next = mergeAgentStates(per);
    const before = this.merged.get(userId);
    this.merged.set(userId, next);
    return before !== undefined && JSON.stringify(before) === JSON.stringify(next) ? null : next;
  }

  activeCalls(): Call[] {
    const out: Call[] = [];
    for (const c of this.calls.values()) if (c.state !== "ended") out.push(c);
    return out;
  }

  getCall(callId: string): Call | undefined {
    return this.calls.get(callId);
  }

  /** The user's state merged over every PBX that reported one. */
  agentStateOf(userId: string): AgentState | null {
    return this.merged.get(userId) ?? null;
  }

  /** Each PBX's own state of the user (command routing: the PBX whose wrap-up runs). */
  agentStatesOf(userId: string): ReadonlyMap<string, AgentState> {
    return this.agents.get(userId) ?? new Map();
  }

  /** The PBX a command goes to: the call's, else the user's last seen, else the only one known. */
  pbxFor(callId: string | undefined, userId: string): string | null {
    const byCall = callId === undefined ? undefined : this.calls.get(callId)?.pbxId;
    if (byCall) return byCall;
    const byUser = this.userPbx.get(userId);
    if (byUser) return byUser;
    return this.pbxs.size === 1 ? [...this.pbxs][0]! : null;
  }

  private sweep(now: number): void {
    for (const [callId, at] of this.ended) {
      if (now - at < this.keepEndedMs) break; // in end order
      this.ended.delete(callId);
      this.calls.delete(callId);
    }
  }
}
