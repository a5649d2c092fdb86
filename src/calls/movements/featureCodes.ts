/**
 * Feature codes: numbers a phone dials to act on another call (`*8` group pickup, `**1002`
 * directed pickup, `701` a parking space), not to place a call of its own. Such a dial is kept
 * silent: no `call.dialing`, nothing stored, unless a pickup or a park retrieval merges it into
 * the call it reached (calls/movements/pickup.ts, park.ts).
 *
 * Patterns are written as in the Asterisk dialplan: an entry without a leading `_` matches
 * exactly; with it, `X` is any digit, `Z` 1-9, `N` 2-9, `[1-5]`/`[13]` a set, `.` one or more
 * of anything, `!` zero or more, anything else itself.
 */

/** One Asterisk extension pattern (or exact number) as a RegExp. */
export function patternRegExp(pattern: string): RegExp {
  if (!pattern.startsWith("_")) return new RegExp(`^${escape(pattern)}$`);
  let re = "";
  const p = pattern.slice(1);
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "X" || c === "x") re += "[0-9]";
    else if (c === "Z" || c === "z") re += "[1-9]";
    else if (c === "N" || c === "n") re += "[2-9]";
    else if (c === ".") re += ".+";
    else if (c === "!") re += ".*";
    else if (c === "[") {
      const end = p.indexOf("]", i);
      if (end < 0) throw new Error(`feature code pattern ${pattern}: [ without ]`);
      const set = p.slice(i + 1, end).replace(/[\\\]^]/g, "\\$&");
      re += `[${set}]`;
      i = end;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether a dialled number is one of the feature codes. */
export function featureMatcher(patterns: readonly string[]): (dialled: string) => boolean {
  const res = patterns.map(patternRegExp);
  return (dialled) => dialled !== "" && res.some((re) => re.test(dialled));
}
