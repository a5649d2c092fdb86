/**
 * Test helpers around the real simulator server (src/sim/amiServer.ts): start one on
 * 127.0.0.1 port 0, build client options for it, capture pino output in an array, and
 * wait for emitter events without wall-clock sleeps.
 */
import type { EventEmitter } from "node:events";
import { pino, type Logger } from "pino";
import type { AmiClientOptions } from "../../src/ami/client.js";
import { AmiServer, type AmiServerOptions } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";

export { AmiServer } from "../../src/sim/amiServer.js";

/** A listening fake PBX on loopback; remember to `close()` it. */
export async function startFakeAmi(opts: AmiServerOptions = {}): Promise<AmiServer> {
  const server = new AmiServer({ host: "127.0.0.1", port: 0, ...opts });
  await server.listen();
  return server;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose JSON lines land in `lines` (synchronously); `onLine` sees each. */
export function memoryLogger(level = "debug", onLine?: (line: LogLine) => void): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const write = (s: string) => {
    const line = JSON.parse(s) as LogLine;
    lines.push(line);
    onLine?.(line);
  };
  const log = pino({ level, base: undefined }, { write });
  return { log, lines };
}

/** Client options for a fake server: deterministic ActionIDs, jitter neutral (random 0.5). */
export function clientOptions(port: number, log: Logger, over: Partial<AmiClientOptions> = {}): AmiClientOptions {
  return {
    host: "127.0.0.1",
    port,
    username: "ctibridge",
    secret: "s3cret-value",
    md5Login: false,
    pingIntervalMs: 20_000,
    actionTimeoutMs: 1_000,
    connectTimeoutMs: 2_000,
    reconnect: { minDelayMs: 500, maxDelayMs: 4_000 },
    eventFilter: [],
    maxMessageBytes: 1024 * 1024,
    maxQueuedEvents: 50_000,
    log,
    random: () => 0.5,
    actionIdPrefix: "t-",
    ...over,
  };
}

/** Resolve with the arguments of the next `name` event that satisfies `pred`. */
export function next<T extends unknown[] = unknown[]>(
  emitter: EventEmitter<any>,
  name: string,
  pred: (...args: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const listener = (...args: unknown[]) => {
      if (!pred(...(args as T))) return;
      emitter.off(name, listener);
      resolve(args as T);
    };
    emitter.on(name, listener);
  });
}

/** Count messages independently of any parser: lines that start with `Event: `. */
export function countEventLines(bytes: Buffer): number {
  return bytes
    .toString("latin1")
    .split(/\r?\n/)
    .filter((l) => l.startsWith("Event: ")).length;
}

/** The part of a trace a server replays after its own login response. */
export function traceBody(bytes: Buffer): Buffer {
  return stripTracePreamble(bytes);
}
