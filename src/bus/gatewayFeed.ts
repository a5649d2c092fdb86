/**
 * A gateway's two paths through the bus. In: each stream message updates the live view and goes
 * to the WebSocket server under its stream sequence (`CtiServer.withSeq`), through the same
 * methods the standalone daemon calls, so routing, rendering and the journal are the same code
 * and every gateway numbers every fact alike. Out: a command goes by request/reply to the
 * active worker of the PBX that owns the call, or of the device it names (bus/commandRoute.ts).
 */
import type { AuthedUser } from "../publish/auth.js";
import type { CommandResult, CtiServer } from "../publish/server.js";
import type { Logger } from "../log.js";
import type { Delivered } from "./jetstream.js";
import type { LiveView } from "./liveView.js";
import { mergePauseResults, routeCommand, type CommandTarget } from "./commandRoute.js";

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
    const ev = entry.ev;
    if (ev.kind === "record") return; // the archiver's (bus/archive.ts), no client frame
    stats.latencies?.push(now() - entry.sentAt);
    d.cti.withSeq(seq, () => {
      switch (ev.kind) {
        case "call":
          d.view.call(ev.event, entry.pbxId);
          return d.cti.publish(ev.event);
        case "agent": {
          // Clients get the user's state merged over every PBX (a phone on each of two sites).
          const merged = d.view.agent(ev.userId, ev.state, entry.pbxId);
          return merged === null ? undefined : d.cti.agentState(ev.userId, merged);
        }
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
  const send = async (user: AuthedUser, cmd: CommandRequest["cmd"], t: CommandTarget): Promise<CommandResult> => {
    try {
      return await d.request(t.pbxId, { user: { userId: user.userId, role: user.role, devices: t.devices }, cmd: { ...cmd, args: t.args } }, d.timeoutMs);
    } catch (err) {
      d.log.warn({ err, pbxId: t.pbxId, action: cmd.action }, "command not answered by the PBX worker");
      return { ok: false, error: { code: "pbx_unavailable", message: `no active worker for PBX ${t.pbxId} answered` } };
    }
  };
  return async (user, cmd) => {
    const route = routeCommand(d.view, user, cmd);
    if (!route.ok) return { ok: false, error: route.error };
    if (cmd.action !== "queue.pause" && cmd.action !== "queue.unpause") return send(user, cmd, route.targets[0]!);
    const results = await Promise.all(route.targets.map(async (t) => ({ pbxId: t.pbxId, result: await send(user, cmd, t) })));
    return mergePauseResults(user, results);
  };
}
