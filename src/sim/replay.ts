/**
 * Byte-level helpers for replaying recorded AMI traces: strip what the recorder's own
 * login produced, cut the rest into chunks (fixed sizes or a seeded random plan) and
 * encode server-side messages.
 */

/** Message fields in wire order. */
export type Fields = ReadonlyArray<readonly [string, string]>;

export interface ReplayOptions {
  /** Chunk sizes, used in turn (cycled) until the bytes run out. */
  chunkSizes?: number[];
  /** Seed for random chunk sizes in 1..maxChunk (used when chunkSizes is absent); neither: one write. */
  seed?: number;
  maxChunk?: number;
  /** Pause between chunks, so each chunk arrives in its own socket read. */
  paceMs?: number;
  /** Send the bytes as given (do not strip the trace's banner and login response). */
  raw?: boolean;
}

/** One encoded message: `Key: value` lines and the terminating empty line. */
export function encodeMessage(fields: Fields): Buffer {
  let out = "";
  for (const [k, v] of fields) out += `${k}: ${v}\r\n`;
  return Buffer.from(out + "\r\n", "utf8");
}

/**
 * A trace file starts with the banner line and the `Response: Success` to the recorder's
 * Login; a client logging in to the simulator gets its own, so replay only what follows.
 * Bytes that do not start with a banner are returned untouched.
 */
export function stripTracePreamble(bytes: Buffer): Buffer {
  const firstNl = bytes.indexOf(0x0a);
  if (firstNl < 0 || !bytes.subarray(0, firstNl).toString("latin1").startsWith("Asterisk Call Manager/")) return bytes;
  let pos = firstNl + 1;
  if (!bytes.subarray(pos, pos + 9).toString("latin1").startsWith("Response:")) return bytes.subarray(pos);
  // The login response ends at the first empty line (CRLF or bare LF).
  for (let guard = 0; guard < 1000 && pos < bytes.length; guard++) {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) return Buffer.alloc(0);
    const empty = nl === pos || (nl === pos + 1 && bytes[pos] === 0x0d);
    pos = nl + 1;
    if (empty) return bytes.subarray(pos);
  }
  return bytes.subarray(pos);
}

/** mulberry32: a tiny seeded PRNG, good enough for reproducible chunking. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** [start, end) ranges covering `length` bytes; at most `length` ranges, so always bounded. */
export function chunkPlan(length: number, opts: ReplayOptions): Array<[number, number]> {
  const sizes = opts.chunkSizes?.filter((n) => Number.isInteger(n) && n > 0);
  // Neither sizes nor a seed: one write, as a fast PBX would.
  if (!sizes?.length && opts.seed === undefined) return length > 0 ? [[0, length]] : [];
  const rand = seededRandom(opts.seed ?? 1);
  const maxChunk = Math.max(1, opts.maxChunk ?? 1500);
  const plan: Array<[number, number]> = [];
  let pos = 0;
  for (let i = 0; pos < length; i++) {
    const size = sizes && sizes.length > 0 ? sizes[i % sizes.length]! : 1 + Math.floor(rand() * maxChunk);
    plan.push([pos, Math.min(length, pos + size)]);
    pos += size;
  }
  return plan;
}
