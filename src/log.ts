/**
 * Logging: pino JSON lines (pretty when stdout is a terminal), secrets redacted. The CLI logs
 * through a `LogSink` over stdout, which never blocks the daemon and never stops it from
 * exiting: a reader that stops reading costs dropped lines, not a stalled event loop, and a
 * reader that is gone (EPIPE) costs nothing at all.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import { prettyFactory } from "pino-pretty";
import { REDACT_PATHS } from "./config.js";

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Where lines go; default: pino's own stdout stream. The CLI passes a `LogSink`. */
  destination?: DestinationStream;
  /** Pretty-print in-process (pino-pretty), e.g. when stdout is a terminal; default false. */
  pretty?: boolean;
  /**
   * Start each JSON line with its syslog priority (`<6>{"level":"info",…}`): stdout is the
   * systemd journal, which takes the prefix off (`SyslogLevelPrefix=yes`, the default) and files
   * the line under that priority, so `journalctl -p warning` works and `journalctl -o cat`
   * still prints plain JSON. Ignored when pretty. Default false.
   */
  syslogPrefix?: boolean;
}

/** pino level → syslog priority (journald): fatal crit, error err, warn warning, info info, debug/trace debug. */
const PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** `<N>` before a line of ours (which starts `{"level":"…"`); any other line unchanged. */
export function withSyslogPriority(line: string): string {
  const m = /^\{"level":"([a-z]+)"/.exec(line);
  const n = m ? PRIORITY[m[1]!] : undefined;
  return n === undefined ? line : `<${n}>${line}`;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const base = {
    level: opts.level ?? "info",
    base: { name: "ctibridge" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (opts.pretty) {
    // In-process rather than pino's transport thread: one writer, one place that can drop lines.
    const prettify = prettyFactory({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name" });
    const dest = opts.destination ?? pino.destination(1);
    const flush = (dest as { flush?: (cb: (err?: Error) => void) => void }).flush;
    const stream = { write: (s: string) => void dest.write(prettify(s)), flush: (cb: (err?: Error) => void) => (flush ? flush.call(dest, cb) : cb()) };
    return pino({ ...base, formatters: undefined }, stream);
  }
  const options = opts.syslogPrefix ? { ...base, hooks: { streamWrite: withSyslogPriority } } : base;
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** The writable end a `LogSink` writes to (process.stdout in the CLI). */
export interface SinkTarget {
  write(chunk: string): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: "drain", fn: () => void): unknown;
  off(event: "drain", fn: () => void): unknown;
}

export interface LogSinkOptions {
  /** Past this many bytes waiting for the reader, lines are dropped (and counted). */
  maxBufferedBytes?: number;
  /** How long `flush` waits for the reader before giving up. */
  flushTimeoutMs?: number;
  /** Told once when lines start being dropped because nobody reads. */
  onDropping?: () => void;
}

/**
 * A pino destination over a stream that may stall or vanish. Writes never block (a pipe is
 * written asynchronously by Node; what the reader has not taken yet waits in memory, bounded);
 * after `close()` (stdout gone) lines are discarded. `flush(cb)` (pino's `logger.flush`) waits
 * for the reader at most `flushTimeoutMs`, so a final "stopped" line gets its chance and exit
 * is never held hostage by a reader that does not read.
 */
export class LogSink implements DestinationStream {
  dropped = 0;
  private closed = false;
  private warned = false;
  private readonly max: number;
  private readonly flushTimeoutMs: number;

  constructor(
    private readonly target: SinkTarget,
    private readonly opts: LogSinkOptions = {},
  ) {
    this.max = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 2_000;
  }

  write(line: string): void {
    if (this.closed || this.target.destroyed) return;
    if (this.target.writableLength > this.max) {
      this.dropped++;
      if (!this.warned) {
        this.warned = true;
        this.opts.onDropping?.();
      }
      return;
    }
    this.target.write(line);
  }

  /** The reader is gone: discard from now on. */
  close(): void {
    this.closed = true;
  }

  flush(cb: (err?: Error) => void): void {
    if (this.closed || this.target.destroyed || this.target.writableLength === 0) return void setImmediate(cb);
    const done = () => {
      clearTimeout(timer);
      this.target.off("drain", done);
      cb();
    };
    const timer = setTimeout(done, this.flushTimeoutMs);
    timer.unref?.();
    this.target.once("drain", done);
  }
}

/** A logger that keeps every line as an object, for tests that assert on log fields. */
export function memoryLogger(level = "debug"): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) };
  return { log: createLogger({ level, destination }), lines };
}
