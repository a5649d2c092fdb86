/**
 * Shifting the wall-clock times that Asterisk writes into AMI headers, for replaying a
 * recorded trace "now" (the simulator) instead of at its recording date.
 *
 * Each format is rewritten back in its own shape (digits, fraction length, zone offset), so a
 * shifted trace decodes exactly like the original apart from the times themselves.
 */

/** `EventTV`/`SessionTV`: `2026-11-22T00:05:21.578+0000` (ISO 8601, ms, numeric offset). */
export function shiftIsoTv(value: string, shiftMs: number): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-]\d\d:?\d\d|Z)$/.exec(value);
  if (!m) return value;
  const frac = m[7] ?? "";
  const offset = m[8]!;
  // Shift the wall-clock fields as written; the zone offset is kept verbatim, so no zone maths.
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, fracToMs(frac)) + shiftMs);
  return `${ymd(d, "-")}T${hms(d)}${frac ? "." + msToFrac(d.getUTCMilliseconds(), frac.length) : ""}${offset}`;
}

/** Cdr `StartTime`/`AnswerTime`/`EndTime`: `2026-11-22 00:05:21` (PBX local time, no zone). */
export function shiftCdrTime(value: string, shiftMs: number): string {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(value);
  if (!m) return value; // empty AnswerTime of an unanswered call stays empty
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) + shiftMs);
  return `${ymd(d, "-")} ${hms(d)}`;
}

/**
 * Epoch seconds with an optional fraction: `Timestamp: 1795305921.578012` (timestampevents=yes)
 * and integer epochs such as QueueMember `LoginTime`/`LastCall`. `0` means "never" and stays 0.
 */
export function shiftEpoch(value: string, shiftMs: number): string {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m || /^0+$/.test(m[1]!)) return value;
  const frac = m[2];
  if (frac === undefined) return String(Number(m[1]) + Math.trunc(shiftMs / 1000));
  // Integer microseconds (or whatever the fraction's precision is) keep the value exact.
  const scale = 10 ** frac.length;
  const total = Number(m[1]) * scale + Number(frac) + Math.round((shiftMs / 1000) * scale);
  const secs = Math.floor(total / scale);
  return `${secs}.${String(total - secs * scale).padStart(frac.length, "0")}`;
}

function fracToMs(frac: string): number {
  return frac === "" ? 0 : Math.floor(Number(`0.${frac}`) * 1000 + 1e-6);
}

function msToFrac(ms: number, digits: number): string {
  return String(ms).padStart(3, "0").padEnd(digits, "0").slice(0, digits);
}

function ymd(d: Date, sep: string): string {
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()].map((n, i) => pad(n, i === 0 ? 4 : 2)).join(sep);
}

function hms(d: Date): string {
  return [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].map((n) => pad(n, 2)).join(":");
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}
