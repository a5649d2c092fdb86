/**
 * The AMI wire codec: bytes ⇄ messages.
 *
 * Framing works on the raw Buffer (a message ends at an empty line, `\r\n` or bare `\n`);
 * each whole message is decoded from UTF-8 once, so a multi-byte character split across
 * two socket reads survives. Header values are never coerced: `0049…` stays a string.
 */

export type HeaderValue = string | string[];

export interface AmiMessage {
  /** Headers in wire order, key case kept; a repeated key becomes an array in order. */
  readonly headers: Record<string, HeaderValue>;
  /** `ChanVariable: NAME=value` (and the pre-12 `ChanVariable(chan): NAME=value`) as a map. */
  readonly chanVariables?: Record<string, string>;
  /** `DestChanVariable: NAME=value` as a map. */
  readonly destChanVariables?: Record<string, string>;
  /** Lines without a colon (pre-13 `Command` output), kept verbatim. */
  readonly rawLines?: string[];
  /** Milliseconds since the epoch when the bytes that completed this message were read. */
  readonly receivedAt: number;
}

export class AmiCodecError extends Error {
  constructor(
    readonly code: "AMI_FRAME_TOO_LARGE" | "AMI_INJECTION" | "AMI_BAD_ACTION",
    message: string,
  ) {
    super(message);
    this.name = "AmiCodecError";
  }
}

/** First value of a header (the only value for all but a few repeated headers). */
export function header(msg: AmiMessage, key: string): string | undefined {
  const v = msg.headers[key];
  return typeof v === "string" ? v : v?.[0];
}

/** All values of a header, in wire order. */
export function headerAll(msg: AmiMessage, key: string): string[] {
  const v = msg.headers[key];
  return v === undefined ? [] : typeof v === "string" ? [v] : v;
}

export function isEvent(msg: AmiMessage): boolean {
  return msg.headers.Event !== undefined;
}

const BANNER_PREFIX = "Asterisk Call Manager/";
const LF = 0x0a;
const CR = 0x0d;

export interface DecoderOptions {
  /** Expect the one-line banner first (true for a fresh TCP connection). */
  expectBanner?: boolean;
  /** Largest unfinished message kept, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Clock for `receivedAt` (injectable for deterministic tests). */
  now?: () => number;
}

/**
 * Streaming decoder. Feed it chunks with `push`; it returns the whole messages the chunk
 * completed (in order) and keeps the unfinished tail.
 */
export class AmiDecoder {
  /** The banner's protocol version (`11.0.0` on Asterisk 22), once seen. */
  bannerVersion: string | undefined;
  private tail: Buffer = Buffer.alloc(0);
  /** Where line scanning resumes inside `tail` (everything before it has no LF). */
  private scanFrom = 0;
  private awaitingBanner: boolean;
  private readonly maxBytes: number;
  private readonly now: () => number;

  constructor(opts: DecoderOptions = {}) {
    this.awaitingBanner = opts.expectBanner ?? true;
    this.maxBytes = opts.maxMessageBytes ?? 1024 * 1024;
    this.now = opts.now ?? Date.now;
  }

  /** Bytes held for an unfinished message. */
  get pendingBytes(): number {
    return this.tail.length;
  }

  /**
   * Decode a chunk. Throws `AmiCodecError("AMI_FRAME_TOO_LARGE")` when an unfinished
   * message outgrows the cap; the decoder is then unusable (drop the connection).
   */
  push(chunk: Buffer): AmiMessage[] {
    const buf = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    const out: AmiMessage[] = [];
    let msgStart = 0;
    let pos = this.scanFrom;
    let receivedAt = 0;
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) break;
      let lineEnd = nl;
      if (lineEnd > pos && buf[lineEnd - 1] === CR) lineEnd--;
      if (this.awaitingBanner && pos === msgStart) {
        this.awaitingBanner = false;
        const line = buf.toString("utf8", pos, lineEnd);
        if (line.startsWith(BANNER_PREFIX)) {
          this.bannerVersion = line.slice(BANNER_PREFIX.length).trim();
          msgStart = pos = nl + 1;
          continue;
        }
      }
      if (lineEnd === pos) {
        // An empty line ends the message (several empty lines in a row are harmless).
        if (pos > msgStart) {
          if (receivedAt === 0) receivedAt = this.now();
          out.push(decodeMessage(buf.toString("utf8", msgStart, pos), receivedAt));
        }
        msgStart = nl + 1;
      }
      pos = nl + 1;
    }
    // Keep the unfinished tail; copy it when small so the big chunk can be freed.
    const rest = buf.length - msgStart;
    this.tail = rest === 0 ? Buffer.alloc(0) : rest < 4096 ? Buffer.from(buf.subarray(msgStart)) : buf.subarray(msgStart);
    this.scanFrom = pos - msgStart;
    if (this.tail.length > this.maxBytes) {
      const size = this.tail.length;
      this.tail = Buffer.alloc(0);
      this.scanFrom = 0;
      throw new AmiCodecError(
        "AMI_FRAME_TOO_LARGE",
        `unfinished AMI message of ${size} bytes exceeds the ${this.maxBytes} byte cap`,
      );
    }
    return out;
  }
}

