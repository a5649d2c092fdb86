/** Strings the tracker keeps for as long as a call is open. */

/**
 * A copy of a string that is kept beyond the value it came from. Header values are slices of
 * the AMI message text, and V8 keeps a slice's whole parent alive: a channel name held for an
 * hour would pin its ~1 KB Newchannel message (measured: about 1 KB per open call). A string
 * built by `+` (a formatted number) is a rope of its parts: 32 B plus both parts, against
 * one flat string of its length (measured: 92 B against 32 B per call).
 */
export function own(s: string): string {
  // V8 makes no slice or rope shorter than 13 characters; a Buffer round trip yields a flat string of its own.
  return s.length < 13 ? s : Buffer.from(s, "utf8").toString("utf8");
}

/** The `ivr` of a call that has none: one frozen object shared by every call (written copy-on-write). */
export const NO_IVR: Record<string, string> = Object.freeze({}) as Record<string, string>;

const interned = new Map<string, string>();
/** How many strings `intern` remembers; it starts afresh when full (a bound, not a cache policy). */
const INTERN_MAX = 1024;

/**
 * One flat copy (`own`) per distinct value among the values seen lately: the DID's display and
 * E.164 forms recur on every inbound call, and each call held copies of its own.
 */
export function intern(s: string): string {
  let kept = interned.get(s);
  if (kept === undefined) {
    if (interned.size >= INTERN_MAX) interned.clear();
    kept = own(s);
    interned.set(kept, kept);
  }
  return kept;
}
