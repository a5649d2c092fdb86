/**
 * The CRM's HTTP contact lookup: one GET per number through a URL template, a timeout, a
 * short cache and one request in flight per number. It never throws: a failure resolves to
 * `null` (logged), and the caller falls back to the local directory.
 */
import { z } from "zod";
import type { Logger } from "../log.js";
import type { ContactRecord } from "../calls/model.js";

export interface CrmLookupDeps {
  /** e.g. `https://crm.example/api/phone?number={e164}`; `{e164}` and `{raw}` are URL-encoded. */
  urlTemplate: string;
  timeoutMs: number;
  cacheSeconds: number;
  log: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

const idValue = z.union([z.string(), z.number()]).transform(String);
const recordSchema = z.object({
  name: z.string().min(1),
  company: z.string().nullish(),
  recordId: idValue.nullish(),
  id: idValue.nullish(),
  url: z.string().nullish(),
});
const bodySchema = z.union([z.array(recordSchema), z.object({ records: z.array(recordSchema) })]);

/** Bounds the cache so a flood of distinct numbers cannot grow memory without limit. */
const MAX_CACHE_ENTRIES = 5000;
/** Larger answers are refused: a phone lookup returning megabytes is not a phone lookup. */
const MAX_BODY_BYTES = 1024 * 1024;

export class CrmLookup {
  private readonly cache = new Map<string, { records: ContactRecord[]; expires: number }>();
  private readonly inflight = new Map<string, Promise<ContactRecord[] | null>>();
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly deps: CrmLookupDeps) {
    this.fetchImpl = deps.fetch ?? fetch;
    this.now = deps.now ?? Date.now;
  }

  /** False when the template needs an E.164 number and there is none. */
  canLookup(e164: string | null): boolean {
    return e164 !== null || !this.deps.urlTemplate.includes("{e164}");
  }

  /** The cached answer when still fresh. */
  cached(raw: string, e164: string | null): ContactRecord[] | undefined {
    const key = e164 ?? raw;
    const hit = this.cache.get(key);
    if (hit === undefined) return undefined;
    if (hit.expires > this.now()) return hit.records;
    this.cache.delete(key);
    return undefined;
  }

  /** Ask the CRM; `null` when it failed (already logged, with the callId of the call that asked first). */
  lookup(raw: string, e164: string | null, callId?: string): Promise<ContactRecord[] | null> {
    const key = e164 ?? raw;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.request(raw, e164, callId === undefined ? {} : { callId }).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async request(raw: string, e164: string | null, call: { callId?: string }): Promise<ContactRecord[] | null> {
    const url = this.deps.urlTemplate
      .replaceAll("{e164}", encodeURIComponent(e164 ?? ""))
      .replaceAll("{raw}", encodeURIComponent(raw));
    // The URL may carry an API key in its query: log only the origin.
    let origin = "(invalid url)";
    try {
      origin = new URL(url).origin;
      const res = await this.fetchImpl(url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        this.deps.log.warn({ ...call, origin, status: res.status }, "crm lookup failed");
        return null;
      }
      const text = await res.text();
      if (text.length > MAX_BODY_BYTES) {
        this.deps.log.warn({ ...call, origin, bytes: text.length }, "crm lookup answer too large");
        return null;
      }
      const parsed = bodySchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        this.deps.log.warn({ ...call, origin, issue: parsed.error.issues[0]?.message }, "crm lookup answer invalid");
        return null;
      }
      const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.records;
      const records: ContactRecord[] = list.map((r) => ({
        name: r.name,
        company: r.company ?? null,
        recordId: r.recordId ?? r.id ?? null,
        url: r.url ?? null,
        matchedOn: e164 !== null ? "e164" : "last_digits",
      }));
      this.remember(e164 ?? raw, records);
      return records;
    } catch (err) {
      const e = err as Error;
      const reason = e.name === "TimeoutError" || e.name === "AbortError" ? "timeout" : e.message;
      this.deps.log.warn({ ...call, origin, reason }, "crm lookup failed");
      return null;
    }
  }

  private remember(key: string, records: ContactRecord[]): void {
    if (this.deps.cacheSeconds <= 0) return;
    if (this.cache.size >= MAX_CACHE_ENTRIES) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { records, expires: this.now() + this.deps.cacheSeconds * 1000 });
  }
}
