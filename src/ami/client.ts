/**
 * The AMI connection lifecycle: connect (optionally TLS), banner, login, optional
 * server-side filters, CoreSettings, keepalive Ping, and reconnect forever with capped
 * exponential backoff until stop(). Events are emitted synchronously in wire order.
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { AmiCodecError, AmiDecoder, encodeAction, header, type ActionFields, type AmiMessage, type DecoderOptions } from "./codec.js";
import { AmiClientError, PendingActions, type AmiResponse } from "./pending.js";
import { backoffDelay, greet, openAmiSocket, type AmiEndpoint } from "./transport.js";

export { AmiClientError, type AmiClientErrorCode, type AmiResponse } from "./pending.js";
export { backoffDelay } from "./transport.js";

/** Built from `config.ami` plus a logger: `new AmiClient({ ...config.ami, log })`. */
export interface AmiClientOptions extends AmiEndpoint {
  username: string;
  secret?: string;
  md5Login: boolean;
  pingIntervalMs: number;
  actionTimeoutMs: number;
  connectTimeoutMs: number;
  reconnect: { minDelayMs: number; maxDelayMs: number };
  /** Event names for server-side `Filter` actions; empty: every event. */
  eventFilter: string[];
  maxMessageBytes: number;
  /** Events dropped before decoding (nobody downstream reads them). */
  skipEvent?: DecoderOptions["skipEvent"];
  maxQueuedEvents: number;
  log: Logger;
  random?: () => number;
  now?: () => number;
  actionIdPrefix?: string;
}

export interface AmiClientEvents {
  connected: [{ amiVersion: string | undefined; asteriskVersion: string | undefined }];
  /**
   * `upUntil`: the last moment the PBX was known to be up on that connection: when the link
   * was lost, or for a ping timeout the last bytes received (the PBX hung before that).
   */
  disconnected: [{ reason: string; upUntil: number }];
  reconnecting: [{ attempt: number; delayMs: number }];
  loginFailed: [{ username: string; message: string }];
  /** Asterisk said `FullyBooted` on this connection (right after login, or when its boot completes). */
  booted: [];
  event: [AmiMessage];
}

export interface AmiClientStats {
  messages: number;
  events: number;
  reconnects: number;
  pendingActions: number;
  /** Events are handed over synchronously: nothing queues inside the client. */
  queueLength: number;
}

export class AmiClient extends EventEmitter<AmiClientEvents> {
  private socket: Socket | undefined;
  private decoder: AmiDecoder | undefined;
  private phase: "idle" | "connecting" | "login" | "up" = "idle";
  private closing = true;
  private attempt = 0;
  private authFailed = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastReceivedAt = 0;
  private fullyBooted = false;
  private readonly pending: PendingActions;
  private readonly counters = { messages: 0, events: 0, reconnects: 0 };
  private readonly log: Logger;

  constructor(private readonly opts: AmiClientOptions) {
    super();
    this.log = opts.log;
    this.pending = new PendingActions(opts.actionIdPrefix ?? "ctib-");
  }

  get stats(): AmiClientStats {
    return { ...this.counters, pendingActions: this.pending.size, queueLength: 0 };
  }

  get isConnected(): boolean {
    return this.phase === "up";
  }

