/**
 * A gateway's view of what runs now, folded from the stream: every call's newest call-level
 * snapshot (the `userId: null` copy), each user's newest agent state, which PBX owns what. It
 * answers what the tracker answers in a standalone daemon for snapshots, `claim` and command
 * routing (`activeCalls`, `getCall`, `agentStateOf`). Ended calls stay `keepEndedMs` for late
 * claims, as in the tracker. Pure (time comes from the events).
 */
import type { AgentState, AnyCallEvent, Call } from "../calls/model.js";

export class LiveView {
  private readonly calls = new Map<string, Call>();
  private readonly ended = new Map<string, number>();
  private readonly agents = new Map<string, AgentState>();
  /** The PBX each user was last seen on (a call leg or an agent state). */
  private readonly userPbx = new Map<string, string>();
  readonly pbxs = new Set<string>();

  constructor(private readonly keepEndedMs: number) {}

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

  agent(userId: string, state: AgentState, pbxId: string): void {
    this.pbxs.add(pbxId);
    this.agents.set(userId, state);
    this.userPbx.set(userId, pbxId);
  }

  activeCalls(): Call[] {
    const out: Call[] = [];
    for (const c of this.calls.values()) if (c.state !== "ended") out.push(c);
    return out;
  }

  getCall(callId: string): Call | undefined {
    return this.calls.get(callId);
  }

  agentStateOf(userId: string): AgentState | null {
    return this.agents.get(userId) ?? null;
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
