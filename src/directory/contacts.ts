/**
 * The contact directory behind the screen pop: a local table in SQLite (imported from CSV)
 * matched on E.164 first, then on the last N digits (DESIGN §6.5), and optionally the CRM's
 * HTTP lookup, which never delays the pop: the pop goes out with the local answer or
 * `pending`, and the CRM's answer follows as a promise.
 */
import type { Db } from "../store/db.js";
import type { Logger } from "../log.js";
import type { ContactRecord, Match } from "../calls/model.js";
import { normalizeForDisplay, type NumberOptions } from "./numbers.js";
import { CrmLookup } from "./crmLookup.js";
import { importContactsCsv, type ImportResult } from "./contactsImport.js";

export interface ContactDirectoryDeps {
  db: Db;
  numbers: NumberOptions;
  log: Logger;
  /** CRM lookup URL template with `{e164}` / `{raw}`; absent: local directory only. */
  lookupUrl?: string;
  lookupTimeoutMs: number;
  cacheSeconds: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface Contact {
  id: number;
  name: string;
  company: string | null;
  recordId: string | null;
  url: string | null;
  numbers: string[];
}

export interface LookupResult {
  /** What the pop can carry right away. */
  now: Match;
  /** The CRM's answer (or the local one when the CRM failed); never rejects. */
  later?: Promise<Match>;
}

/** Records listed in a match; `count` still says how many matched (the "count link"). */
const MAX_RECORDS = 20;
const NONE: Match = { status: "none", count: 0, records: [] };
const PENDING: Match = { status: "pending", count: 0, records: [] };

interface Row {
  id: number;
  name: string;
  company: string | null;
  record_id: string | null;
  url: string | null;
}

export function matchOf(records: ContactRecord[]): Match {
  if (records.length === 0) return NONE;
  return {
    status: records.length === 1 ? "single" : "multiple",
    count: records.length,
    records: records.slice(0, MAX_RECORDS),
  };
}

export class ContactDirectory {
  private crm: CrmLookup | null = null;
  private readonly byE164;
  private readonly byLast;

  constructor(private readonly deps: ContactDirectoryDeps) {
    this.reconfigure(deps);
    const select = `SELECT DISTINCT c.id, c.name, c.company, c.record_id, c.url
      FROM contacts c JOIN contact_numbers n ON n.contact_id = c.id`;
    this.byE164 = deps.db.prepare<[string], Row>(`${select} WHERE n.e164 = ? ORDER BY c.name, c.id`);
    this.byLast = deps.db.prepare<[string], Row>(`${select} WHERE n.last_digits = ? ORDER BY c.name, c.id`);
  }

  /** New CRM lookup settings (SIGHUP): a fresh lookup, its cache empty; lookups in flight finish on the old one. */
  reconfigure(s: { lookupUrl?: string | undefined; lookupTimeoutMs: number; cacheSeconds: number }): void {
    const d = this.deps;
    this.crm = s.lookupUrl
      ? new CrmLookup({
          urlTemplate: s.lookupUrl,
          timeoutMs: s.lookupTimeoutMs,
          cacheSeconds: s.cacheSeconds,
          log: d.log,
          ...(d.fetch ? { fetch: d.fetch } : {}),
          ...(d.now ? { now: d.now } : {}),
        })
      : null;
  }

  /** Import CSV text (header row first); bad lines are reported and skipped, all in one transaction. */
  importCsv(text: string): ImportResult {
    const result = importContactsCsv(this.deps.db, this.deps.numbers, text);
    this.deps.log.info({ imported: result.imported, rejected: result.errors.length }, "contacts imported");
    return result;
  }

  /** The local directory's answer. Extensions and withheld numbers never match. */
  lookupLocal(raw: string): Match {
    const n = this.normalize(raw);
    if (n === null) return NONE;
    if (n.e164 !== null) {
      const rows = this.byE164.all(n.e164);
      if (rows.length > 0) return matchOf(rows.map((r) => toRecord(r, "e164")));
    }
    if (n.lastDigits !== null) return matchOf(this.byLast.all(n.lastDigits).map((r) => toRecord(r, "last_digits")));
    return NONE;
  }

  /**
   * Local answer now; with a CRM configured, its answer later (cached answers come at once).
   * `callId`: the call asking, named in the CRM lookup's log lines.
   */
  lookup(raw: string, callId?: string): LookupResult {
    const local = this.lookupLocal(raw);
    const n = this.normalize(raw);
    if (this.crm === null || n === null || !this.crm.canLookup(n.e164)) return { now: local };
    const cached = this.crm.cached(raw, n.e164);
    if (cached !== undefined) return { now: cached.length > 0 ? matchOf(cached) : local };
    const later = this.crm
      .lookup(raw, n.e164, callId)
      .then((records) => (records !== null && records.length > 0 ? matchOf(records) : local));
    return { now: local.status === "none" ? PENDING : local, later };
  }

  list(): Contact[] {
    const rows = this.deps.db.prepare<[], Row>("SELECT id, name, company, record_id, url FROM contacts ORDER BY name, id").all();
    const nums = this.deps.db
      .prepare<[], { contact_id: number; raw: string }>("SELECT contact_id, raw FROM contact_numbers ORDER BY rowid")
      .all();
    const byContact = new Map<number, string[]>();
    for (const n of nums) {
      const list = byContact.get(n.contact_id);
      if (list) list.push(n.raw);
      else byContact.set(n.contact_id, [n.raw]);
    }
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      company: r.company,
      recordId: r.record_id,
      url: r.url,
      numbers: byContact.get(r.id) ?? [],
    }));
  }

  /** Delete one contact and its numbers; false when there was none. */
  remove(id: number): boolean {
    return this.deps.db.prepare("DELETE FROM contacts WHERE id = ?").run(id).changes > 0;
  }

  private normalize(raw: string): { e164: string | null; lastDigits: string | null } | null {
    // Memoised: the lookup runs in the pop's path, and libphonenumber's parse is its main cost.
    const { n } = normalizeForDisplay(raw, this.deps.numbers);
    return n.isExtension || n.isWithheld ? null : n;
  }
}

function toRecord(r: Row, matchedOn: ContactRecord["matchedOn"]): ContactRecord {
  return { name: r.name, company: r.company, recordId: r.record_id, url: r.url, matchedOn };
}
