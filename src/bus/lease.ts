/**
 * Exactly one active worker per PBX: a key `<pbxId>` in the KV bucket `cti-leases`, whose
 * bucket TTL (stream max age) is the lease time. nats-server 2.9 has no per-key TTL, so:
 * the active worker renews with `update(key, holder, lastRevision)` (fails if anyone else wrote
 * since); a standby tries `create(key, holder)` (fails while the key exists) every `pollMs` and
 * when the watch shows the key deleted. A holder that cannot reach NATS keeps trying (a NATS
 * node dying takes a few seconds of leader election) but is not `fresh` once a whole TTL passed
 * without a renewal: its worker holds its events back then, since a standby may have taken over.
 * When NATS answers again, a refused renewal means the key changed: if it merely expired and
 * nobody took it, the holder creates it again under a new term (`onTerm`); else the lease is lost.
 *
 * The lease's term is the KV revision that created it: strictly increasing per bucket, so it
 * orders the active workers of a PBX (message ids and `pbx.failover` carry it).
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../log.js";

export const LEASE_BUCKET = "cti-leases";

export interface LeaseDeps {
  kv: KV;
  /** The key held: a PBX id (its active worker), or `archiver` in its own bucket (the active archiver). */
  key: string;
  /** This worker (host:pid:random), written as the value. */
  holder: string;
  ttlMs: number;
  /** Renewal and standby polling period (default ttl/4). */
  pollMs?: number;
  log: Logger;
  now?: () => number;
  /** Became active; `previous`: the holder whose lease it replaced, when known. */
  onAcquired: (term: number, previous: string | null) => void;
  /** Stopped being active (another worker holds the key now). */
  onLost: (term: number) => void;
  /** Still active under a new term (the key had expired while NATS was away, and nobody took it). */
  onTerm?: (term: number) => void;
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

  /** Active, and renewed within the last TTL: nobody else can have taken over. */
  get fresh(): boolean {
    return this.active && this.now() - this.lastOk < this.d.ttlMs;
  }

  async start(): Promise<void> {
    const w = await this.d.kv.watch({ key: this.d.key });
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
    if (release && this.active) await this.d.kv.delete(this.d.key, { previousSeq: this.rev }).catch(() => undefined);
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
      this.rev = await this.d.kv.update(this.d.key, this.value(), this.rev);
      this.lastOk = this.now();
      return;
    } catch (err) {
      if (this.stopped) return;
      if (!/wrong last sequence/i.test((err as Error)?.message ?? "")) {
        // NATS unreachable or electing a leader: keep trying; `fresh` turns false after a TTL.
        if (this.now() - this.lastOk >= this.d.ttlMs) this.d.log.warn({ err, lease: this.d.key }, "lease renewal failed, retrying");
        return;
      }
    }
    // Refused: the key changed. Expired with nobody taking it: ours again under a new term.
    const term = this.term;
    try {
      const rev = await this.d.kv.create(this.d.key, this.value());
      this.rev = rev;
      this.term = rev;
      this.lastOk = this.now();
      this.d.log.warn({ lease: this.d.key, term: rev, previous: term }, "lease expired while NATS was away, taken again");
      this.d.onTerm?.(rev);
    } catch (err) {
      if (this.stopped) return;
      this.term = 0;
      this.d.log.warn({ err, lease: this.d.key, term }, "lease lost");
      this.d.onLost(term);
    }
  }

  private async acquire(): Promise<void> {
    let rev: number;
    try {
      rev = await this.d.kv.create(this.d.key, this.value());
    } catch {
      return; // held by another worker (or NATS unreachable): stand by
    }
    if (this.stopped) return void (await this.d.kv.delete(this.d.key, { previousSeq: rev }).catch(() => undefined));
    this.rev = rev;
    this.term = rev;
    this.lastOk = this.now();
    const previous = this.lastSeenHolder;
    this.d.log.info({ lease: this.d.key, term: rev, previous }, "lease acquired");
    this.d.onAcquired(rev, previous);
  }
}
