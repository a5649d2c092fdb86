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

export function gatewayFeed(d: { cti: GatewayCti; view: LiveView; log: Logger; now?: () => number; sampleLatency?: boolean }): {
  onEntry: (m: Delivered) => void;
  stats: FeedStats;
  /** Resolves once stream sequence `seq` is applied (at once when it is), or after `timeoutMs`. */
  applied: (seq: number, timeoutMs: number) => Promise<void>;
} {
  const now = d.now ?? Date.now;
  const stats: FeedStats = { lastSeq: 0, latencies: d.sampleLatency ? [] : null };
  let waiting: { seq: number; resolve: () => void }[] = [];
  const applied = (seq: number, timeoutMs: number): Promise<void> =>
    seq <= stats.lastSeq
      ? Promise.resolve()
      : new Promise((resolve) => {
          const w = { seq, resolve: () => (clearTimeout(t), resolve()) };
          const t = setTimeout(() => {
            waiting = waiting.filter((x) => x !== w);
            resolve();
          }, timeoutMs);
          waiting.push(w);
        });
  const onEntry = (m: Delivered) => {
    if (m.seq <= stats.lastSeq) return; // an ordered consumer never redelivers; belt and braces
    stats.lastSeq = m.seq;
    try {
      applyEntry(m);
    } finally {
      // Command results waiting for the facts their command caused.
      if (waiting.length > 0) waiting = waiting.filter((w) => (w.seq <= stats.lastSeq ? (w.resolve(), false) : true));
    }
  };
  const applyEntry = ({ seq, entry }: Delivered) => {
    const ev = entry.ev;
    if (ev.kind === "record") return; // the archiver's (bus/archive.ts), no client frame
    if (ev.kind === "view") return d.view.refresh(ev.call, entry.pbxId); // snapshots only, no frame
    stats.latencies?.push(now() - entry.sentAt);
    d.cti.withSeq(seq, () => {
      switch (ev.kind) {
        case "call":
          d.view.call(ev.event, entry.pbxId);
          return d.cti.publish(ev.event);
        case "calls": {
          // One fact's copies, in the tracker's order (the users', then the call-level one),
          // sharing the call object as the tracker's copies do (one fact for the supervisors).
          for (const u of ev.users) {
            const copy = { ...ev.event, userId: u.userId, call: u.call ?? ev.event.call } as typeof ev.event;
            d.view.call(copy, entry.pbxId);
            d.cti.publish(copy);
          }
          d.view.call(ev.event, entry.pbxId);
          return d.cti.publish(ev.event);
        }
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
          d.view.queue(ev.queue, entry.pbxId);
          return d.cti.queueState(ev.queue);
        default:
          d.log.warn({ seq }, "unknown bus event skipped");
      }
    }, entry.sentAt, ev.kind === "calls");
  };
  return { onEntry, stats, applied };
}

/** What a gateway sends a PBX worker for one command. */
export interface CommandRequest {
  user: { userId: string; role: "agent" | "supervisor"; devices: string[] };
  cmd: { id: string; action: string; args: unknown; connectionId: string };
}

/** A worker's reply: the result, and the stream sequence of the facts the command caused. */
export type WorkerReply = CommandResult & { appliedSeq?: number };

export function forwardCommand(d: {
  view: LiveView;
  request: (pbxId: string, body: CommandRequest, timeoutMs: number) => Promise<WorkerReply>;
  timeoutMs: number;
  log: Logger;
  /** Resolves once this gateway applied stream sequence `seq` (or after `timeoutMs`). */
  applied?: (seq: number, timeoutMs: number) => Promise<void>;
}): (user: AuthedUser & { devices: string[] }, cmd: CommandRequest["cmd"]) => Promise<CommandResult> {
  const send = async (user: AuthedUser, cmd: CommandRequest["cmd"], t: CommandTarget): Promise<CommandResult> => {
    try {
      const { appliedSeq, ...result } = await d.request(t.pbxId, { user: { userId: user.userId, role: user.role, devices: t.devices }, cmd: { ...cmd, args: t.args } }, d.timeoutMs);
      // The result after the facts it caused, as standalone sends them (bounded: a slow feed delays it at most 2 s).
      if (appliedSeq !== undefined && d.applied) await d.applied(appliedSeq, 2_000);
      return result as CommandResult;
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
