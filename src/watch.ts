/**
 * `ctibridge watch`: a terminal client that prints what one user receives, one line per
 * message (or the raw JSON). It reconnects with capped, jittered backoff and resumes from the
 * last seq it saw; it stops for good when the server says the token is bad, expired or
 * superseded, and when the signal aborts.
 */
import WebSocket from "ws";
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

/** Close codes after which reconnecting cannot help (DESIGN §3). */
const FINAL_CLOSE: Record<number, WatchError["code"]> = { 4001: "unauthorized", 4003: "token_expired", 4009: "superseded" };

type Outcome = { kind: "retry"; opened: boolean; why: string } | { kind: "stop" } | { kind: "fail"; error: WatchError };

export async function runWatch(opts: WatchOptions): Promise<void> {
  const WS = opts.WebSocketImpl ?? WebSocket;
  const statusOut = opts.status ?? (opts.json ? () => undefined : opts.out);
  // Close reasons and error texts come from the other end too: as terminal-safe as messages.
  const status = (line: string) => statusOut(terminalSafe(line));
  const { minMs, maxMs } = opts.backoff ?? { minMs: 500, maxMs: 30_000 };
  let lastSeq = 0;
  let delay = minMs;

  const connectOnce = () =>
    new Promise<Outcome>((resolve) => {
      if (opts.signal?.aborted) return resolve({ kind: "stop" });
      const ws = new WS(opts.url, ["ctibridge.v1", `bearer.${opts.token}`]);
      let opened = false;
      let alive = true;
      let pinger: ReturnType<typeof setInterval> | undefined;
      const onAbort = () => ws.close(1000, "bye");
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const finish = (o: Outcome) => {
        clearInterval(pinger);
        opts.signal?.removeEventListener("abort", onAbort);
        resolve(o);
      };
      ws.on("open", () => {
        opened = true;
        status(`-- connected to ${opts.url}`);
        if (lastSeq > 0) ws.send(JSON.stringify({ type: "resume", afterSeq: lastSeq }));
        pinger = setInterval(() => {
          if (!alive) return void ws.terminate();
          alive = false;
          ws.ping();
        }, opts.pingIntervalMs ?? 30_000);
      });
      ws.on("pong", () => void (alive = true));
      ws.on("message", (data, isBinary) => {
        alive = true;
        if (isBinary) return;
        const text = data.toString();
        let msg: unknown;
        try {
          msg = JSON.parse(text);
        } catch {
          return void status(`-- ignored a frame that is not JSON`);
        }
        const seq = (msg as { seq?: unknown }).seq;
        if (typeof seq === "number" && seq > lastSeq) lastSeq = seq;
        if (opts.json) opts.out(jsonLineSafe(text));
        else if ((msg as { type?: unknown }).type !== "pong") opts.out(formatMessage(msg, { utc: opts.utc === true }));
      });
      ws.on("unexpected-response", (_req, res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        ws.terminate();
        if (code === 401 || code === 403) finish({ kind: "fail", error: new WatchError("unauthorized", `server refused the token (HTTP ${code})`) });
        else finish({ kind: "retry", opened: false, why: `HTTP ${code}` });
      });
      ws.on("error", (err) => void (opened || opts.signal?.aborted || status(`-- cannot connect: ${err.message}`)));
      ws.on("close", (code, reason) => {
        if (opts.signal?.aborted) return finish({ kind: "stop" });
        const final = FINAL_CLOSE[code];
        if (final) return finish({ kind: "fail", error: new WatchError(final, `server closed the connection: ${code} ${reason.toString()}`.trim()) });
        finish({ kind: "retry", opened, why: `closed ${code}` });
      });
    });

  for (;;) {
    const outcome = await connectOnce();
    if (outcome.kind === "stop") return;
    if (outcome.kind === "fail") throw outcome.error;
    if (outcome.opened) delay = minMs;
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    status(`-- ${outcome.why}; reconnecting in ${(wait / 1000).toFixed(1)}s`);
    if (!(await sleep(wait, opts.signal))) return;
    delay = Math.min(delay * 2, maxMs);
  }
}

/** Resolves true after `ms`, false at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