  /**
   * Resolves true once the PBX has said `FullyBooted` on the current connection (at once if it
   * already has), false after `timeoutMs` without it or when the link drops first.
   */
  whenBooted(timeoutMs: number): Promise<boolean> {
    if (this.fullyBooted) return Promise.resolve(true);
    if (this.phase === "idle") return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(t);
        this.off("booted", onBooted);
        this.off("disconnected", onDown);
        resolve(v);
      };
      const onBooted = () => done(true);
      const onDown = () => done(false);
      const t = setTimeout(() => done(false), timeoutMs);
      t.unref?.();
      this.on("booted", onBooted);
      this.on("disconnected", onDown);
    });
  }

  start(): void {
    if (!this.closing) return;
    this.closing = false;
    this.open();
  }

  /** Log off if logged in, then close; no reconnect happens afterwards. */
  async stop(): Promise<void> {
    if (this.closing && !this.socket) return;
    this.closing = true;
    this.clearTimers();
    if (this.phase === "up") {
      await this.send("Logoff", []).promise.catch(() => undefined);
    }
    this.drop("stopped");
  }

  /** Send an action once logged in; list actions resolve with their events. */
  action(name: string, fields: ActionFields = [], opts: { timeoutMs?: number } = {}): Promise<AmiResponse> {
    if (this.phase !== "up") {
      return Promise.reject(new AmiClientError("AMI_NOT_CONNECTED", `AMI not connected; ${name} not sent`));
    }
    return this.send(name, fields, opts.timeoutMs).promise;
  }

  private send(name: string, fields: ActionFields, timeoutMs = this.opts.actionTimeoutMs) {
    const { id, promise } = this.pending.add(name, timeoutMs);
    try {
      if (fields.some(([k]) => k.toLowerCase() === "actionid")) {
        throw new AmiClientError("AMI_BAD_ACTION", "ActionID is assigned by the client");
      }
      const bytes = encodeAction(name, [...fields, ["ActionID", id]]);
      if (!this.socket || this.socket.destroyed) throw new AmiClientError("AMI_NOT_CONNECTED", "AMI socket closed");
      this.socket.write(bytes);
    } catch (err) {
      this.pending.fail(id, err as Error);
    }
    return { id, promise };
  }

  private open(): void {
    this.phase = "connecting";
    this.fullyBooted = false;
    const socket = openAmiSocket(this.opts);
    this.socket = socket;
    this.decoder = new AmiDecoder({ maxMessageBytes: this.opts.maxMessageBytes, now: this.opts.now, skipEvent: this.opts.skipEvent });
    // The connect timeout covers TCP (and TLS) setup and the banner: a port that accepts
    // but never greets is as dead as one that refuses.
    this.connectTimer = this.timer(this.opts.connectTimeoutMs, () => this.drop("connect timeout"));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => socket === this.socket && this.onData(chunk));
    socket.on("error", (err) => socket === this.socket && this.drop(`socket error: ${err.message}`));
    socket.on("close", () => socket === this.socket && this.drop("connection closed"));
  }

  private onData(chunk: Buffer): void {
    this.lastReceivedAt = this.clock();
    let msgs: AmiMessage[];
    try {
      msgs = this.decoder!.push(chunk);
    } catch (err) {
      if (!(err instanceof AmiCodecError)) throw err;
      this.log.error({ err, code: err.code, maxMessageBytes: this.opts.maxMessageBytes }, "ami frame too large");
      return this.drop("frame too large");
    }
    if (this.phase === "connecting") {
      if (this.decoder!.bannerVersion === undefined && msgs.length > 0) return this.drop("no AMI banner");
      if (this.decoder!.bannerVersion === undefined) return;
      this.phase = "login";
      if (this.connectTimer) clearTimeout(this.connectTimer);
      void this.login(this.socket!);
    }
    for (const msg of msgs) {
      // The socket may have been dropped by an earlier message's listener.
      if (!this.socket) return;
      this.counters.messages++;
      if (this.pending.offer(msg)) continue;
      if (msg.event !== undefined) {
        this.counters.events++;
        if (msg.event === "FullyBooted" && !this.fullyBooted) {
          this.fullyBooted = true;
          this.emitSafe("booted");
        }
        this.emitSafe("event", msg);
      } else if (msg.get("Response") === undefined) {
        this.log.warn({ keys: msg.keys.slice(0, 5) }, "ami message without event or response skipped");
      }
    }
  }

  private async login(socket: Socket): Promise<void> {
    const { username, host, port } = this.opts;
    try {
      const asteriskVersion = await greet((name, fields) => this.send(name, fields).promise, this.opts);
      if (socket !== this.socket) return;
      const info = { amiVersion: this.decoder?.bannerVersion, asteriskVersion };
      this.phase = "up";
      this.attempt = 0;
      this.authFailed = false;
      this.log.info({ host, port, ...info }, "ami connected");
      this.emitSafe("connected", info);
      this.schedulePing(socket);
    } catch (err) {
      if (socket !== this.socket) return;
      const e = err as AmiClientError;
      // greet() only rejects with AMI_ACTION_FAILED when Challenge or Login was refused.
      if (e.code === "AMI_ACTION_FAILED") {
        const message = header(e.response!, "Message") ?? "login refused";
        this.authFailed = true;
        this.log.error({ username, host, port, message }, "ami login failed");
        this.emitSafe("loginFailed", { username, message });
        return this.drop("login failed");
      }
      this.drop(`login: ${e.message}`);
    }
  }

  private schedulePing(socket: Socket): void {
    this.timer(this.opts.pingIntervalMs, () => {
      this.send("Ping", []).promise.then(
        () => socket === this.socket && this.schedulePing(socket),
        (err: AmiClientError) => {
          if (socket !== this.socket || err.code !== "AMI_TIMEOUT") return;
          this.log.warn({ timeoutMs: this.opts.actionTimeoutMs }, "ami ping unanswered");
          this.drop("ping timeout");
        },
      );
    });
  }

  /** Tear the connection down, reject what is pending, and reconnect unless stopping. */
  private drop(reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    // During stop() the PBX closes after its Goodbye: that is our doing, not a failure.
    if (this.closing) reason = "stopped";
    this.socket = undefined;
    this.decoder = undefined;
    this.phase = "idle";
    this.clearTimers();
    socket.destroy();
    this.pending.rejectAll("AMI_DISCONNECTED", reason);
    if (reason !== "stopped") this.log.warn({ reason }, "ami disconnected");
    const upUntil = reason === "ping timeout" && this.lastReceivedAt > 0 ? this.lastReceivedAt : this.clock();
    this.emitSafe("disconnected", { reason, upUntil });
    if (this.closing) return;
    this.attempt++;
    this.counters.reconnects++;
    const { minDelayMs, maxDelayMs } = this.opts.reconnect;
    // Wrong credentials will not fix themselves quickly: wait the full cap, don't hammer.
    const delayMs = this.authFailed ? maxDelayMs : backoffDelay(this.attempt, minDelayMs, maxDelayMs, this.opts.random ?? Math.random);
    this.log.info({ attempt: this.attempt, delayMs }, "ami reconnecting");
    this.emitSafe("reconnecting", { attempt: this.attempt, delayMs });
    this.timer(delayMs, () => this.open());
  }

  private clock(): number {
    return (this.opts.now ?? Date.now)();
  }

  private emitSafe<K extends keyof AmiClientEvents>(name: K, ...args: AmiClientEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: AmiClientEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      // One bad subscriber must not break the read loop.
      this.log.error({ err, event: name }, "ami listener failed");
    }
  }

  private timer(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
