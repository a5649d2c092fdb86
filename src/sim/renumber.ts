/**
 * Renumbering a recorded AMI trace so it can be replayed again and again (the benchmark's
 * 300k-message stream, the built-in PBX simulator) without two replays sharing a call.
 *
 * Every id is mapped by a pure function of (original id, copy number): the same original id
 * always becomes the same new id within a copy, in every trace of that copy (the two
 * connections of a click-to-dial recording stay coherent), and no state is needed to stream
 * copies forever. Copies differ because each copy moves ids into its own numeric band:
 *  - uniqueids `<epoch>.<n>` (any header named *Uniqueid / *Linkedid, any case):
 *    n → n + copy × UNIQUEID_STRIDE (Asterisk's counter restarts at 0 with the PBX, so a
 *    recorded counter stays far below the stride; a larger one is refused, not wrapped);
 *  - channel suffixes `Tech/resource-0000002a[;1|;2]`, wherever they appear (BRIDGEPEER lists,
 *    DestChannel, LocalOneChannel, …): suffix → (suffix + copy × CHANNEL_STRIDE) mod 2^32,
 *    wrapping like Asterisk's own 32-bit counter (copies 4096 apart may meet again);
 *  - UUIDs (BridgeUniqueid, SIP Call-IDs, security SessionIDs): the last 48 bits get
 *    copy × an odd constant added, a bijection for each copy.
 * The trace is handled as latin1 text so every byte outside the rewritten ASCII ids,
 * including UTF-8 caller names, comes back unchanged.
 */
import { shiftCdrTime, shiftEpoch, shiftIsoTv } from "./timeShift.js";

export const UNIQUEID_STRIDE = 10_000_000;
export const CHANNEL_STRIDE = 0x100000;
/** Odd, so adding copy × UUID_STEP mod 2^48 can never map two copies of one UUID together. */
const UUID_STEP = 0x9e3779b97f4bn;
const UUID_MASK = (1n << 48n) - 1n;

export interface RenumberOptions {
  /** Added to every wall-clock time (EventTV, Cdr times, epoch timestamps) and uniqueid epochs. */
  timeShiftMs?: number;
  /** Drop the banner line and the Login response that open a recorded connection. */
  stripPreamble?: boolean;
  /** Drop every `Response:` message (replies to the recorder's actions mean nothing to a new client). */
  dropResponses?: boolean;
}

const ID_KEY = "[A-Za-z]*(?:[Uu]nique[Ii][Dd]|[Ll]inked[Ii][Dd])";
const TIME_KEYS = "EventTV|SessionTV|StartTime|AnswerTime|EndTime|Timestamp|LoginTime|LastCall|LastPause|ExpirationTime";
/**
 * One pass over the text; alternatives are tried in order at each position, so a whole
 * id or time header line wins over the in-line patterns that could match inside it.
 *  1 id header: key, prefix (an optional system name), epoch, counter
 *  5 time header: key, value (only when shifting)
 *  7 UUID
 *  8 channel: name, hex suffix
 * 10 a bare uniqueid inside another value (e.g. a MixMonitor file name)
 */
const PATTERN =
  `^(${ID_KEY}): ([^\\r\\n]*?)(\\d+)\\.(\\d+)(?=\\r?$)` +
  `|^(${TIME_KEYS}): ([^\\r\\n]+?)(?=\\r?$)` +
  `|\\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\b` +
  `|\\b([A-Za-z][A-Za-z0-9_]*/[^\\s,;/]*?)-([0-9a-f]{8})(?![0-9A-Za-z])` +
  `|(?<!\\d|\\d\\.)(\\d{9,11}\\.\\d+)(?!\\d|\\.\\d)`;

/**
 * Rewrites trace bytes as copy `copy` (0, 1, 2, …). Copy 0 without options still rewrites
 * nothing but the ids' own band (n + 0), i.e. returns a byte-identical trace.
 */
export function renumberTrace(bytes: Buffer, copy: number, opts: RenumberOptions = {}): Buffer {
  return new Renumberer(opts).apply(bytes, copy);
}

/**
 * Streams `copies` consecutive copies (default: forever) of a list of traces, one Buffer per
 * trace and copy, so a consumer can write them to a socket without holding the whole stream.
 * Copy k is shifted in time by k × `copyTimeShiftMs` on top of `timeShiftMs`.
 */
export function* renumberedCopies(
  traces: readonly Buffer[],
  opts: RenumberOptions & { firstCopy?: number; copies?: number; copyTimeShiftMs?: number } = {},
): Generator<Buffer, void, undefined> {
  const first = opts.firstCopy ?? 0;
  const end = first + (opts.copies ?? Infinity);
  for (let copy = first; copy < end; copy++) {
    const r = new Renumberer({ ...opts, timeShiftMs: (opts.timeShiftMs ?? 0) + copy * (opts.copyTimeShiftMs ?? 0) });
    for (const t of traces) yield r.apply(t, copy);
  }
}

