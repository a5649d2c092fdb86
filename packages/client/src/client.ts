/**
 * One ctibridge session that survives its sockets: connect with the token in the subprotocol
 * list, fold what arrives, reconnect with backoff and `resume` from the last seq, refresh a
 * JWT before it expires. Browser and Node alike: only the WebSocket constructor differs.
 */
import { Actions } from "./actions.js";
import { backoffDelay } from "./backoff.js";
import { CommandError, CtiError } from "./errors.js";
import type { ClientEvents, ConnectionStatus, EventName, Listener } from "./events.js";
import { FoldedState } from "./fold.js";
import { PendingCommands } from "./pending.js";
import type { ClientOptions, CtiClient, WebSocketConstructor, WebSocketLike } from "./options.js";
import { SUBPROTOCOL, type AgentState, type Call, type ServerMessage, type UserInfo } from "./wire.js";

export type { ClientOptions, CtiClient, LogLevel, WebSocketConstructor, WebSocketLike } from "./options.js";

type Timer = unknown;
const timers = () => globalThis as unknown as { setTimeout(fn: () => void, ms: number): Timer; clearTimeout(t: Timer): void };
const later = (fn: () => void, ms: number): Timer => timers().setTimeout(fn, ms);
const cancel = (t: Timer | null): void => void (t !== null && timers().clearTimeout(t));

/** Close codes (docs/protocol.md "Close codes"). */
const UNAUTHORIZED = 4001;
const TOKEN_EXPIRED = 4003;
const TOO_SLOW = 4008;
const SUPERSEDED = 4009;
const RATE_LIMITED = 4029;
/** Consecutive refused upgrades after which a client with getToken gives up. */
const MAX_AUTH_REFUSALS = 5;
/** Seqs of call frames remembered from a resume that broke off, so its retry delivers none twice. */
const MAX_REMEMBERED_SEQS = 10_000;

type Phase = "idle" | "hello" | "snapshot" | "resuming" | "live";

export function connect(options: ClientOptions): CtiClient {
  return new Client(options);
}

class Client extends Actions implements CtiClient {
  status: ConnectionStatus = "connecting";
  user: UserInfo | null = null;
  connectionId: string | null = null;
  lastSeq = 0;

  private readonly o: ClientOptions;
  private readonly WS: WebSocketConstructor;
  private readonly listeners = new Map<EventName, Set<(p: any) => void>>();
  private readonly state: FoldedState;
  private readonly pending: PendingCommands;
  private readonly log: NonNullable<ClientOptions["log"]>;
  private ws: WebSocketLike | null = null;
  private phase: Phase = "idle";
  private attempt = 0;
  private authRefusals = 0;
  private closed = false;
  private everLive = false;
  private refreshing = false;
  private httpStatus: number | null = null;
  private reconnectTimer: Timer | null = null;
  private refreshTimer: Timer | null = null;
  private pingTimer: Timer | null = null;
  private sawFrame = false;
  /** Run in order as pongs arrive (the server answers pings in order, after every earlier reply). */
  private pongWaiters: { then: () => void; fail?: () => void }[] = [];
  private subscription: { users?: string[]; queues?: string[] } | null = null;
  private phaseMaxSeq = 0;
  private delivered = new Set<number>();

  constructor(o: ClientOptions) {
    super();
    if (!o.token && !o.getToken) throw new TypeError("connect: give token or getToken");
    const WS = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError("connect: no WebSocket here; pass { WebSocket } (in Node: the ws package)");
    this.o = o;
    this.WS = WS;
    const console = (globalThis as { console?: { warn(...args: unknown[]): void } }).console;
    this.log = o.log ?? ((level, msg, fields) => void (level === "warn" && console?.warn(`ctibridge-client: ${msg}`, fields ?? "")));
    this.state = new FoldedState((name, payload) => this.emit(name, payload), () => this.user?.id ?? null, () => o.popTiming ?? this.user?.popTiming ?? "ringing");
    this.pending = new PendingCommands(o.maxPendingCommands ?? 100);
    // After the caller's synchronous `on(…)` calls: they see every event, even a failing getToken.
    void Promise.resolve().then(() => this.open());
  }

  get calls(): ReadonlyMap<string, Call> {
    return this.state.calls;
  }
  get agents(): ReadonlyMap<string, AgentState> {
    return this.state.agents;
  }
  get pbxConnected(): boolean {
    return this.state.pbxConnected;
  }

  on<K extends EventName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  private emit<K extends EventName>(name: K, payload: ClientEvents[K]): void {
    for (const fn of [...(this.listeners.get(name) ?? [])]) {
      try {
        fn(payload);
      } catch (err) {
        // One bad subscriber must not stop the others, nor the folding.
        this.log("warn", "listener failed", { event: name, err: String(err) });
      }
    }
  }

