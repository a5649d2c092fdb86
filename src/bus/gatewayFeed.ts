/**
 * A gateway's two paths through the bus. In: each stream message updates the live view and goes
 * to the WebSocket server under its stream sequence (`CtiServer.withSeq`), through the same
 * methods the standalone daemon calls, so routing, rendering and the journal are the same code
 * and every gateway numbers every fact alike. Out: a command goes by request/reply to the
 * active worker of the PBX that owns the call (or the user's PBX for a dial).
 */
import type { AuthedUser } from "../publish/auth.js";
import type { CommandResult, CtiServer } from "../publish/server.js";
import type { Logger } from "../log.js";
import type { Delivered } from "./jetstream.js";
import type { LiveView } from "./liveView.js";

export type GatewayCti = Pick<CtiServer, "withSeq" | "publish" | "agentState" | "pbxStatus" | "callDone" | "queueState">;

export interface FeedStats {
  /** The last stream sequence applied. */
  lastSeq: number;
  /** Bus latency samples (ms from the worker's offer to this gateway), when sampling is on. */
  latencies: number[] | null;
}

export function gatewayFeed(d: { cti: GatewayCti; view: LiveView; log: Logger; now?: () => number; sampleLatency?: boolean }): { onEntry: (m: Delivered) => void; stats: FeedStats } {
  const now = d.now ?? Date.now;
  const stats: FeedStats = { lastSeq: 0, latencies: d.sampleLatency ? [] : null };
  const onEntry = ({ seq, entry }: Delivered) => {
    if (seq <= stats.lastSeq) return; // an ordered consumer never redelivers; belt and braces
    stats.lastSeq = seq;
    stats.latencies?.push(now() - entry.sentAt);
    const ev = entry.ev;
    d.cti.withSeq(seq, () => {
      switch (ev.kind) {
        case "call":
          d.view.call(ev.event, entry.pbxId);
          return d.cti.publish(ev.event);
        case "agent":
          d.view.agent(ev.userId, ev.state, entry.pbxId);
          return d.cti.agentState(ev.userId, ev.state);
        case "pbx":
          return d.cti.pbxStatus(ev.status, { ...ev.info, ...(ev.status === "failover" ? { pbxId: entry.pbxId } : {}) });
        case "done":
          return d.cti.callDone(ev.done);
        case "queue":
          return d.cti.queueState(ev.queue);
        default:
          d.log.warn({ seq }, "unknown bus event skipped");
      }
    }, entry.sentAt);
  };
  return { onEntry, stats };
}

/** What a gateway sends a PBX worker for one command. */
export interface CommandRequest {
  user: { userId: string; role: "agent" | "supervisor"; devices: string[] };
  cmd: { id: string; action: string; args: unknown; connectionId: string };
}

export function forwardCommand(d: {
  view: LiveView;
  request: (pbxId: string, body: CommandRequest, timeoutMs: number) => Promise<CommandResult>;
  timeoutMs: number;
  log: Logger;
}): (user: AuthedUser & { devices: string[] }, cmd: CommandRequest["cmd"]) => Promise<CommandResult> {
  return async (user, cmd) => {
    const args = cmd.args as { callId?: unknown } | null;
    const callId = args && typeof args === "object" && typeof args.callId === "string" ? args.callId : undefined;
    const pbxId = d.view.pbxFor(callId, user.userId);
    if (pbxId === null) return { ok: false, error: { code: "pbx_unavailable", message: "no PBX known for this command" } };
    try {
      return await d.request(pbxId, { user: { userId: user.userId, role: user.role, devices: user.devices }, cmd }, d.timeoutMs);
    } catch (err) {
      d.log.warn({ err, pbxId, action: cmd.action }, "command not answered by the PBX worker");
      return { ok: false, error: { code: "pbx_unavailable", message: `no active worker for PBX ${pbxId} answered` } };
    }
  };
}
