/**
 * `ctibridge forget NUMBER`: erase one phone number (GDPR Art. 17). Calls from or to it are
 * deleted with their legs and annotations (not anonymised: a call's time, DID and agents would
 * still point at the person), and so are the contact entries holding it; a contact left with
 * no number is deleted too. The number is matched as dialled and in its E.164 form.
 */
import { normalizeNumber, type NumberOptions } from "../directory/numbers.js";
import type { Db } from "./db.js";
import { deleteCalls } from "./retention.js";

export interface ForgetResult {
  calls: number;
  contactNumbers: number;
  contacts: number;
}

/** The forms a number is matched in: as dialled and in E.164. */
export function numberForms(raw: string, numbers: NumberOptions): string[] {
  const n = normalizeNumber(raw, numbers);
  return [...new Set([raw.trim(), n.e164].filter((v): v is string => v !== null && v !== ""))];
}

export function forgetNumber(db: Db, raw: string, numbers: NumberOptions): ForgetResult {
  const forms = numberForms(raw, numbers);
  const marks = forms.map(() => "?").join(", ");
  const callIds = db
    .prepare(
      `SELECT call_id FROM calls WHERE from_raw IN (${marks}) OR from_e164 IN (${marks}) OR to_raw IN (${marks}) OR to_e164 IN (${marks})
       OR from_key IN (${marks})`,
    )
    .pluck()
    .all(...forms, ...forms, ...forms, ...forms, ...forms) as string[];
  // A transfer keeps the original caller in its JSON: a call reached that way is the person's too.
  const viaTransfer = db
    .prepare(`SELECT call_id FROM calls WHERE transfer IS NOT NULL AND (${forms.map(() => "instr(transfer, ?) > 0").join(" OR ")})`)
    .pluck()
    .all(...forms.map((f) => JSON.stringify(f))) as string[];
  let contactNumbers = 0;
  let contacts = 0;
  let calls = 0;
  // Deleted rows must not linger in free pages or in the WAL: zero them, then fold the WAL back
  // (best effort: a reader of the running daemon may keep the last frames until its next checkpoint).
  db.pragma("secure_delete = ON");
  db.transaction(() => {
    calls = deleteCalls(db, [...new Set([...callIds, ...viaTransfer])]);
    const held = db
      .prepare(`SELECT DISTINCT contact_id FROM contact_numbers WHERE raw IN (${marks}) OR e164 IN (${marks})`)
      .pluck()
      .all(...forms, ...forms) as number[];
    contactNumbers = db.prepare(`DELETE FROM contact_numbers WHERE raw IN (${marks}) OR e164 IN (${marks})`).run(...forms, ...forms).changes;
    const orphan = db.prepare("DELETE FROM contacts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM contact_numbers WHERE contact_id = ?)");
    for (const id of held) contacts += orphan.run(id, id).changes;
  })();
  db.pragma("wal_checkpoint(TRUNCATE)");
  return { calls, contactNumbers, contacts };
}