  // ---- connection lifecycle ----

  private async open(): Promise<void> {
    this.reconnectTimer = null;
    if (this.closed) return;
    let token: string | undefined;
    try {
      token = this.o.getToken ? await this.o.getToken() : this.o.token;
    } catch (err) {
      this.emit("error", new CtiError("token_failed", `getToken failed: ${String(err)}`));
      return this.retry(undefined, "getToken failed", false);
    }
    if (this.closed) return;
    const url = this.o.instance ? `${this.o.url}${this.o.url.includes("?") ? "&" : "?"}instance=${encodeURIComponent(this.o.instance)}` : this.o.url;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(url, [SUBPROTOCOL, `bearer.${token ?? ""}`]);
    } catch (err) {
      // A token with characters a subprotocol cannot carry, or a bad URL: no socket ever opens.
      // Browsers quote the offending subprotocol, i.e. the token, in this error: never pass it on.
      const text = token ? String(err).split(token).join("[token]") : String(err);
      return this.fail(new CtiError("unauthorized", `cannot open the WebSocket: ${text}`));
    }
    this.ws = ws;
    this.phase = "hello";
    this.httpStatus = null;
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws === ws) this.onFrame(ev.data);
    };
    ws.onerror = (ev: { message?: unknown; error?: { message?: unknown } }) => {
      // `ws` reports a refused upgrade as "Unexpected server response: 401"; browsers say nothing.
      const text = String(ev?.message ?? ev?.error?.message ?? "");
      const status = /Unexpected server response: (\d{3})/.exec(text);
      if (status && this.ws === ws) this.httpStatus = Number(status[1]);
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.ws === ws) this.onClose(ev.code ?? 1006, String(ev.reason ?? ""));
    };
  }

  /** Forget the socket (its late events are ignored) and close it. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onopen = null;
      // Not null: Node's `ws` reports closing a socket that is still connecting as an `error`
      // event, which with no listener is an uncaught exception (browsers only log it).
      ws.onerror = () => undefined;
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
  }

  private onClose(code: number, reason: string): void {
    this.ws = null;
    const wasLive = this.phase === "live" || this.phase === "resuming";
    if (this.phase === "resuming") {
      // The replay broke off: what it delivered is skipped when the next resume repeats it.
      this.phaseMaxSeq = 0;
    } else this.delivered.clear();
    this.phase = "idle";
    this.stopTimers();
    this.pending.rejectAll("disconnected", "the connection closed before a result");
    this.dropPongWaiters();
    if (this.closed) return;
    if (this.refreshing) {
      this.refreshing = false;
      this.attempt = 0;
      return this.setStatus("reconnecting", { code, reason }), void this.open();
    }
    const status = this.httpStatus;
    if (status === 401 || status === 403) {
      this.authRefusals++;
      const err = new CtiError("unauthorized", `the server refused the token (HTTP ${status})`);
      if (!this.o.getToken || this.authRefusals >= MAX_AUTH_REFUSALS) return this.fail(err, code, reason);
      this.emit("error", err);
      return this.retry(code, reason, false);
    }
    if (code === UNAUTHORIZED) return this.fail(new CtiError("unauthorized", `the server closed the session: ${code} ${reason}`.trim()), code, reason);
    if (code === SUPERSEDED) return this.fail(new CtiError("superseded", "a newer connection with the same instance took over"), code, reason);
    if (code === TOKEN_EXPIRED) {
      if (!this.o.getToken) return this.fail(new CtiError("token_expired", "the token expired"), code, reason);
      this.attempt = 0;
      this.setStatus("reconnecting", { code, reason, attempt: 0, delayMs: 0 });
      return void this.open();
    }
    if (wasLive && code !== RATE_LIMITED) this.attempt = 0;
    // Rate limited: start further up the backoff curve; too slow: come back at once and resume.
    if (code === RATE_LIMITED) this.attempt = Math.max(this.attempt, 4);
    this.retry(code, reason, code === TOO_SLOW);
  }

  private retry(code: number | undefined, reason: string, soon: boolean): void {
    if (this.closed) return;
    const minMs = this.o.reconnect?.minMs ?? 500;
    const maxMs = this.o.reconnect?.maxMs ?? 30_000;
    const delayMs = soon ? 0 : backoffDelay(this.attempt, { minMs, maxMs }, this.o.random ?? Math.random);
    this.attempt++;
    this.log("info", "reconnecting", { attempt: this.attempt, delayMs, code, reason });
    this.setStatus("reconnecting", { ...(code !== undefined ? { code } : {}), reason, attempt: this.attempt, delayMs });
    this.reconnectTimer = later(() => void this.open(), delayMs);
  }

  private fail(err: CtiError, code?: number, reason?: string): void {
    this.log("warn", "giving up", { code: err.code, message: err.message });
    this.closed = true;
    this.stopTimers();
    this.setStatus("closed", { ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) });
    this.emit("error", err);
  }

  private setStatus(status: ConnectionStatus, extra: Omit<ClientEvents["connection"], "status"> = {}): void {
    if (this.status === status && status !== "reconnecting") return;
    this.status = status;
    this.emit("connection", { status, ...extra });
  }

  private stopTimers(): void {
    cancel(this.refreshTimer);
    cancel(this.pingTimer);
    this.refreshTimer = this.pingTimer = null;
  }

  close(): void {
    if (this.closed && this.status === "closed") return;
    this.closed = true;
    cancel(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopTimers();
    this.drop(1000, "client closed");
    this.pending.rejectAll("disconnected", "the client was closed");
    this.dropPongWaiters();
    this.phase = "idle";
    this.setStatus("closed", { code: 1000, reason: "client closed" });
  }

  // ---- frames ----

  private send(frame: unknown): boolean {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private sendPing(then: () => void, fail?: () => void): boolean {
    if (!this.send({ type: "ping" })) return false;
    this.pongWaiters.push({ then, ...(fail ? { fail } : {}) });
    return true;
  }

  private dropPongWaiters(): void {
    for (const w of this.pongWaiters.splice(0)) w.fail?.();
  }

  private onFrame(data: unknown): void {
    this.sawFrame = true;
    if (typeof data !== "string") return this.log("warn", "ignored a binary frame");
    let m: ServerMessage;
    try {
      m = JSON.parse(data) as ServerMessage;
    } catch {
      return this.log("warn", "ignored a frame that is not JSON");
    }
    if (typeof m !== "object" || m === null || typeof (m as { type?: unknown }).type !== "string") return this.log("warn", "ignored a frame without a type");
    const seq = typeof m.seq === "number" ? m.seq : 0;
    // One frame per call fact and seq; agent.state replies after a snapshot all repeat its seq
    // (and an older agent.state or pbx.* frame is not folded anyway).
    const callFact = m.type.startsWith("call.") && m.type !== "call.claimed";
    if (callFact && this.phase === "resuming" && seq > 0) {
      if (this.delivered.has(seq)) return; // delivered by a resume that broke off
      if (this.delivered.size < MAX_REMEMBERED_SEQS) this.delivered.add(seq);
    }
    this.handle(m);
    if (this.phase === "resuming") this.phaseMaxSeq = Math.max(this.phaseMaxSeq, seq);
    else if (this.phase === "live") this.lastSeq = Math.max(this.lastSeq, seq);
    this.emit("message", m);
  }

  private handle(m: ServerMessage): void {
    switch (m.type) {
      case "hello":
        this.user = m.user;
        this.connectionId = m.connectionId;
        this.phase = "snapshot";
        this.authRefusals = 0;
        this.scheduleRefresh(m.expiresAt);
        return;
      case "snapshot":
        return this.onSnapshot(m);
      case "call.claimed": {
        // `byMe` from servers that acknowledge a claim to the claimant; older ones tell only the others.
        const byMe = m.byMe === true || m.by === this.connectionId;
        if (byMe) this.pending.settleClaim(m.callId, null);
        return this.emit("claimed", { callId: m.callId, by: m.by, byMe });
      }
      case "agent.state":
        return this.state.agentMessage(m);
      case "pbx.disconnected":
      case "pbx.resynced":
      case "pbx.failover":
        return this.state.pbxMessage(m);
      case "resync_required":
        this.log("info", "resync required", { afterSeq: m.afterSeq, oldestSeq: m.oldestSeq });
        return;
      case "command.result":
        return m.ok ? this.pending.settle(m.id, null, m.data) : this.pending.settle(m.id, new CommandError(m.error.code, m.error.message, m.id));
      case "error":
        if (m.ref !== undefined && this.pending.settleByRef(m.ref, new CommandError(m.code, m.message, m.ref))) return;
        if (this.pending.settleSubscribe(new CommandError(m.code, m.message, null))) return;
        return this.emit("error", new CtiError(m.code, m.message));
      case "pong":
        this.pongWaiters.shift()?.then();
        return;
      default:
        if (m.type.startsWith("call.") && "call" in m) return this.state.callMessage(m);
    }
  }

  private onSnapshot(m: Extract<ServerMessage, { type: "snapshot" }>): void {
    const first = this.phase === "snapshot";
    const reconnect = (first && this.everLive) || this.phase === "resuming";
    this.state.snapshot(m, reconnect);
    if (!first) return;
    this.everLive = true;
    this.sawFrame = true;
    this.startPing();
    if (this.subscription) this.send({ type: "subscribe", ...this.subscription });
    if (this.lastSeq > 0) {
      // Missed while away: replayed in seq order; the pong after it marks the end of the replay.
      this.phase = "resuming";
      this.phaseMaxSeq = 0;
      this.send({ type: "resume", afterSeq: this.lastSeq });
      this.sendPing(() => this.resumed());
    } else {
      this.phase = "live";
      this.lastSeq = Math.max(this.lastSeq, m.seq);
    }
    this.setStatus("open");
  }

  private resumed(): void {
    if (this.phase !== "resuming") return;
    this.phase = "live";
    this.lastSeq = Math.max(this.lastSeq, this.phaseMaxSeq);
    this.delivered.clear();
    this.state.settleVanished();
  }

  private startPing(): void {
    const every = this.o.pingIntervalMs ?? 30_000;
    if (every <= 0) return;
    cancel(this.pingTimer);
    const tick = () => {
      if (!this.ws) return;
      if (!this.sawFrame) {
        // Nothing, not even the last pong: a half-open TCP connection. Do not wait for a close handshake.
        this.log("warn", "no answer from the server; reconnecting");
        const ws = this.ws;
        this.drop(4000, "no answer");
        if (ws) return this.onClose(1006, "no answer");
      }
      this.sawFrame = false;
      this.sendPing(() => undefined);
      this.pingTimer = later(tick, every);
    };
    this.pingTimer = later(tick, every);
  }

  private scheduleRefresh(expiresAt: string | null): void {
    cancel(this.refreshTimer);
    this.refreshTimer = null;
    if (!expiresAt || !this.o.getToken) return;
    const left = Date.parse(expiresAt) - Date.now();
    if (!Number.isFinite(left)) return;
    const margin = this.o.refreshMarginMs ?? Math.min(60_000, Math.floor(left / 5));
    this.refreshTimer = later(() => this.refresh(), Math.max(0, left - margin));
  }

  /** Reconnect with a fresh token before the server closes with 4003; resume covers the gap. */
  private refresh(): void {
    this.refreshTimer = null;
    if (!this.ws || this.closed) return;
    this.log("info", "refreshing the token");
    const ws = this.ws;
    this.refreshing = true;
    this.drop(1000, "token refresh");
    if (ws) this.onClose(1000, "token refresh");
  }

  // ---- commands ----

  override command(action: string, args?: unknown): Promise<unknown> {
    if (this.status !== "open" || !this.ws) return Promise.reject(new CommandError("disconnected", "not connected", null));
    return this.pending.add(this.o.commandTimeoutMs ?? 10_000, (id) => this.send({ type: "command", id, action, ...(args === undefined ? {} : { args }) }));
  }

  /**
   * Claim the pop for this tab: the user's other connections get `call.claimed`. Resolved once
   * the server handled it (the pong after it; or a `call.claimed` naming this connection),
   * rejected with `not_found` when the call is not active for the user.
   */
  claim(callId: string): Promise<void> {
    if (this.status !== "open" || !this.ws) return Promise.reject(new CommandError("disconnected", "not connected", null));
    const p = this.pending.addClaim(callId, this.o.commandTimeoutMs ?? 10_000);
    this.send({ type: "claim", callId });
    this.sendPing(() => this.pending.settleClaim(callId, null));
    return p;
  }

  /** A round trip: resolved once every frame the server sent before its pong has been handled. */
  ping(): Promise<void> {
    return new Promise((resolve, reject) => {
      const gone = () => reject(new CommandError("disconnected", "the connection closed before the pong", null));
      if (!this.sendPing(resolve, gone)) gone();
    });
  }

  /** Supervisors: narrow what this connection receives (kept across reconnects); answered with a snapshot. */
  subscribe(o: { users?: string[]; queues?: string[] } = {}): Promise<void> {
    if (this.status !== "open" || !this.ws) return Promise.reject(new CommandError("disconnected", "not connected", null));
    const frame = { ...(o.users ? { users: o.users } : {}), ...(o.queues ? { queues: o.queues } : {}) };
    const p = this.pending.addSubscribe(this.o.commandTimeoutMs ?? 10_000);
    this.send({ type: "subscribe", ...frame });
    this.sendPing(() => {
      if (this.pending.settleSubscribe(null)) this.subscription = frame;
    });
    return p;
  }
}
