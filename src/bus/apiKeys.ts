/**
 * API keys in cluster mode: one record per key in the KV bucket `cti-keys` (key: the token id;
 * value: directory/keyMirror.ts `SharedKeyRecord`, never the secret). `ctibridge tokens
 * create|list|revoke|migrate` write and read it; every gateway watches it into a KeyMirror, so
 * a key created once opens every gateway and a revocation reaches them all within the watch's
 * delivery (the open sessions on it close at their next heartbeat, as standalone).
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { Logger } from "../log.js";
import { KeyMirror, type KeyChange, type SharedKeyRecord } from "../directory/keyMirror.js";
import { natsRetry, type JetStreamBus } from "./jetstream.js";

export const KEYS_BUCKET = "cti-keys";

/** Open the bucket (creating it with the configured replicas), retried while JetStream elects leaders. */
export function openKeyBucket(bus: JetStreamBus, log: Logger, waitMs = 60_000): Promise<KV> {
  return natsRetry("api key bucket", () => bus.kv(KEYS_BUCKET, 0), log, waitMs);
}

const change = (e: KvEntry): KeyChange => ({
  key: e.key,
  revision: e.revision,
  operation: e.operation,
  ...(e.operation === "PUT" ? { value: e.string() } : {}),
});

/** Every record in the bucket, by creation time. */
export async function listKeys(kv: KV): Promise<SharedKeyRecord[]> {
  const mirror = new KeyMirror();
  const out: SharedKeyRecord[] = [];
  for await (const k of await kv.keys()) {
    const e = await kv.get(k);
    if (e?.operation !== "PUT") continue;
    mirror.apply(change(e));
    const r = mirror.record(k);
    if (r) out.push(r);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** Store a new key's record; false when a record with this id exists (nothing written). */
export async function putKey(kv: KV, record: SharedKeyRecord): Promise<boolean> {
  try {
    await kv.create(record.id, JSON.stringify(record));
    return true;
  } catch (err) {
    if ((await kv.get(record.id))?.operation === "PUT") return false;
    throw err;
  }
}

/** Mark a live key revoked (compare-and-set on its revision); false when unknown or revoked already. */
export async function revokeKey(kv: KV, id: string, now: () => number = Date.now): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const e = await kv.get(id);
    if (e?.operation !== "PUT") return false;
    const m = new KeyMirror();
    m.apply(change(e));
    const r = m.record(id);
    if (!r || r.revokedAt !== null) return false;
    try {
      await kv.update(id, JSON.stringify({ ...r, revokedAt: new Date(now()).toISOString() }), e.revision);
      return true;
    } catch {
      /* written in between: read again */
    }
  }
  throw new Error(`api key ${id}: changed concurrently, try again`);
}

/**
 * Keep `mirror` equal to the bucket: a watcher (every current value, then each change) and a
 * full read before this resolves, so a gateway knows every key before its first client; read
 * again after each NATS reconnect, and the watcher re-opened if it ever ends.
 */
export async function mirrorKeys(bus: JetStreamBus, kv: KV, mirror: KeyMirror, log: Logger): Promise<{ stop(): void }> {
  let stopped = false;
  let watcher: { stop(): void } | null = null;
  const watch = async (): Promise<void> => {
    const w = await kv.watch();
    watcher = w;
    void (async () => {
      try {
        for await (const e of w) mirror.apply(change(e));
      } catch (err) {
        log.warn({ err }, "api key watch failed");
      }
      if (stopped) return;
      log.warn({}, "api key watch ended, watching again");
      await new Promise((r) => setTimeout(r, 1_000));
      if (!stopped) await natsRetry("api key watch", watch, log, 3_600_000).then(() => readAll(), (err: unknown) => log.error({ err }, "api key watch lost"));
    })();
  };
  const readAll = async (): Promise<void> => {
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (e) mirror.apply(change(e));
    }
  };
  await natsRetry("api key watch", watch, log);
  await natsRetry("api keys", readAll, log);
  log.info({ keys: mirror.size }, "api keys loaded");
  const undo = bus.onReconnect(() => void readAll().catch((err: unknown) => log.warn({ err }, "api key re-read failed")));
  return {
    stop() {
      stopped = true;
      undo();
      watcher?.stop();
    },
  };
}
