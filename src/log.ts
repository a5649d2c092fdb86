/**
 * Logging: pino JSON lines on stdout (or an injected destination for tests), secrets
 * redacted, pretty output when stdout is a terminal.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import { REDACT_PATHS } from "./config.js";

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream that collects lines. */
  destination?: DestinationStream;
  /** Pretty-print (pino-pretty transport); default: stdout is a TTY and no destination given. */
  pretty?: boolean;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const base = {
    level: opts.level ?? "info",
    base: { name: "ctibridge" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (opts.destination) return pino(base, opts.destination);
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      ...base,
      formatters: undefined,
      transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name" } },
    });
  }
  return pino(base);
}

/** A logger that keeps every line as an object, for tests that assert on log fields. */
export function memoryLogger(level = "debug"): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) };
  return { log: createLogger({ level, destination }), lines };
}
