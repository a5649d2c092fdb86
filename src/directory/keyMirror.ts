/**
 * The cluster's API keys as a gateway sees them: a copy in memory of the KV bucket `cti-keys`
 * (bus/apiKeys.ts watches it and feeds every change here), so authenticating a key stays a
 * synchronous local lookup. A record holds the key's id, user, role, SHA-256 hash (the same
 * hash as the SQLite store: apiTokens.ts), creation and revocation times, never the secret.
 * Each key's KV revision orders its changes: a change older than the one applied is ignored,
 * so the watcher and a full re-read may deliver the same records in any order.
 */
import { z } from "zod";
import type { Logger } from "../log.js";
import { apiTokenId, hashToken, type Role } from "../publish/apiTokens.js";

export interface SharedKeyRecord {
  id: string;
  userId: string;
  role: Role;
  /** SHA-256 of the whole key, hex. */
  hash: string;
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601; null while the key is live. */
  revokedAt: string | null;
}

export const sharedKeyRecord = z.object({
  id: z.string().regex(/^[a-f0-9]{12}$/),
  userId: z.string().min(1),
  role: z.enum(["agent", "supervisor"]),
  hash: z.string().regex(/^[a-f0-9]{64}$/),
  createdAt: z.iso.datetime(),
  revokedAt: z.iso.datetime().nullable(),
});

/** One change of the bucket: a key written (PUT, with its JSON) or deleted (DEL, PURGE). */
export interface KeyChange {
  key: string;
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  value?: string;
}

export class KeyMirror {
  private readonly byId = new Map<string, { revision: number; record: SharedKeyRecord | null }>();
  /** Live keys only. */
  private readonly byHash = new Map<string, SharedKeyRecord>();

  /** `onRevoked`: a key that was live here is revoked or deleted (its id). */
  constructor(private readonly deps: { log?: Logger; onRevoked?: (id: string) => void } = {}) {}

  apply(c: KeyChange): void {
    const known = this.byId.get(c.key);
    if (known && known.revision >= c.revision) return;
    let record: SharedKeyRecord | null = null;
    if (c.operation === "PUT") {
      record = parse(c.value);
      // A record that is not one (or names another id) opens nothing: as if deleted.
      if (!record || record.id !== c.key) {
        this.deps.log?.warn({ key: c.key, revision: c.revision }, "bad api key record ignored");
        record = null;
      }
    }
    const wasLive = known?.record != null && known.record.revokedAt === null;
    if (known?.record) this.byHash.delete(known.record.hash);
    this.byId.set(c.key, { revision: c.revision, record });
    if (record && record.revokedAt === null) this.byHash.set(record.hash, record);
    else if (wasLive) {
      this.deps.log?.info({ tokenId: c.key }, "api key revoked");
      this.deps.onRevoked?.(c.key);
    }
  }

  /** The live key matching this secret, or null (malformed, unknown, revoked). */
  verify(token: string): SharedKeyRecord | null {
    const id = apiTokenId(token);
    if (id === null) return null;
    const r = this.byHash.get(hashToken(token));
    return r && r.id === id ? r : null;
  }

  /** The record of this id as applied (live or revoked), or null. */
  record(id: string): SharedKeyRecord | null {
    return this.byId.get(id)?.record ?? null;
  }

  isLive(id: string): boolean {
    const r = this.byId.get(id)?.record;
    return r != null && r.revokedAt === null;
  }

  /** Live keys known. */
  get size(): number {
    return this.byHash.size;
  }
}

function parse(value: string | undefined): SharedKeyRecord | null {
  if (value === undefined) return null;
  try {
    const r = sharedKeyRecord.safeParse(JSON.parse(value));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
