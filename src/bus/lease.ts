/**
 * Exactly one active worker per PBX: a key `<pbxId>` in the KV bucket `cti-leases`, whose
 * bucket TTL (stream max age) is the lease time. nats-server 2.9 has no per-key TTL, so:
 * the active worker renews with `update(key, holder, lastRevision)` (fails if anyone else wrote
 * since); a standby tries `create(key, holder)` (fails while the key exists) every `pollMs` and
 * when the watch shows the key deleted. A worker that cannot renew for `ttlMs` counts its lease
 * as lost on its own (it may be cut off from NATS while a standby already took over).
 *
 * The lease's term is the KV revision that created it: strictly increasing per bucket, so it
 * orders the active workers of a PBX (message ids and `pbx.failover` carry it).
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.js";

export const LEASE_BUCKET = "cti-leases";

export interface LeaseDeps {
  kv: KV;
  pbxId: string;
  /** This worker (host:pid:random), written as the value. */
  holder: string;
  ttlMs: number;
  /** Renewal and standby polling period (default ttl/4). */
  pollMs?: number;
  log: Logger;
  now?: () => number;
  /** Became active; `previous`: the holder whose lease it replaced, when known. */
  onAcquired: (term: number, previous: string | null) => void;
  /** Stopped being active (renewal refused or impossible for ttlMs). */
  onLost: (term: number) => void;
}

export interface LeaseValue {
  holder: string;
  since: string;
}

export class Lease {
  private rev = 0;
  private term = 0;
  private lastOk = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private ticking = false;
  /** The holder seen last while standing by: named in pbx.failover. */
  private lastSeenHolder: string | null = null;
  private watchStop: (() => void) | null = null;

  constructor(private readonly d: LeaseDeps) {}

  get active(): boolean {
    return this.term > 0;
  }

  get currentTerm(): number {
    return this.term;
  }

  async start(): Promise<void> {
    const w = await this.d.kv.watch({ key: this.d.pbxId });
    this.watchStop = () => w.stop();
    void (async () => {
      for await (const e of w) {
        if (this.stopped) break;
        if (e.operation === "PUT") {
          try {
            const holder = (e.json() as LeaseValue).holder;
            if (holder !== this.d.holder) this.lastSeenHolder = holder;
          } catch {
            /* not ours */
          }
        } else if (!this.active) void this.tick();
      }
    })();
    await this.tick();
    const period = this.d.pollMs ?? Math.max(50, Math.floor(this.d.ttlMs / 4));
    this.timer = setInterval(() => void this.tick(), period);
  }

  /** Stop; `release`: delete the key so a standby takes over at once (a planned stop). */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watchStop?.();
    if (release && this.active) await this.d.kv.delete(this.d.pbxId, { previousSeq: this.rev }).catch(() => undefined);
    this.term = 0;
  }

  private value(): string {
    return JSON.stringify({ holder: this.d.holder, since: new Date(this.now()).toISOString() } satisfies LeaseValue);
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      if (this.active) await this.renew();
      else await this.acquire();
    } finally {
      this.ticking = false;
    }
  }

  private async renew(): Promise<void> {
    try {
      this.rev = await this.d.kv.update(this.d.pbxId, this.value(), this.rev);
      this.lastOk = this.now();
    } catch (err) {
      if (this.stopped) return;
      const refused = /wrong last sequence/i.test((err as Error)?.message ?? "");
      if (!refused && this.now() - this.lastOk < this.d.ttlMs) return void this.d.log.warn({ err, pbxId: this.d.pbxId }, "lease renewal failed, retrying");
      const term = this.term;
      this.term = 0;
      this.d.log.warn({ err, pbxId: this.d.pbxId, term }, "lease lost");
      this.d.onLost(term);
    }
  }

  private async acquire(): Promise<void> {
    let rev: number;
    try {
      rev = await this.d.kv.create(this.d.pbxId, this.value());
    } catch {
      return; // held by another worker (or NATS unreachable): stand by
    }
    if (this.stopped) return void (await this.d.kv.delete(this.d.pbxId, { previousSeq: rev }).catch(() => undefined));
    this.rev = rev;
    this.term = rev;
    this.lastOk = this.now();
    const previous = this.lastSeenHolder;
    this.d.log.info({ pbxId: this.d.pbxId, term: rev, previous }, "lease acquired");
    this.d.onAcquired(rev, previous);
  }
}
