/**
 * Shared inputs of the call-engine and screen-pop benchmarks: the lab PBX's users (the
 * recorded traces ring PJSIP/1001…1006 from the carrier trunk), a config for them, and the
 * burst trace repeated with fresh ids. Kept out of test/ so the build (src + bench) has it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AmiDecoder } from "../src/ami/codec.js";
import { configSchema, type Config } from "../src/config.js";
import { renumberTrace } from "../src/sim/renumber.js";

export const BURST_TRACE = "24-burst-30-concurrent.ami";
export const TRUNK = "PJSIP/carrier";

/** The six agents of the recorded lab PBX (same ids as test/helpers/labConfig.ts). */
export const LAB_USERS = ["alice", "bob", "carol", "dave", "eve", "frank"].map((id, i) => ({
  id,
  name: id,
  devices: [`PJSIP/${1001 + i}`],
}));

/** A config for `users` with the lab trunk; logging off so a benchmark measures no log I/O. */
export function benchConfig(users: unknown[] = LAB_USERS, extra: Record<string, unknown> = {}): Config {
  return configSchema.parse({ users, trunks: [TRUNK], log: { level: "silent" }, ...extra });
}

export interface Repeated {
  readonly chunks: Buffer[];
  readonly bytes: number;
  /** Every AMI message in the chunks, the ones the production decoder skips included. */
  readonly messages: number;
  readonly copies: number;
}

/** Upper bound on copies whatever the target, so a typo in the target cannot fill memory. */
const MAX_COPIES = 2_000;

/**
 * `trace` repeated with renumbered ids until about `targetMessages` messages, cut into
 * `chunkBytes` Buffers (each its own allocation, as socket reads are). Banner, Login response
 * and every `Response:` are dropped: a client that sent no action sees only events.
 */
export function repeatTrace(tracesDir: string, trace: string, targetMessages: number, chunkBytes = 64 * 1024): Repeated {
  const bytes = readFileSync(join(tracesDir, trace));
  const opts = { stripPreamble: true, dropResponses: true };
  const first = renumberTrace(bytes, 0, opts);
  // Renumbering keeps the message count, so one copy tells the size of all.
  const perCopy = new AmiDecoder({ expectBanner: false, now: () => 0 }).push(first).length;
  const copies = Math.min(MAX_COPIES, Math.max(1, Math.ceil(targetMessages / perCopy)));
  const whole = Buffer.concat(Array.from({ length: copies }, (_, c) => (c === 0 ? first : renumberTrace(bytes, c, opts))));
  const chunks: Buffer[] = [];
  for (let at = 0; at < whole.length; at += chunkBytes) chunks.push(Buffer.from(whole.subarray(at, at + chunkBytes)));
  return { chunks, bytes: whole.length, messages: perCopy * copies, copies };
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
