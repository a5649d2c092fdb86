/**
 * `ctibridge watch`: a terminal client that prints what one user receives, one line per
 * message (or the raw JSON). Built on the client SDK (packages/client): it reconnects with
 * jittered backoff and resumes from the last seq it saw; it stops for good when the server says
 * the token is bad, expired or superseded, and when the signal aborts.
 */
import WebSocket from "ws";
import { connect, type CtiError, type WebSocketConstructor } from "../../packages/client/src/index.js";
import { formatMessage, jsonLineSafe, terminalSafe } from "./watchFormat.js";

export interface WatchOptions {
  /** e.g. ws://127.0.0.1:8088/ws */
  url: string;
  token: string;
  /** Print each message as raw JSON instead of a readable line. */
  json: boolean;
  out: (line: string) => void;
  /** Connection notices (connected, retrying); default: `out` unless `json`. */
  status?: (line: string) => void;
  signal?: AbortSignal;
  WebSocketImpl?: typeof WebSocket;
  backoff?: { minMs: number; maxMs: number };
  /** Client-side ping to notice a dead server on a half-open TCP connection. */
  pingIntervalMs?: number;
  utc?: boolean;
}

export class WatchError extends Error {
  constructor(
    readonly code: "unauthorized" | "token_expired" | "superseded",
    message: string,
  ) {
    super(message);
    this.name = "WatchError";
  }
}

/** The SDK's error codes after which it stops reconnecting (DESIGN §3). */
const FINAL = new Set<string>(["unauthorized", "token_expired", "superseded"]);

export function runWatch(opts: WatchOptions): Promise<void> {
  const statusOut = opts.status ?? (opts.json ? () => undefined : opts.out);
  // Close reasons and error texts come from the other end too: as terminal-safe as messages.
  const status = (line: string) => statusOut(terminalSafe(line));
  return new Promise<void>((resolve, reject) => {
    if (opts.signal?.aborted) return resolve();
    const client = connect({
      url: opts.url,
      token: opts.token,
      WebSocket: (opts.WebSocketImpl ?? WebSocket) as unknown as WebSocketConstructor,
      reconnect: opts.backoff ?? { minMs: 500, maxMs: 30_000 },
      pingIntervalMs: opts.pingIntervalMs ?? 30_000,
      log: (level, msg) => void (level === "warn" && status(`-- ${msg}`)),
    });
    const onAbort = () => {
      client.close();
      resolve();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    client.on("message", (m) => {
      // Pongs answer the SDK's own pings (resume, heartbeat): not something the user received.
      if (m.type === "pong") return;
      opts.out(opts.json ? jsonLineSafe(JSON.stringify(m)) : formatMessage(m, { utc: opts.utc === true }));
    });
    client.on("connection", (c) => {
      if (c.status === "open") status(`-- connected to ${opts.url}`);
      else if (c.status === "reconnecting") status(`-- closed ${c.code ?? "?"}${c.reason ? ` ${c.reason}` : ""}; reconnecting in ${((c.delayMs ?? 0) / 1000).toFixed(1)}s`);
    });
    client.on("error", (err: CtiError) => {
      if (!FINAL.has(err.code)) return status(`-- ${err.code}: ${err.message}`);
      opts.signal?.removeEventListener("abort", onAbort);
      client.close();
      reject(new WatchError(err.code as WatchError["code"], err.message));
    });
  });
}
