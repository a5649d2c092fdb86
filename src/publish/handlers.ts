/**
 * What the server does with each client frame: resume, claim, subscribe, command, ping.
 * A bad frame gets an `error` reply and the connection stays; only the server decides routing.
 */
import type { RawData } from "ws";
import type { Logger } from "../log.js";
import type { AuthedUser } from "./auth.js";
import type { Connection } from "./connection.js";
import { parseIncoming, type IncomingMessage } from "./incoming.js";
import type { Journal, JournalEntry } from "./journal.js";
import type { ErrorCode, OutgoingMessage } from "./protocol.js";
import type { CommandOutcome } from "./schema.js";
import { canNarrow, wants, type Router, type Scope } from "./routing.js";

export type CommandResult = CommandOutcome;

type Body<M> = M extends OutgoingMessage ? Omit<M, "v" | "seq" | "ts" | "userId"> : never;

export interface HandlerDeps {
  log: Logger;
  journal: Journal;
  router: Router<Connection>;
  /** Logs the command once, with its result (control/commands.ts). */
  onCommand: (user: AuthedUser, cmd: { id: string; action: string; args: unknown; connectionId: string }) => Promise<CommandResult>;
  send: (c: Connection, body: Body<OutgoingMessage>) => void;
  sendEntry: (c: Connection, e: JournalEntry) => void;
  sendSnapshot: (c: Connection) => void;
  /** Whether the call is active and visible to this client. */
  findCall: (c: Connection, callId: string) => boolean;
  now: () => number;
  /** Tokens a `resume` or `subscribe` costs (server.limits.resyncCost); any other frame costs 1. */
  resyncCost: number;
  /** A frame was refused: count it; `close`: the connection is past its hard limit. */
  rateLimited: (c: Connection, kind: "frame" | "command", close: boolean) => void;
}

export class IncomingHandler {
  constructor(private readonly d: HandlerDeps) {}

  onFrame(c: Connection, data: RawData, isBinary: boolean): void {
    if (c.closed) return;
    // Charged before the frame is even decoded: a refused frame costs next to nothing.
    if (!this.admit(c, 1)) return;
    if (isBinary) return this.error(c, "bad_message", "binary frames are not accepted");
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8");
    const parsed = parseIncoming(text);
    if (!parsed.ok) {
      this.d.log.debug({ connectionId: c.id, code: parsed.code }, "bad client frame");
      return this.error(c, parsed.code, parsed.message, parsed.ref);
    }
    const m = parsed.message;
    // A resync may answer a whole snapshot: it draws more of the budget.
    if ((m.type === "resume" || m.type === "subscribe") && !this.admit(c, this.d.resyncCost - 1)) return;
    this.handle(c, m);
  }

  private admit(c: Connection, cost: number): boolean {
    if (cost <= 0) return true;
    const verdict = c.budget.admit(cost, this.d.now());
    if (verdict === "ok") return true;
    this.d.rateLimited(c, "frame", verdict === "close");
    if (verdict === "refuse") this.error(c, "rate_limited", "too many messages; slow down");
    return false;
  }

  private handle(c: Connection, m: IncomingMessage): void {
    switch (m.type) {
      case "ping":
        return this.d.send(c, { type: "pong" });
      case "resume":
        return this.resume(c, m.afterSeq);
      case "claim":
        return this.claim(c, m.callId);
      case "subscribe":
        return this.subscribe(c, m.users, m.queues);
      case "command":
        void this.command(c, m.id, m.action, m.args);
        return;
    }
  }

  /** Replays what this client missed up to the moment it connected; live events follow anyway. */
  private resume(c: Connection, afterSeq: number): void {
    const j = this.d.journal;
    const entries = afterSeq > j.lastSeq ? null : j.range(afterSeq, c.connectedSeq);
    if (entries === null) {
      this.d.log.info({ connectionId: c.id, afterSeq, oldestSeq: j.oldestSeq() }, "resume needs resync");
      this.d.send(c, { type: "resync_required", afterSeq, oldestSeq: j.oldestSeq() });
      this.d.sendSnapshot(c);
      if (afterSeq < j.firstSeq) this.endedSinceStart(c);
      return;
    }
    let n = 0;
    for (const e of entries) {
      if (!wants(c, e)) continue;
      this.d.sendEntry(c, e);
      n++;
    }
    this.d.log.debug({ connectionId: c.id, afterSeq, replayed: n }, "resumed");
  }

  /**
   * A resume from before a daemon restart: after the fresh snapshot, the calls that ended since
   * this daemon started (`call.ended`, `call.missed`: terminal facts, safe after a snapshot),
   * among them the calls closed as `unknown_end` at the restart, which the client could not
   * have seen (it reconnects after the daemon's first resync). Only while the journal still
   * holds everything since the start.
   */
  private endedSinceStart(c: Connection): void {
    const entries = this.d.journal.sinceStart(c.connectedSeq) ?? [];
    let n = 0;
    for (const e of entries) {
      if (e.kind !== "call" || (e.type !== "call.ended" && e.type !== "call.missed") || !wants(c, e)) continue;
      this.d.sendEntry(c, e);
      n++;
    }
    this.d.log.debug({ connectionId: c.id, replayed: n }, "calls ended since the restart replayed");
  }

  /**
   * One tab owns the pop: every connection of the user, the claimant included (its
   * acknowledgement, `byMe: true`), is told which connection took it.
   */
  private claim(c: Connection, callId: string): void {
    if (!this.d.findCall(c, callId)) return this.error(c, "not_found", `no active call ${callId}`, callId);
    for (const each of this.d.router.connectionsOf(c.userId)) {
      this.d.send(each, { type: "call.claimed", callId, by: c.id, byMe: each === c });
    }
  }

  private subscribe(c: Connection, users: string[] | undefined, queues: string[] | undefined): void {
    if (c.role !== "supervisor") return this.error(c, "forbidden", "only supervisors may subscribe");
    const next: Scope =
      users === undefined && queues === undefined ? { kind: "all" } : { kind: "filter", users: new Set(users ?? []), queues: new Set(queues ?? []) };
    if (!canNarrow(c.scope, next)) return this.error(c, "forbidden", "a subscription can only be narrowed");
    this.d.router.setScope(c, next);
    this.d.log.info({ connectionId: c.id, users: users ?? null, queues: queues ?? null }, "subscription changed");
    this.d.sendSnapshot(c);
  }

  private async command(c: Connection, id: string, action: string, args: unknown): Promise<void> {
    let result: CommandResult;
    try {
      result = await this.d.onCommand(c.auth, { id, action, args, connectionId: c.id });
    } catch (err) {
      const callId = (args as { callId?: unknown } | null)?.callId;
      this.d.log.error({ err, userId: c.userId, connectionId: c.id, action, cmdId: id, ...(typeof callId === "string" ? { callId } : {}) }, "command handler failed");
      result = { ok: false, error: { code: "internal", message: "internal error" } };
    }
    if (!result.ok && result.error.code === "rate_limited") this.d.rateLimited(c, "command", false);
    if (c.closed) return;
    if (result.ok) this.d.send(c, { type: "command.result", id, ok: true, ...(result.data !== undefined ? { data: result.data } : {}) });
    else this.d.send(c, { type: "command.result", id, ok: false, error: result.error });
  }

  private error(c: Connection, code: ErrorCode, message: string, ref?: string): void {
    this.d.send(c, { type: "error", code, message, ...(ref !== undefined ? { ref } : {}) });
  }
}
