/** What `connect()` takes, and what it returns. */
import type { ConnectionStatus, EventName, Listener } from "./events.js";
import type { AgentState, AnnotateResult, AnnotationPatch, Call, DialResult, QueuePauseResult, UserInfo } from "./wire.js";

/** What the SDK needs of a WebSocket: the browser's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type LogLevel = "debug" | "info" | "warn";

export interface ClientOptions {
  /** WebSocket URL of the daemon, e.g. ws://127.0.0.1:8080/ws. */
  url: string;
  /** A fixed token (API key or JWT) … */
  token?: string;
  /** … or a function called at every (re)connect and before the JWT's expiresAt. */
  getToken?: () => string | Promise<string>;
  /** Label of this instance (sent as `?instance=`: a newer connection with the same one supersedes this). */
  instance?: string;
  /** Browsers: globalThis.WebSocket; Node 20: the `ws` package's WebSocket. */
  WebSocket?: WebSocketConstructor;
  reconnect?: { minMs?: number; maxMs?: number };
  /**
   * When a call found in a snapshot (connect, reconnect) pops. Default: this user's pop timing
   * from the server (`hello.user.popTiming`: `users[].popTiming`, default `pop.timing`).
   * "ringing": my leg rings; "answered": my leg answered it; "off": only frames with
   * `pop: true` pop.
   */
  popTiming?: "ringing" | "answered" | "off";
  /** A command with no command.result by then rejects with code "timeout". */
  commandTimeoutMs?: number;
  /** Commands (and claims) in flight at once; past it a command rejects with "too_many_pending". */
  maxPendingCommands?: number;
  /** A `ping` frame this often; a connection that delivered nothing over one interval is dropped. 0: off. */
  pingIntervalMs?: number;
  /** How long before expiresAt the token is refreshed (default: a fifth of its life, at most 60 s). */
  refreshMarginMs?: number;
  /** Reconnect attempts, closes and dropped frames; default: warnings to the console. */
  log?: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
  /** The jitter source (tests); default Math.random. */
  random?: () => number;
}

export interface CtiClient {
  readonly status: ConnectionStatus;
  readonly user: UserInfo | null;
  readonly connectionId: string | null;
  readonly lastSeq: number;
  readonly calls: ReadonlyMap<string, Call>;
  readonly agents: ReadonlyMap<string, AgentState>;
  readonly pbxConnected: boolean;
  on<K extends EventName>(name: K, listener: Listener<K>): () => void;
  dial(to: string, opts?: { device?: string }): Promise<DialResult>;
  hangup(callId: string): Promise<unknown>;
  transfer(callId: string, to: string, opts?: { kind?: "blind" | "attended" }): Promise<unknown>;
  hold(callId: string): Promise<unknown>;
  unhold(callId: string): Promise<unknown>;
  queuePause(o: { queue?: string; reason?: string; paused: boolean }): Promise<QueuePauseResult>;
  queueLogin(o: { queue: string; device?: string; login: boolean }): Promise<unknown>;
  annotate(callId: string, patch: AnnotationPatch): Promise<AnnotateResult>;
  claim(callId: string): Promise<void>;
  subscribe(o?: { users?: string[]; queues?: string[] }): Promise<void>;
  ping(): Promise<void>;
  command(action: string, args?: unknown): Promise<unknown>;
  close(): void;
}
