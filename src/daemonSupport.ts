/** Small pieces of daemon policy, kept out of daemon.ts so that file stays wiring only. */
import type { Call } from "./calls/model.js";
import type { CallTracker } from "./calls/tracker.js";
import type { Logger } from "./log.js";
import type { CallLog } from "./store/callLog.js";

/** The number the contact lookup is about: the caller of an inbound call, the callee of an outbound one. */
export function externalNumber(call: Call): string | null {
  const party = call.direction === "inbound" ? call.from : call.direction === "outbound" ? call.to : null;
  if (!party || party.raw === "" || party.extension) return null;
  return party.raw;
}

/**
 * After the first resync of a (re)started daemon: calls the store still had open but the PBX
 * no longer has ended while we were away. They are closed with `unknown_end`, never dropped
 * and never left open forever.
 */
export function closeVanishedCalls(callLog: CallLog, tracker: CallTracker, at: number, log: Logger): number {
  const ended = new Date(at).toISOString();
  let n = 0;
  for (const call of callLog.openCalls()) {
    if (tracker.getCall(call.callId) && tracker.getCall(call.callId)!.state !== "ended") continue;
    call.state = "ended";
    call.endReason = "unknown_end";
    call.times.ended = ended;
    call.outcome = call.times.answered ? "answered" : null;
    for (const leg of call.legs) {
      if (leg.state !== "ended") leg.endedAt = ended;
      leg.state = "ended";
      if (leg.outcome === null) leg.outcome = leg.placed ? "placed" : leg.answeredAt ? "answered_by_me" : null;
    }
    callLog.save(call, ended);
    n++;
    log.warn({ callId: call.callId }, "call ended while the daemon was down");
  }
  return n;
}

/**
 * Click-to-dial outcomes by ChannelId: `wait` resolves when the PBX's OriginateResponse for
 * that channel is seen (`settle`), or with ok after the timeout (the call itself still ends
 * by its own events).
 */
export class OriginateWaiters {
  private readonly waiting = new Map<string, { resolve: (r: { ok: boolean; reason: string }) => void; timer: NodeJS.Timeout }>();
  /**
   * Outcomes that arrived before anyone waited: Asterisk may send the OriginateResponse in
   * the same read as the action's Response, before the command handler gets to `wait`.
   */
  private readonly early = new Map<string, { ok: boolean; reason: string }>();

  wait(channelId: string, timeoutMs: number): Promise<{ ok: boolean; reason: string }> {
    const known = this.early.get(channelId);
    if (known) {
      this.early.delete(channelId);
      return Promise.resolve(known);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(channelId);
        resolve({ ok: true, reason: "no response" });
      }, timeoutMs);
      timer.unref();
      this.waiting.set(channelId, { resolve, timer });
    });
  }

  settle(channelId: string, ok: boolean, reason: string): void {
    const w = this.waiting.get(channelId);
    if (!w) {
      this.early.set(channelId, { ok, reason });
      // Bounded: responses for originates nobody waits for (another AMI client's) age out.
      if (this.early.size > 1000) this.early.delete(this.early.keys().next().value!);
      return;
    }
    clearTimeout(w.timer);
    this.waiting.delete(channelId);
    w.resolve({ ok, reason });
  }

  /** Stop: everything still waiting resolves as failed. */
  clear(): void {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, reason: "shutting down" });
      this.waiting.delete(id);
    }
  }
}
