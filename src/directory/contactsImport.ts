/**
 * CSV → contacts. Header row names the columns (any order, any case): `name` (required),
 * `company`, `record_id`, `url`, and the numbers: one `numbers` column with several values
 * separated by `;` or `|`, and/or several `number`/`phone`/`mobile` columns. A line with a
 * problem is reported with its line number and skipped; the good lines go in, all in one
 * transaction. A contact whose `record_id` already exists is replaced, so re-importing a CRM
 * export does not duplicate it.
 */
import type { Db } from "../store/db.js";
import { normalizeNumber, type NumberOptions } from "./numbers.js";
import { parseCsv } from "./csv.js";

export interface ImportResult {
  imported: number;
  errors: { line: number; message: string }[];
}

interface Columns {
  name: number;
  company: number | null;
  recordId: number | null;
  url: number | null;
  numbers: number[];
}

const NUMBER_COLUMN = /^(numbers?|phones?|phone[ _-]?numbers?|mobile|cell|tel|telephone)[ _-]?\d*$/;
const MAX_FIELD = 500;

function columnsOf(header: string[]): Columns | string {
  const names = header.map((h) => h.trim().toLowerCase());
  const find = (...keys: string[]) => {
    const i = names.findIndex((n) => keys.includes(n));
    return i < 0 ? null : i;
  };
  const name = find("name", "full_name", "fullname");
  if (name === null) return "header has no name column";
  const numbers = names.flatMap((n, i) => (NUMBER_COLUMN.test(n) ? [i] : []));
  if (numbers.length === 0) return "header has no numbers/number/phone column";
  return {
    name,
    company: find("company", "organisation", "organization", "account"),
    recordId: find("record_id", "recordid", "record id", "crm_id", "id"),
    url: find("url", "link", "record_url"),
    numbers,
  };
}

export function importContactsCsv(db: Db, opts: NumberOptions, text: string): ImportResult {
  const { records, problems } = parseCsv(text);
  const errors = problems.map((p) => ({ ...p }));
  const header = records[0];
  if (header === undefined) {
    if (errors.length === 0) errors.push({ line: 1, message: "no header row" });
    return { imported: 0, errors };
  }
  const cols = columnsOf(header.fields);
  if (typeof cols === "string") return { imported: 0, errors: [{ line: header.line, message: cols }, ...errors] };

  const byRecordId = db.prepare<[string], { id: number }>("SELECT id FROM contacts WHERE record_id = ?");
  const drop = db.prepare<[number]>("DELETE FROM contacts WHERE id = ?");
  const insert = db.prepare<[string, string | null, string | null, string | null]>(
    "INSERT INTO contacts (name, company, record_id, url) VALUES (?, ?, ?, ?)",
  );
  const insertNumber = db.prepare<[number | bigint, string, string | null, string]>(
    "INSERT INTO contact_numbers (contact_id, raw, e164, last_digits) VALUES (?, ?, ?, ?)",
  );

  let imported = 0;
  db.transaction(() => {
    for (const rec of records.slice(1)) {
      const f = rec.fields;
      if (f.length > header.fields.length) {
        errors.push({ line: rec.line, message: `expected ${header.fields.length} fields, found ${f.length}` });
        continue;
      }
      const get = (i: number | null) => (i === null ? "" : (f[i] ?? "").trim());
      const name = get(cols.name);
      if (name === "") {
        errors.push({ line: rec.line, message: "name is empty" });
        continue;
      }
      const long = [name, get(cols.company), get(cols.recordId), get(cols.url)].some((v) => v.length > MAX_FIELD);
      if (long) {
        errors.push({ line: rec.line, message: `a field is longer than ${MAX_FIELD} characters` });
        continue;
      }
      const raws = cols.numbers.flatMap((i) => get(i).split(/[;|]/)).map((s) => s.trim()).filter((s) => s !== "");
      if (raws.length === 0) {
        errors.push({ line: rec.line, message: "no phone number" });
        continue;
      }
      const nums: { raw: string; e164: string | null; last: string }[] = [];
      let problem: string | null = null;
      for (const raw of raws) {
        const n = normalizeNumber(raw, opts);
        if (n.isExtension) problem = `${raw} is an internal extension`;
        else if (n.isWithheld || n.lastDigits === null || /[^0-9+\s().\-/]/.test(raw)) problem = `${raw} is not a phone number`;
        else nums.push({ raw, e164: n.e164, last: n.lastDigits });
        if (problem !== null) break;
      }
      if (problem !== null) {
        errors.push({ line: rec.line, message: problem });
        continue;
      }
      const url = get(cols.url);
      if (url !== "" && !/^https?:\/\//i.test(url)) {
        errors.push({ line: rec.line, message: "url must start with http:// or https://" });
        continue;
      }
      const recordId = get(cols.recordId) || null;
      if (recordId !== null) for (const old of byRecordId.all(recordId)) drop.run(old.id);
      const id = insert.run(name, get(cols.company) || null, recordId, url || null).lastInsertRowid;
      for (const n of nums) insertNumber.run(id, n.raw, n.e164, n.last);
      imported++;
    }
  })();
  errors.sort((a, b) => a.line - b.line);
  return { imported, errors };
}
