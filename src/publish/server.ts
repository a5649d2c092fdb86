/**
 * The CTI WebSocket server: authentication on upgrade, per-user routing, hello → snapshot →
 * live events, the resume journal, heartbeats and expiry. publish() is synchronous and touches
 * only the recipients of one event, so no client can slow the AMI read loop (DESIGN §3).
 */
import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import { WebSocketServer, type WebSocket } from "ws";
import type { AnyCallEvent, Call } from "../calls/model.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Db } from "../store/db.js";
import { createAuthenticator, type Authenticator, type AuthedUser, type Directory, type DirectoryUser } from "./auth.js";
import { FrameBudget } from "./budget.js";
import { Connection } from "./connection.js";
import { IncomingHandler, type CommandResult } from "./handlers.js";
import { Journal, type JournalEntry } from "./journal.js";
import { heartbeatSlices, heartbeatTick, scheduleExpiry } from "./liveness.js";
import { createCtiMetrics, type CtiMetrics } from "./metrics.js";
import { CALL_EVENT_TYPES, CLOSE_CODES, PROTOCOL_VERSION, isoTime, toCallSnapshot, type AgentState, type CallSnapshot, type OutgoingMessage, type QueueInfo } from "./protocol.js";
import { renderEntry, viewKey } from "./render.js";
import { RingGate } from "./ringGate.js";
import { Router, viewOf } from "./routing.js";
import { SnapshotCache } from "./snapshotCache.js";
import { createUpgradeHandler, selectSubprotocol, type SocketHooks, type Subprotocol } from "./upgrade.js";
import { UserCalls } from "./userCalls.js";

export type { CommandResult } from "./handlers.js";

export interface CtiServerDeps {
  config: Config;
  log: Logger;
  db: Db;
  directory: Directory;
  activeCalls: () => Call[];
  /**
   * One call by id, active or just ended (the tracker's map). With it, `claim` and an agent's
   * snapshot never read `activeCalls`; absent (tests), both use the snapshot cache.
   */
  getCall?: (callId: string) => Call | undefined;
  /** The user's queue/device state, sent right after the snapshot on connect (null: nothing known). */
  agentStateOf?: (userId: string) => AgentState | null;
  onCommand: (user: AuthedUser, cmd: { id: string; action: string; args: unknown; connectionId: string }) => Promise<CommandResult>;
  now?: () => number;
  version: string;
  registry?: Registry;
  /** Shared with the REST API; built from config/db/directory when absent. */
  authenticator?: Authenticator;
  /**
   * Where seqs start (default: the clock, ms × 1000). A cluster gateway passes the stream
   * sequence before the first message it reads and publishes each message under `withSeq`.
   */
  seqBase?: number;
}

type CallEntry = JournalEntry & { kind: "call" };
type Body<M> = M extends OutgoingMessage ? Omit<M, "v" | "seq" | "ts" | "userId"> : never;

/** How long a client closed for slowness or flooding may take to read its close frame before the socket goes. */
const CLOSE_GRACE_MS = 5_000;

export class CtiServer {
  readonly auth: Authenticator;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wss: WebSocketServer;
  private readonly router = new Router<Connection>();
  private readonly journal: Journal;
  private readonly gate: RingGate<CallEntry>;
  private readonly metrics: CtiMetrics;
  private readonly handler: IncomingHandler;
  private readonly snapshots: SnapshotCache;
  private readonly userCalls = new UserCalls();
  private heartbeat: NodeJS.Timeout | null = null;
  private connCounter = 0;
  /** The tracker emits one fact as consecutive copies sharing one Call object. */
  private lastFactCall: Call | null = null;
  private factCounter = 0;
  private closing = false;
  /** withSeq: the seq the next journaled entry takes (null: the next number; -1: taken already). */
  private forcedSeq: number | null = null;
  /** withSeq(…, many): every entry journaled inside takes the one seq (the copies of one fact). */
  private forcedMany = false;
  private forcedAssigned = false;
  /** withSeq: when the fact happened on its PBX worker (the `ts` of an agent state, PBX status or done mark). */
  private forcedAt: number | null = null;

