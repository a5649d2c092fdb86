/**
 * What travels on the bus: one journal entry (publish/journal.ts) without its seq (the gateway
 * takes the stream sequence), stamped with the PBX it came from. Pure.
 */
import type { JournalEntry } from "../publish/journal.js";

type Unseq<E> = E extends JournalEntry ? Omit<E, "seq"> : never;
export type BusEntry = Unseq<JournalEntry> & { pbxId: string };

/** A PBX id is one subject token: letters, digits, `_` and `-` (checked by the config). */
export const PBX_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * One subject token from any id: `[A-Za-z0-9_-]` stay, every other byte becomes `~XX` (so `.`,
 * `*`, `>` and spaces in a user id cannot split or widen a subject). Injective.
 */
export function token(id: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(id)) return id;
  let out = "";
  for (const b of Buffer.from(id, "utf8")) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${b.toString(16).padStart(2, "0")}`;
  }
  return out || "~";
}

export function subjectOf(e: BusEntry): string {
  const pbx = token(e.pbxId);
  switch (e.kind) {
    case "call":
      return `cti.${pbx}.call.${token(e.callId)}`;
    case "done":
      return `cti.${pbx}.call.${token(e.callId)}`;
    case "agent":
      return `cti.${pbx}.agent.${token(e.userId)}`;
    case "pbx":
      return `cti.${pbx}.pbx`;
  }
}
