/**
 * Pending AMI actions: correlation by our own ActionID, per-action timeouts, list
 * responses (`EventList: start` … the `…Complete` event) and rejection on disconnect.
 */
import { header, type AmiMessage } from "./codec.js";

export type AmiClientErrorCode =
  | "AMI_TIMEOUT"
  | "AMI_DISCONNECTED"
  | "AMI_NOT_CONNECTED"
  | "AMI_ACTION_FAILED"
  | "AMI_BAD_ACTION";

export class AmiClientError extends Error {
  constructor(
    readonly code: AmiClientErrorCode,
    message: string,
    /** The `Response: Error` message, for AMI_ACTION_FAILED. */
    readonly response?: AmiMessage,
  ) {
    super(message);
    this.name = "AmiClientError";
  }
}

export interface AmiResponse {
  response: AmiMessage;
  /** A list action's events (with its ActionID), in order; empty otherwise. */
  events: AmiMessage[];
  /** The list's closing `…Complete` event (carries `ListItems`). */
  complete?: AmiMessage;
}

interface Pending {
  name: string;
  resolve: (r: AmiResponse) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  response?: AmiMessage;
  events: AmiMessage[];
}

export class PendingActions {
  private readonly table = new Map<string, Pending>();
  private seq = 0;

  constructor(private readonly prefix: string) {}

  get size(): number {
    return this.table.size;
  }

  /** Register an action; returns its ActionID and the promise of its response. */
  add(name: string, timeoutMs: number): { id: string; promise: Promise<AmiResponse> } {
    const id = `${this.prefix}${++this.seq}`;
    const promise = new Promise<AmiResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.table.delete(id);
        reject(new AmiClientError("AMI_TIMEOUT", `AMI action ${name} (${id}) got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.table.set(id, { name, resolve, reject, timer, events: [] });
    });
    return { id, promise };
  }

  /** Forget an action that could not be sent. */
  fail(id: string, err: Error): void {
    const p = this.table.get(id);
    if (!p) return;
    this.finish(id, p);
    p.reject(err);
  }

  /**
   * Offer a message; true when it belonged to a pending action (and must not be
   * emitted as an event). Events carrying the ActionID of a list in progress are collected.
   */
  offer(msg: AmiMessage): boolean {
    const id = header(msg, "ActionID");
    if (id === undefined) return false;
    const p = this.table.get(id);
    if (!p) return false;
    if (msg.get("Response") !== undefined) {
      if (p.response) return false; // a second response with this id: not ours to swallow
      if (header(msg, "Response")?.toLowerCase() === "error") {
        this.finish(id, p);
        const text = header(msg, "Message") ?? "(no message)";
        p.reject(new AmiClientError("AMI_ACTION_FAILED", `AMI action ${p.name} failed: ${text}`, msg));
      } else if (header(msg, "EventList")?.toLowerCase() === "start") {
        p.response = msg;
      } else {
        this.finish(id, p);
        p.resolve({ response: msg, events: [] });
      }
      return true;
    }
    if (!p.response) return false; // an event before any response: not part of a list
    if (header(msg, "EventList")?.toLowerCase() === "complete") {
      this.finish(id, p);
      p.resolve({ response: p.response, events: p.events, complete: msg });
    } else {
      p.events.push(msg);
    }
    return true;
  }

  /** Reject everything (on disconnect). */
  rejectAll(code: AmiClientErrorCode, why: string): void {
    const all = [...this.table.entries()];
    for (const [id, p] of all) {
      this.finish(id, p);
      p.reject(new AmiClientError(code, `AMI action ${p.name} (${id}) abandoned: ${why}`));
    }
  }

  private finish(id: string, p: Pending): void {
    clearTimeout(p.timer);
    this.table.delete(id);
  }
}
