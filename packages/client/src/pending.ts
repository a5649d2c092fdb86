/**
 * Requests waiting for the server: commands by their generated id, claims by callId, and at
 * most one subscribe. Each has a timeout; all are rejected when the socket drops. Bounded: past
 * `max` in flight a new one is refused at once.
 */
import { CommandError } from "./errors.js";

type Timer = unknown;
const timers = () => globalThis as unknown as { setTimeout(fn: () => void, ms: number): Timer; clearTimeout(t: Timer): void };

interface Waiter {
  resolve: (data: unknown) => void;
  reject: (err: CommandError) => void;
  timer: Timer;
}

export class PendingCommands {
  private readonly commands = new Map<string, Waiter>();
  private readonly claims: { callId: string; w: Waiter }[] = [];
  private subscribeWaiter: Waiter | null = null;
  private counter = 0;
  /** Unique per client instance, so ids never repeat across reconnects or tabs in the server's logs. */
  private readonly prefix = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0");

  constructor(private readonly max: number) {}

  get size(): number {
    return this.commands.size + this.claims.length + (this.subscribeWaiter ? 1 : 0);
  }

  private waiter(timeoutMs: number, id: string | null, onTimeout: () => void): { promise: Promise<unknown>; w: Waiter } {
    let w!: Waiter;
    const promise = new Promise<unknown>((resolve, reject) => {
      const timer = timers().setTimeout(() => {
        onTimeout();
        reject(new CommandError("timeout", `no answer within ${timeoutMs} ms`, id));
      }, timeoutMs);
      w = {
        timer,
        resolve: (data) => (timers().clearTimeout(timer), resolve(data)),
        reject: (err) => (timers().clearTimeout(timer), reject(err)),
      };
    });
    return { promise, w };
  }

  private full(): Promise<never> | null {
    return this.size >= this.max ? Promise.reject(new CommandError("too_many_pending", `${this.max} requests are already waiting`, null)) : null;
  }

  /** Register a command and send it with its id; false from `send` rejects it as disconnected. */
  add(timeoutMs: number, send: (id: string) => boolean): Promise<unknown> {
    const refused = this.full();
    if (refused) return refused;
    const id = `${this.prefix}-${++this.counter}`;
    const { promise, w } = this.waiter(timeoutMs, id, () => this.commands.delete(id));
    this.commands.set(id, w);
    if (!send(id)) this.settle(id, new CommandError("disconnected", "not connected", id));
    return promise;
  }

  settle(id: string, err: CommandError | null, data?: unknown): void {
    const w = this.commands.get(id);
    if (!w) return;
    this.commands.delete(id);
    if (err) w.reject(err);
    else w.resolve(data);
  }

  addClaim(callId: string, timeoutMs: number): Promise<void> {
    const refused = this.full();
    if (refused) return refused;
    const { promise, w } = this.waiter(timeoutMs, null, () => {
      const i = this.claims.findIndex((c) => c.w === w);
      if (i >= 0) this.claims.splice(i, 1);
    });
    this.claims.push({ callId, w });
    return promise.then(() => undefined);
  }

  settleClaim(callId: string, err: CommandError | null): boolean {
    const i = this.claims.findIndex((c) => c.callId === callId);
    if (i < 0) return false;
    const [c] = this.claims.splice(i, 1);
    if (err) c!.w.reject(err);
    else c!.w.resolve(undefined);
    return true;
  }

  /** An `error` frame's `ref` is a command id, or the callId of a claim. */
  settleByRef(ref: string, err: CommandError): boolean {
    if (this.commands.has(ref)) {
      this.settle(ref, err);
      return true;
    }
    return this.settleClaim(ref, err);
  }

  addSubscribe(timeoutMs: number): Promise<void> {
    if (this.subscribeWaiter) return Promise.reject(new CommandError("too_many_pending", "a subscribe is already waiting", null));
    const refused = this.full();
    if (refused) return refused;
    const { promise, w } = this.waiter(timeoutMs, null, () => (this.subscribeWaiter = null));
    this.subscribeWaiter = w;
    return promise.then(() => undefined);
  }

  settleSubscribe(err: CommandError | null): boolean {
    const w = this.subscribeWaiter;
    if (!w) return false;
    this.subscribeWaiter = null;
    if (err) w.reject(err);
    else w.resolve(undefined);
    return true;
  }

  rejectAll(code: string, message: string): void {
    const commands = [...this.commands];
    this.commands.clear();
    for (const [id, w] of commands) w.reject(new CommandError(code, message, id));
    for (const c of this.claims.splice(0)) c.w.reject(new CommandError(code, message, null));
    this.settleSubscribe(new CommandError(code, message, null));
  }
}