class Renumberer {
  /** Original uniqueids seen in id headers: only these are rewritten inside free text. */
  private readonly seen = new Set<string>();
  private readonly re: RegExp;
  private readonly shiftMs: number;

  constructor(private readonly opts: RenumberOptions) {
    this.shiftMs = opts.timeShiftMs ?? 0;
    this.re = new RegExp(PATTERN, "gm");
  }

  apply(bytes: Buffer, copy: number): Buffer {
    if (!Number.isSafeInteger(copy) || copy < 0) throw new RangeError(`copy must be a non-negative integer, got ${copy}`);
    let text = bytes.toString("latin1");
    if (this.opts.stripPreamble) text = stripPreamble(text);
    if (this.opts.dropResponses) text = dropResponses(text);
    const epochShift = Math.trunc(this.shiftMs / 1000);
    const out = text.replace(this.re, (whole, ...g: (string | undefined)[]) => {
      if (g[0] !== undefined) {
        const [key, prefix, epoch, n] = g as string[];
        this.seen.add(`${epoch}.${n}`);
        return `${key}: ${prefix}${mapUniqueid(epoch!, n!, copy, epochShift)}`;
      }
      if (g[4] !== undefined) return this.shiftMs === 0 ? whole : `${g[4]}: ${shiftTime(g[4], g[5]!, this.shiftMs)}`;
      if (g[6] !== undefined) return mapUuid(g[6], copy);
      if (g[7] !== undefined) return `${g[7]}-${mapChannelSuffix(g[8]!, copy)}`;
      const token = g[9]!;
      if (!this.seen.has(token)) return whole;
      const dot = token.indexOf(".");
      return mapUniqueid(token.slice(0, dot), token.slice(dot + 1), copy, epochShift);
    });
    return Buffer.from(out, "latin1");
  }
}

function mapUniqueid(epoch: string, n: string, copy: number, epochShift: number): string {
  const counter = Number(n);
  if (counter >= UNIQUEID_STRIDE) {
    throw new RangeError(`uniqueid counter ${epoch}.${n} is beyond the renumbering stride ${UNIQUEID_STRIDE}`);
  }
  return `${Number(epoch) + epochShift}.${counter + copy * UNIQUEID_STRIDE}`;
}

function mapChannelSuffix(hex: string, copy: number): string {
  const v = parseInt(hex, 16);
  if (v >= CHANNEL_STRIDE) throw new RangeError(`channel suffix ${hex} is beyond the renumbering stride`);
  return ((v + copy * CHANNEL_STRIDE) % 0x1_0000_0000).toString(16).padStart(8, "0");
}

function mapUuid(uuid: string, copy: number): string {
  if (copy === 0) return uuid;
  const node = (BigInt(`0x${uuid.slice(24)}`) + BigInt(copy) * UUID_STEP) & UUID_MASK;
  return uuid.slice(0, 24) + node.toString(16).padStart(12, "0");
}

function shiftTime(key: string, value: string, shiftMs: number): string {
  if (key.endsWith("TV")) return shiftIsoTv(value, shiftMs);
  if (key.endsWith("Time") && value.includes("-")) return shiftCdrTime(value, shiftMs);
  return shiftEpoch(value, shiftMs);
}

/** Message boundaries: an empty line (CRLF or bare LF, as the codec accepts). */
const MESSAGE = /[^]*?(?:\r?\n\r?\n|$)/g;

function stripPreamble(text: string): string {
  let start = 0;
  if (text.startsWith("Asterisk Call Manager/")) start = text.indexOf("\n") + 1;
  // The Login response is the first message of a recorded connection.
  if (text.startsWith("Response:", start)) {
    // A regex of our own: matchAll copies lastIndex, so a shared /g regex left mid-text
    // would make a later dropResponses() start from the wrong place.
    const re = new RegExp(MESSAGE.source, "g");
    re.lastIndex = start;
    const m = re.exec(text);
    start += m ? m[0].length : 0;
  }
  return start === 0 ? text : text.slice(start);
}

function dropResponses(text: string): string {
  const parts: string[] = [];
  for (const m of text.matchAll(MESSAGE)) {
    let part = m[0];
    // The banner line has no empty line after it: it shares a block with the Login response.
    if (part.startsWith("Asterisk Call Manager/")) {
      const nl = part.indexOf("\n") + 1;
      parts.push(part.slice(0, nl));
      part = part.slice(nl);
    }
    if (part !== "" && !part.startsWith("Response:")) parts.push(part);
  }
  return parts.join("");
}
