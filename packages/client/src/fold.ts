/**
 * The folded state of one client: active calls, agent states, PBX link, and which calls
 * already popped. Frames are applied in arrival order; a frame older than what the state
 * already reflects (a `resume` replay arrives after the fresh snapshot) is reported but not
 * folded, so a replay never turns a connected call back into a ringing one.
 */
import type { Emit } from "./events.js";
import type { AgentState, AgentStateMessage, Call, CallMessage, Leg, PbxDisconnectedMessage, PbxFailoverMessage, PbxResyncedMessage, SnapshotMessage } from "./wire.js";

/** When a call found in a snapshot pops: the user's pop timing on the server (`pop.timing`, `users[].popTiming`). */
export type PopTiming = "ringing" | "answered" | "off";

const ANSWERED_HERE = new Set<string | null>(["answered_by_me", "picked_up", "connected", "on_hold"]);

/** The server's rule (publish/protocol.ts `popFor`) applied to a call as it is in a snapshot. */
function popsNow(legs: Leg[], me: string | null, timing: PopTiming): boolean {
  if (timing === "off") return false;
  const mine = legs.filter((l) => l.userId === me);
  if (timing === "ringing") return mine.some((l) => l.state === "ringing");
  return mine.some((l) => l.state !== "ended" && (ANSWERED_HERE.has(l.outcome) || ANSWERED_HERE.has(l.state)));
}

export class FoldedState {
  readonly calls = new Map<string, Call>();
  readonly agents = new Map<string, AgentState>();
  pbxConnected = true;
  /** The seq each held call (and agent) reflects; the snapshot's seq for calls taken from it. */
  private readonly callSeq = new Map<string, number>();
  private readonly agentSeq = new Map<string, number>();
  private pbxSeq = 0;
  private snapshotSeq = 0;
  /** Calls that popped on this client (bounded by the active calls: removed when a call leaves). */
  private readonly popped = new Set<string>();
  /** Calls gone from a reconnect's snapshot whose end no replayed frame has shown yet. */
  private readonly vanished = new Map<string, Call>();

  constructor(
    private readonly emit: Emit,
    private readonly me: () => string | null,
    private readonly popTiming: () => PopTiming = () => "ringing",
  ) {}

  /** A snapshot replaces the calls. `reconnect`: calls that were held and are gone wait for their replayed end. */
  snapshot(m: SnapshotMessage, reconnect: boolean): void {
    const fresh = new Map(m.calls.map((c) => [c.callId, c]));
    if (reconnect) for (const [id, call] of this.calls) if (!fresh.has(id)) this.vanished.set(id, call);
    for (const id of this.popped) if (!fresh.has(id)) this.popped.delete(id);
    this.calls.clear();
    this.callSeq.clear();
    for (const [id, call] of fresh) {
      this.calls.set(id, call);
      this.callSeq.set(id, m.seq);
    }
    this.snapshotSeq = Math.max(this.snapshotSeq, m.seq);
    this.emit("snapshot", { calls: m.calls });
    const me = this.me();
    for (const call of m.calls) {
      if (this.popped.has(call.callId)) continue;
      if (!popsNow(call.legs, me, this.popTiming())) continue;
      this.popped.add(call.callId);
      this.emit("pop", { call, message: m });
    }
  }

  callMessage(m: CallMessage): void {
    const id = m.call.callId;
    const held = this.callSeq.get(id);
    const replayed = held !== undefined ? m.seq <= held : m.seq <= this.snapshotSeq;
    const leaves = m.type === "call.ended" || m.type === "call.missed";
    if (leaves) this.vanished.delete(id);
    if (!replayed) {
      if (leaves) {
        this.calls.delete(id);
        this.callSeq.delete(id);
      } else {
        this.calls.set(id, m.call);
        this.callSeq.set(id, m.seq);
      }
    }
    this.emit("call", { call: m.call, message: m, replayed });
    if (m.type === "call.ended") {
      this.popped.delete(id);
      this.emit("ended", { call: m.call, message: m, replayed });
    }
    if (m.type === "call.missed") {
      const party = m.call.direction === "outbound" ? m.call.to : m.call.from;
      this.emit("missed", { call: m.call, message: m, callbackNumber: m.callbackNumber ?? party.e164 ?? party.raw, replayed });
    }
    if (m.pop === true && !replayed) {
      this.popped.add(id);
      this.emit("pop", { call: m.call, message: m });
    }
  }

  /** After a resume completed: the calls that vanished without a seen end are reported ended. */
  settleVanished(): void {
    const gone = [...this.vanished.values()];
    this.vanished.clear();
    for (const call of gone) if (!this.calls.has(call.callId)) this.emit("ended", { call, message: null, replayed: true });
  }

  agentMessage(m: AgentStateMessage): void {
    // Replies after a snapshot repeat its seq; an older frame is a replay of a past state.
    if (m.seq < Math.max(this.agentSeq.get(m.agent) ?? 0, this.snapshotSeq)) return;
    this.agentSeq.set(m.agent, m.seq);
    this.agents.set(m.agent, m.state);
    this.emit("agent", { agent: m.agent, state: m.state });
  }

  pbxMessage(m: PbxDisconnectedMessage | PbxResyncedMessage | PbxFailoverMessage): void {
    if (m.seq < this.pbxSeq) return;
    this.pbxSeq = m.seq;
    // A failover (cluster) is a resync by another worker: the link is up again.
    this.pbxConnected = m.type !== "pbx.disconnected";
    this.emit("pbx", { connected: this.pbxConnected, message: m });
  }
}