function addTo(map: Record<string, HeaderValue>, key: string, value: string): void {
  const prev = map[key];
  if (prev === undefined) map[key] = value;
  else if (typeof prev === "string") map[key] = [prev, value];
  else prev.push(value);
}

function splitVar(value: string): [string, string] {
  const eq = value.indexOf("=");
  return eq < 0 ? [value, ""] : [value.slice(0, eq), value.slice(eq + 1)];
}

/** Decode one message's text (its lines, without the terminating empty line). */
export function decodeMessage(text: string, receivedAt: number): AmiMessage {
  const headers: Record<string, HeaderValue> = {};
  let chanVariables: Record<string, string> | undefined;
  let destChanVariables: Record<string, string> | undefined;
  let rawLines: string[] | undefined;
  let start = 0;
  const len = text.length;
  while (start < len) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = len;
    const lineEnd = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
    const colon = text.indexOf(":", start);
    if (colon < 0 || colon >= lineEnd) {
      if (lineEnd > start) (rawLines ??= []).push(text.slice(start, lineEnd));
    } else {
      const key = text.slice(start, colon);
      const vStart = text.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1;
      const value = vStart >= lineEnd ? "" : text.slice(vStart, lineEnd);
      if (key.charCodeAt(0) === 0x43 /* C */ && key.startsWith("ChanVariable")) {
        const [name, v] = splitVar(value);
        (chanVariables ??= {})[name] = v;
      } else if (key.charCodeAt(0) === 0x44 /* D */ && key.startsWith("DestChanVariable")) {
        const [name, v] = splitVar(value);
        (destChanVariables ??= {})[name] = v;
      } else {
        addTo(headers, key, value);
      }
    }
    start = end + 1;
  }
  const msg: { -readonly [K in keyof AmiMessage]: AmiMessage[K] } = { headers, receivedAt };
  if (chanVariables) msg.chanVariables = chanVariables;
  if (destChanVariables) msg.destChanVariables = destChanVariables;
  if (rawLines) msg.rawLines = rawLines;
  return msg;
}

/** An action to send: ordered fields; an array value writes the key once per value. */
export type ActionFields = ReadonlyArray<readonly [string, string | number | readonly string[]]>;

function checkSafe(what: string, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === CR || c === LF || c === 0) {
      throw new AmiCodecError(
        "AMI_INJECTION",
        `${what} contains a ${c === 0 ? "NUL" : c === CR ? "CR" : "LF"} character; refused`,
      );
    }
  }
}

/**
 * Encode an action. Any CR, LF or NUL in a key or value is refused with
 * `AmiCodecError("AMI_INJECTION")` before a single byte is produced: header injection is
 * how a client-supplied value turns into a second, hostile action.
 */
export function encodeAction(action: string, fields: ActionFields = []): Buffer {
  checkSafe("action name", action);
  if (action.length === 0) throw new AmiCodecError("AMI_BAD_ACTION", "empty action name");
  let out = `Action: ${action}\r\n`;
  for (const [key, raw] of fields) {
    checkSafe("header name", key);
    if (key.length === 0 || key.includes(":")) {
      throw new AmiCodecError("AMI_BAD_ACTION", `bad header name ${JSON.stringify(key)}`);
    }
    const values = typeof raw === "object" ? raw : [String(raw)];
    for (const v of values) {
      checkSafe(`value of ${key}`, v);
      out += `${key}: ${v}\r\n`;
    }
  }
  return Buffer.from(out + "\r\n", "utf8");
}
