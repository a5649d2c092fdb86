/**
 * `ctibridge tokens …` in cluster mode: the keys live in the NATS KV bucket `cti-keys`
 * (bus/apiKeys.ts), which every gateway mirrors. The CLI connects to `cluster.nats` as the
 * role's config names it; an unreachable NATS is one clear line and exit 1, nothing written.
 */
import type { KV } from "@nats-io/kv";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Db } from "../store/db.js";
import { JetStreamBus } from "../bus/jetstream.js";
import { listKeys, openKeyBucket, putKey, revokeKey } from "../bus/apiKeys.js";
import { hashToken, newApiToken, type Role } from "../publish/apiTokens.js";
import type { SharedKeyRecord } from "../directory/keyMirror.js";

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  exit: (code: number) => void;
}

/** Run `fn` on the bucket; false (after one error line) when NATS or the bucket cannot be reached. */
async function withBucket(c: Config, log: Logger, io: Io, fn: (kv: KV) => Promise<void>): Promise<boolean> {
  const servers = c.cluster.nats.servers.join(", ");
  let bus: JetStreamBus;
  try {
    bus = await JetStreamBus.fromConfig(c.cluster, `ctibridge-cli-${process.pid}`, log);
  } catch (err) {
    io.err(`ctibridge: cannot reach NATS (${servers}): ${(err as Error).message}\n`);
    return false;
  }
  try {
    const kv = await openKeyBucket(bus, log, 10_000).catch((err: unknown) => {
      throw new Error(`the API key bucket on NATS (${servers}) is not available: ${(err as Error).message}`);
    });
    await fn(kv);
    return true;
  } catch (err) {
    io.err(`ctibridge: ${(err as Error).message}\n`);
    return false;
  } finally {
    await bus.close();
  }
}

const info = (r: SharedKeyRecord) => ({ id: r.id, userId: r.userId, role: r.role, createdAt: r.createdAt, revokedAt: r.revokedAt });

export async function clusterTokenCreate(c: Config, log: Logger, io: Io, userId: string, role: Role): Promise<void> {
  const t = newApiToken();
  const record: SharedKeyRecord = { id: t.id, userId, role, hash: hashToken(t.token), createdAt: new Date().toISOString(), revokedAt: null };
  const ok = await withBucket(c, log, io, async (kv) => {
    if (!(await putKey(kv, record))) throw new Error(`token id ${t.id} exists already: run the command again`);
  });
  if (!ok) return io.exit(1);
  io.out(`${t.token}\n`);
  io.err(`token ${t.id} for ${userId}: shown once, stored hashed in the cluster (NATS KV cti-keys)\n`);
}

export async function clusterTokenList(c: Config, log: Logger, io: Io): Promise<void> {
  const ok = await withBucket(c, log, io, async (kv) => {
    for (const r of await listKeys(kv)) io.out(JSON.stringify(info(r)) + "\n");
  });
  if (!ok) io.exit(1);
}

export async function clusterTokenRevoke(c: Config, log: Logger, io: Io, id: string): Promise<void> {
  let revoked = false;
  const ok = await withBucket(c, log, io, async (kv) => {
    revoked = await revokeKey(kv, id);
  });
  if (!ok || !revoked) return io.exit(1);
  io.out(`token ${id} revoked\n`);
}

/**
 * Copy this gateway's SQLite keys (hash, user, role, times; a revoked one stays revoked) into the
 * bucket, so they open every gateway. A key whose id the bucket has already is left alone.
 */
export async function clusterTokenMigrate(c: Config, log: Logger, io: Io, db: Db): Promise<void> {
  const rows = db.prepare("SELECT id, user_id, role, hash, created_at, revoked_at FROM api_tokens ORDER BY created_at, id").all() as {
    id: string;
    user_id: string;
    role: string;
    hash: string;
    created_at: string;
    revoked_at: string | null;
  }[];
  let copied = 0;
  const ok = await withBucket(c, log, io, async (kv) => {
    for (const r of rows) {
      const record: SharedKeyRecord = { id: r.id, userId: r.user_id, role: r.role === "supervisor" ? "supervisor" : "agent", hash: r.hash, createdAt: r.created_at, revokedAt: r.revoked_at };
      if (await putKey(kv, record)) copied++;
    }
  });
  if (!ok) return io.exit(1);
  io.out(`${copied} of ${rows.length} keys copied to the cluster\n`);
}
