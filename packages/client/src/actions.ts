/**
 * The protocol's actions as methods (docs/protocol.md "Commands"): each builds the `args` the
 * server validates and goes through `command()`, one promise per command.
 */
import type { AnnotateResult, AnnotationPatch, DialResult, QueuePauseResult } from "./wire.js";

export abstract class Actions {
  abstract command(action: string, args?: unknown): Promise<unknown>;

  dial(to: string, opts: { device?: string } = {}) {
    return this.command("dial", { to, ...(opts.device !== undefined ? { device: opts.device } : {}) }) as Promise<DialResult>;
  }
  hangup(callId: string) {
    return this.command("hangup", { callId });
  }
  transfer(callId: string, to: string, opts: { kind?: "blind" | "attended" } = {}) {
    return this.command("transfer", { callId, to, kind: opts.kind ?? "blind" });
  }
  hold(callId: string) {
    return this.command("hold", { callId });
  }
  unhold(callId: string) {
    return this.command("unhold", { callId });
  }
  queuePause(o: { queue?: string; reason?: string; paused: boolean }) {
    const q = o.queue !== undefined ? { queue: o.queue } : {};
    const sent = o.paused ? this.command("queue.pause", { ...q, ...(o.reason !== undefined ? { reason: o.reason } : {}) }) : this.command("queue.unpause", q);
    return sent as Promise<QueuePauseResult>;
  }
  queueLogin(o: { queue: string; device?: string; login: boolean }) {
    return this.command(o.login ? "queue.login" : "queue.logout", { queue: o.queue, ...(o.device !== undefined ? { device: o.device } : {}) });
  }
  annotate(callId: string, patch: AnnotationPatch) {
    return this.command("call.annotate", { callId, ...patch }) as Promise<AnnotateResult>;
  }
}
