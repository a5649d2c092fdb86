/**
 * One authenticated WebSocket client: its identity and view, its send queue, and the
 * per-client duplicate guards (pitfall 11: one `call.ringing` per call, and a supervisor who
 * is reached by several routes never reads the same fact twice).
 */
import type { WebSocket } from "ws";
import type { AuthedUser, DirectoryUser } from "./auth.js";
import { FrameBudget } from "./budget.js";
import { ClientQueue } from "./clientQueue.js";
import type { JournalEntry } from "./journal.js";
import type { Recipient } from "./render.js";
import type { Scope } from "./routing.js";

/** Calls remembered per client for the ringing guard; old ones fall out first. */
const RANG_CAP = 2048;
/** Facts remembered per supervisor client; duplicates arrive within one publish burst. */
const RECENT_CAP = 256;

export interface ConnectionOptions {
  id: string;
  ws: WebSocket;
  auth: AuthedUser;
  user: DirectoryUser;
  popTiming: "ringing" | "answered";
  /** The latest seq when the client connected: resume replays up to here, live events follow. */
  connectedSeq: number;
  instance: string | null;
  maxBufferedBytes: number;
  /** This connection's frame budget (server.limits). */
  budget: FrameBudget;
  onOverflow: () => void;
  onSent: () => void;
}

export class Connection implements Recipient {
  readonly id: string;
  readonly userId: string;
  readonly role: AuthedUser["role"];
  readonly popTiming: "ringing" | "answered";
  readonly ws: WebSocket;
  readonly auth: AuthedUser;
  readonly user: DirectoryUser;
  readonly queue: ClientQueue;
  readonly budget: FrameBudget;
  readonly connectedSeq: number;
  readonly instance: string | null;
  scope: Scope;
  /** Cleared on each heartbeat ping, set by the pong. */
  alive = true;
  /** Which slice of the heartbeat interval pings this client (liveness.ts). */
  heartbeatSlot = 0;
  closed = false;
  timers: NodeJS.Timeout[] = [];
  /** callId → whether the ringing sent carried the pop. */
  private readonly rang = new Map<string, boolean>();
  private readonly recent = new Set<string>();
  private readonly recentOrder: string[] = [];

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.ws = o.ws;
    this.auth = o.auth;
    this.user = o.user;
    this.userId = o.auth.userId;
    this.role = o.auth.role;
    this.popTiming = o.popTiming;
    this.connectedSeq = o.connectedSeq;
    this.instance = o.instance;
    this.budget = o.budget;
    this.scope = o.auth.role === "supervisor" ? { kind: "all" } : { kind: "own" };
    this.queue = new ClientQueue(o.ws, {
      maxBufferedBytes: o.maxBufferedBytes,
      maxQueuedBytes: o.maxBufferedBytes,
      onOverflow: o.onOverflow,
      onSent: o.onSent,
    });
  }

  /**
   * Whether this call message may go out. A ringing is let through once per call, except that a
   * supervisor who first saw it as an observer (no pop) still gets the one that pops their phone,
   * and a user whose own ringing stopped gets the next ringing of the same call (rung again).
   */
  admit(e: JournalEntry & { kind: "call" }, pop: boolean): boolean {
    // This user stopped ringing: if the call rings them again (a queue's next round, a parked
    // call coming back), that is a new pop.
    if ((e.type === "call.ringing_stopped" || e.type === "call.answered") && e.userId === this.userId) this.rang.delete(e.callId);
    if (e.type === "call.ringing") {
      const prev = this.rang.get(e.callId);
      if (prev === true || (prev === false && !pop)) return false;
      this.rang.delete(e.callId);
      this.rang.set(e.callId, pop);
      if (this.rang.size > RANG_CAP) this.rang.delete(this.rang.keys().next().value!);
      return true;
    }
    if (this.role !== "supervisor") return true;
    // Not (type, callId, at) alone: events decoded from one AMI read share `at`, and two legs
    // that stop ringing in the same read are two facts.
    const key = `${e.type}\u0000${e.callId}\u0000${e.at}\u0000${e.fact ?? ""}`;
    if (this.recent.has(key)) return false;
    this.recent.add(key);
    this.recentOrder.push(key);
    if (this.recentOrder.length > RECENT_CAP) this.recent.delete(this.recentOrder.shift()!);
    return true;
  }

  send(text: string, type: string, callId: string | null): void {
    if (!this.closed) this.queue.send(text, type, callId);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    this.ws.close(code, reason);
  }

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