  constructor(private readonly deps: CtiServerDeps) {
    this.log = deps.log.child({ component: "publish" });
    this.now = deps.now ?? Date.now;
    this.auth = deps.authenticator ?? createAuthenticator({ config: deps.config, db: deps.db, directory: deps.directory, now: this.now });
    this.journal = new Journal(deps.config.server.journalSize, deps.seqBase ?? Math.floor(this.now()) * 1000);
    this.gate = new RingGate<CallEntry>(deps.config.server.ringDebounceMs, (e) => this.emit(e));
    this.metrics = createCtiMetrics(deps.registry);
    this.snapshots = new SnapshotCache(deps.activeCalls, (call) => toCallSnapshot(call, deps.config.pop.urlTemplate));
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
      clientTracking: false,
      handleProtocols: (protocols) => selectSubprotocol(protocols) ?? false,
    });
    this.handler = new IncomingHandler({
      log: this.log,
      journal: this.journal,
      router: this.router,
      onCommand: deps.onCommand,
      send: (c, body) => this.reply(c, body),
      sendEntry: (c, e) => this.deliver(c, e),
      sendSnapshot: (c) => this.sendSnapshot(c),
      findCall: (c, callId) => this.findCall(c, callId),
      now: this.now,
      resyncCost: deps.config.server.limits.resyncCost,
      rateLimited: (c, kind, close) => this.rateLimited(c, kind, close),
    });
  }

  get clientCount(): number {
    return this.router.connections().size;
  }

  /** Active snapshots built from the call list so far (each is a render of every active call). */
  get snapshotBuilds(): number {
    return this.snapshots.builds;
  }

  /**
   * Take over upgrades on config.server.wsPath; other paths get 404. `sockets`: the HTTP
   * server's socket guard, told when a socket has become a WebSocket session.
   */
  attach(http: HttpServer, sockets?: SocketHooks): void {
    const upgrade = createUpgradeHandler({
      wss: this.wss,
      auth: this.auth,
      directory: this.deps.directory,
      wsPath: this.deps.config.server.wsPath,
      log: this.log,
      metrics: this.metrics,
      limits: this.deps.config.server.limits,
      clientCount: () => this.router.connections().size,
      clientsOf: (userId) => this.router.connectionsOf(userId).size,
      ...(sockets ? { sockets } : {}),
      isClosing: () => this.closing,
      onConnection: (ws, auth, user, instance, subprotocol) => this.onConnection(ws, auth, user, instance, subprotocol),
    });
    http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void upgrade(req, socket, head));
    if (!this.heartbeat) {
      const slices = heartbeatSlices(this.deps.config.server.heartbeatMs);
      let slice = 0;
      this.heartbeat = setInterval(() => {
        heartbeatTick(this.router.connections(), this.auth, this.log, slices, slice);
        slice = (slice + 1) % slices;
      }, this.deps.config.server.heartbeatMs / slices);
      this.heartbeat.unref();
    }
  }

  /** One domain event → journal → its recipients. Never throws into the caller (the tracker). */
  /** Settings that shape snapshots changed (pop template on SIGHUP): render them again. */
  settingsChanged(): void {
    this.snapshots.invalidate();
  }

  publish(ev: AnyCallEvent): void {
    this.snapshots.invalidate();
    try {
      this.userCalls.note(ev.call);
      if (ev.call !== this.lastFactCall) {
        this.lastFactCall = ev.call;
        this.factCounter++;
      }
      const entry: CallEntry = {
        kind: "call",
        seq: 0,
        ts: isoTime(ev.at),
        type: CALL_EVENT_TYPES[ev.name],
        userId: ev.userId,
        callId: ev.call.callId,
        queue: ev.call.queue,
        at: ev.at,
        fact: this.factCounter,
        snapshot: toCallSnapshot(ev.call, this.deps.config.pop.urlTemplate),
      };
      if (ev.name === "callRingingStopped") entry.reason = ev.reason;
      for (const e of this.gate.offer(entry)) this.emit(e);
    } catch (err) {
      this.log.error({ err, event: ev.name, callId: ev.call?.callId }, "publish failed");
    }
  }

  pbxStatus(kind: "disconnected" | "resynced" | "failover", info: { reason?: string; calls?: number; pbxId?: string } = {}): void {
    this.emit({ kind: "pbx", seq: 0, ts: isoTime(this.factTime()), type: `pbx.${kind}`, reason: info.reason ?? null, calls: info.calls ?? null, ...(info.pbxId !== undefined ? { pbxId: info.pbxId } : {}) });
  }

  /**
   * Cluster gateway: what `publish` (or agentState, pbxStatus, callDone) journals inside `fn`
   * takes the stream sequence `seq`, so every gateway numbers the same fact alike and a client
   * resumes on any of them. One stream message journals at most one entry (the gateway runs
   * with `server.ringDebounceMs` 0, so the ring gate never holds one back). `at`: when the
   * worker saw the fact, the `ts` of a frame without a time of its own (agent state, PBX status,
   * done mark), as a standalone daemon stamps it, not when this gateway read it. `many`: the
   * message is one fact's copies (the users' and the call-level one, bus "calls"), journaled
   * under the one seq; a client receives at most one copy of a fact (a supervisor reached by
   * several routes is admitted once per fact), so no client sees a seq twice.
   */
  withSeq(seq: number, fn: () => void, at?: number, many = false): void {
    this.forcedSeq = seq;
    this.forcedAt = at ?? null;
    this.forcedMany = many;
    this.forcedAssigned = false;
    try {
      fn();
    } finally {
      this.forcedSeq = null;
      this.forcedAt = null;
      this.forcedMany = false;
    }
  }

  private factTime(): number {
    return this.forcedAt ?? this.now();
  }

  /** The seq of the newest journaled fact (a gateway's position in the stream). */
  get lastSeq(): number {
    return this.journal.lastSeq;
  }

  agentState(userId: string, state: AgentState): void {
    this.emit({ kind: "agent", seq: 0, ts: isoTime(this.factTime()), userId, state });
  }

  /** A missed leg of `userId` closed: `call.done` to her tabs and the supervisors who see it (journaled). */
  callDone(d: { userId: string; callId: string; queue: string | null; doneAt: string; by: string; reason: "marked" | "called_back" }): void {
    try {
      this.emit({ kind: "done", seq: 0, ts: isoTime(this.factTime()), ...d });
    } catch (err) {
      this.log.error({ err, callId: d.callId }, "publish failed");
    }
  }

  /** Whether a supervisor would receive this queue's `queue.state`. */
  watchesQueue(queue: string): boolean {
    return this.router.queueWatchers(queue).length > 0;
  }

  /** One queue's figures to the supervisors who see it; not journaled (GET /api/queues after a resume). */
  queueState(queue: QueueInfo): void {
    for (const c of this.router.queueWatchers(queue.queue)) this.reply(c, { type: "queue.state", queue });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.gate.clear();
    const conns = [...this.router.connections()];
    const closed = conns.map((c) => new Promise<void>((resolve) => c.ws.once("close", () => resolve())));
    for (const c of conns) c.close(CLOSE_CODES.shuttingDown, "server shutting down");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    for (const c of conns) c.ws.terminate();
    this.wss.close();
  }

  private emit(e: JournalEntry): void {
    if (this.forcedSeq !== null) {
      if (!this.forcedAssigned) {
        e.seq = this.journal.assign(this.forcedSeq);
        this.forcedAssigned = true;
      } else if (this.forcedMany) e.seq = this.forcedSeq;
      else return void this.log.error({ kind: e.kind }, "second entry from one stream message dropped");
    } else e.seq = this.journal.nextSeq();
    this.journal.push(e);
    const views = new Map<string, { text: string; pop: boolean }>();
    for (const c of this.router.targets(e)) {
      const key = viewKey(c);
      let v = views.get(key);
      if (!v) views.set(key, (v = this.render(c, e)));
      if (e.kind === "call" && !c.admit(e, v.pop)) continue;
      c.send(v.text, e.kind === "call" ? e.type : "", e.kind === "call" ? e.callId : null);
    }
  }

  private render(c: Connection, e: JournalEntry): { text: string; pop: boolean } {
    const msg = renderEntry(c, e);
    return { text: JSON.stringify(msg), pop: "pop" in msg && msg.pop };
  }

  /** Replay path: the same render and guards as live delivery, for one client. */
  private deliver(c: Connection, e: JournalEntry): void {
    const v = this.render(c, e);
    if (e.kind === "call" && !c.admit(e, v.pop)) return;
    c.send(v.text, e.kind === "call" ? e.type : "", e.kind === "call" ? e.callId : null);
  }

  private reply(c: Connection, body: Body<OutgoingMessage>): void {
    const msg = { v: 1, seq: this.journal.lastSeq, ts: isoTime(this.now()), userId: c.userId, ...body };
    c.send(JSON.stringify(msg), body.type, null);
  }

  /** Whether a call is active and this client sees it: one lookup, one render. */
  private findCall(c: Connection, callId: string): boolean {
    let snap: CallSnapshot | undefined;
    if (this.deps.getCall) {
      const call = this.deps.getCall(callId);
      snap = call === undefined || call.state === "ended" ? undefined : toCallSnapshot(call, this.deps.config.pop.urlTemplate);
    } else snap = this.snapshots.get(callId);
    return snap !== undefined && viewOf(c, snap) !== null;
  }

  private sendSnapshot(c: Connection): void {
    const getCall = this.deps.getCall;
    if (c.scope.kind === "own" && getCall) {
      // An agent: their own calls through the index, never the whole list.
      const calls = this.userCalls
        .callsOf(c.userId, getCall)
        .flatMap((call) => viewOf(c, toCallSnapshot(call, this.deps.config.pop.urlTemplate)) ?? []);
      return this.reply(c, { type: "snapshot", calls });
    }
    if (c.scope.kind !== "all") return this.reply(c, { type: "snapshot", calls: this.snapshots.callsFor(c) });
    // Every call, unnarrowed: the same JSON for every such supervisor until the next change.
    const head = JSON.stringify({ v: 1, seq: this.journal.lastSeq, ts: isoTime(this.now()), userId: c.userId, type: "snapshot" });
    c.send(`${head.slice(0, -1)},"calls":${this.snapshots.allCallsJson()}}`, "snapshot", null);
  }

  /** A frame or command refused by its budget; past the hard limit the connection is closed 4029. */
  private rateLimited(c: Connection, kind: "frame" | "command", close: boolean): void {
    this.metrics.rateLimited(kind);
    if (!close) return;
    this.metrics.rateLimitClose();
    this.log.warn({ connectionId: c.id, userId: c.userId }, "client closed, far past its frame budget");
    c.close(CLOSE_CODES.rateLimited, "rate limited");
    const t = setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS);
    t.unref();
    c.timers.push(t);
  }

  private onConnection(ws: WebSocket, auth: AuthedUser, user: DirectoryUser, instance: string | null, subprotocol: Subprotocol | null): void {
    const c: Connection = new Connection({
      id: `c${++this.connCounter}`,
      ws,
      auth,
      user,
      popTiming: user.popTiming ?? this.deps.config.pop.timing,
      connectedSeq: this.journal.lastSeq,
      instance,
      maxBufferedBytes: this.deps.config.server.maxBufferedBytes,
      budget: new FrameBudget(this.deps.config.server.limits, this.now()),
      onOverflow: () => this.tooSlow(c),
      onSent: () => this.metrics.messageSent(),
    });
    c.heartbeatSlot = this.connCounter;
    const log = this.log.child({ connectionId: c.id, userId: c.userId });
    if (instance !== null) {
      for (const other of this.router.connectionsOf(c.userId)) if (other.instance === instance) other.close(CLOSE_CODES.superseded, "superseded");
    }
    this.router.add(c);
    this.metrics.clientConnected();
    log.info({ role: c.role, instance }, "client connected");
    ws.on("pong", () => (c.alive = true));
    ws.on("message", (data, isBinary) => this.handler.onFrame(c, data, isBinary));
    ws.on("error", (err) => log.debug({ err }, "client socket error"));
    ws.on("close", (code) => {
      c.closed = true;
      c.clearTimers();
      this.router.remove(c);
      this.metrics.clientDisconnected();
      log.info({ code }, "client disconnected");
    });
    if (auth.expiresAt !== null) scheduleExpiry(c, auth.expiresAt, this.now, this.log);
    this.reply(c, {
      type: "hello",
      server: { name: "ctibridge", version: this.deps.version },
      protocol: PROTOCOL_VERSION,
      subprotocol,
      connectionId: c.id,
      user: { id: user.id, name: user.name, role: c.role, devices: [...user.devices], popTiming: c.popTiming },
      expiresAt: auth.expiresAt === null ? null : isoTime(auth.expiresAt),
    });
    this.sendSnapshot(c);
    // Agent states known now: a supervisor (who receives every agent's changes) gets all of them.
    const ids = c.role === "supervisor" ? this.deps.directory.listUsers().map((u) => u.id) : [c.userId];
    for (const id of ids) {
      const agent = this.deps.agentStateOf?.(id) ?? null;
      if (agent !== null) this.reply(c, { type: "agent.state", agent: id, state: agent });
    }
  }

  private tooSlow(c: Connection): void {
    this.metrics.slowClose();
    this.log.warn({ connectionId: c.id, userId: c.userId, bufferedAmount: c.ws.bufferedAmount }, "slow client closed");
    c.close(CLOSE_CODES.tooSlow, "too slow");
    const t = setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS);
    t.unref();
    c.timers.push(t);
  }
}
