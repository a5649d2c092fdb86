/**
 * The benchmark stream: every recorded trace, repeated with renumbered ids (so it is a
 * plausible day of distinct calls, not one call replayed) until it holds about the target
 * number of messages. It is written copy by copy to a temporary file, never assembled in
 * memory, so the feeder can serve it at page-cache speed and no measuring process holds it.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AmiDecoder } from "../src/ami/codec.js";
import { renumberedCopies } from "../src/sim/renumber.js";
import type { StreamInfo } from "./registry.js";

export const BANNER = "Asterisk Call Manager/11.0.0\r\n";

/** What Asterisk answers to a good Login; the ActionID echoes the client's. */
export function loginResponse(actionId: string | undefined): string {
  const id = actionId === undefined ? "" : `ActionID: ${actionId}\r\n`;
  return `Response: Success\r\n${id}Message: Authentication accepted\r\n\r\n`;
}

/**
 * The stream of methods m1/m2 is the 22 traces numbered 01-25 (the first recordings); later
 * recordings (26- : transfers, parking, pickup …) would change what a row measures.
 */
export const METHOD_M1_LAST_TRACE = 25;

/** Upper bound on copies, whatever the target: keeps the temp file (and the run) finite. */
const MAX_COPIES = 1_000;

export interface BuiltStream extends StreamInfo {
  /** Deletes the temporary directory. */
  dispose(): void;
}

export function buildStream(tracesDir: string, targetMessages: number): BuiltStream {
  const files = readdirSync(tracesDir)
    .filter((f) => f.endsWith(".ami") && Number(f.slice(0, 2)) <= METHOD_M1_LAST_TRACE)
    .sort();
  if (files.length === 0) throw new Error(`no .ami traces in ${tracesDir}`);
  const traces = files.map((f) => readFileSync(join(tracesDir, f)));

  // Renumbering keeps the message count (tested), so one decoded copy tells the size of all.
  const perCopy = countMessages([...renumberedCopies(traces, { copies: 1, stripPreamble: true })]);
  const copies = Math.min(MAX_COPIES, Math.max(1, Math.ceil(targetMessages / perCopy)));

  const dir = mkdtempSync(join(tmpdir(), "ctibridge-bench-"));
  const path = join(dir, "stream.ami");
  const fd = openSync(path, "w");
  let bytes = 0;
  try {
    for (const chunk of renumberedCopies(traces, { copies, stripPreamble: true })) {
      writeSync(fd, chunk);
      bytes += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return {
    path,
    bytes,
    messages: perCopy * copies,
    copies,
    traces: traces.length,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function countMessages(chunks: Buffer[]): number {
  const d = new AmiDecoder({ expectBanner: false, now: () => 0 });
  return chunks.reduce((n, c) => n + d.push(c).length, 0);
}
