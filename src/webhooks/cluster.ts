/**
 * Webhooks in a cluster (docs/webhooks.md "Cluster mode"): configured on the gateways, written and
 * delivered by the one holding the archive lease. The archiver asks `rowsOf` for each stream
 * message's outbox rows and writes them with the call in PostgreSQL (bus/archive.ts); while the
 * lease is held, the standalone deliverer (deliver.ts) sends them from the PostgreSQL outbox, and
 * delivered rows past `store.webhookRetentionDays` are purged. A gateway that takes the lease
 * over reads every open row, those in flight at the old holder's death included: they are sent
 * again, and receivers de-duplicate by event id.
 */
import type { Registry } from "prom-client";
import type { BusEntry } from "../bus/entry.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { CallStore } from "../store/index.js";
import type { NewOutboxRow } from "../store/outbox.js";
import { PgOutbox, type ArchiveProgress } from "../store/postgres/outbox.js";
import type { PostgresCallStore } from "../store/postgres/store.js";
import { Webhooks } from "./deliver.js";
import { StreamWebhookRows } from "./rows.js";

const PURGE_EVERY_MS = 3_600_000;
const PURGE_BATCH = 2_000;

export interface ClusterWebhooksDeps {
  config: Config;
  store: PostgresCallStore;
  log: Logger;
  registry: Registry;
  version: string;
  /** The archive consumer's progress (bus/archive.ts); null while unknown. */
  progress: () => Promise<ArchiveProgress | null>;
  now?: () => number;
}

export class ClusterWebhooks {
  readonly outbox: PgOutbox;
  readonly deliverer: Webhooks;
  private readonly rows: StreamWebhookRows;
  private purgeTimer: NodeJS.Timeout | null = null;
  /** The last stream sequence the archiver stored, and the timer that reads again until the ack floor shows it. */
  private stored = 0;
  private chaseTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: ClusterWebhooksDeps) {
    const { config } = d;
    this.outbox = new PgOutbox(d.store.pool, { progress: d.progress });
    this.deliverer = new Webhooks({
      targets: config.webhooks,
      outbox: this.outbox,
      log: d.log,
      registry: d.registry,
      version: d.version,
      popTemplate: () => config.pop.urlTemplate,
      ...(d.now ? { now: d.now } : {}),
    });
    this.rows = new StreamWebhookRows({
      targets: config.webhooks,
      popTemplate: () => config.pop.urlTemplate,
      storedCall: (callId) => (d.store as CallStore).get(callId),
      keepEndedMs: config.calls.keepEndedMs,
    });
  }

  /** The archiver's hooks: rows per message, delivery while the lease is held. */
  archiveHooks(): { webhookRows: (seq: number, entry: BusEntry) => Promise<NewOutboxRow[]>; onActive: (active: boolean) => void } {
    return { webhookRows: (seq, entry) => this.rows.rowsOf(seq, entry), onActive: (active) => this.active(active) };
  }

  /**
   * A batch up to `lastSeq` was stored: read its rows on the next turn, and again a few times
   * until the server's ack floor shows the batch's acks (they are not waited for).
   */
  kick(lastSeq: number): void {
    this.stored = Math.max(this.stored, lastSeq);
    this.deliverer.kick();
    this.chase(0);
  }

  private chase(n: number): void {
    if (this.chaseTimer || n >= 50) return;
    this.chaseTimer = setTimeout(() => {
      this.chaseTimer = null;
      if (this.outbox.ackFloor >= this.stored) return;
      this.deliverer.kick();
      this.chase(n + 1);
    }, 20);
    this.chaseTimer.unref();
  }

  active(on: boolean): void {
    if (!on) return this.stop();
    this.d.log.info({ webhooks: this.d.config.webhooks.map((w) => w.name) }, "delivering webhooks from the call log's outbox");
    this.deliverer.start();
    if (!this.purgeTimer) {
      this.purgeTimer = setInterval(() => void this.purge(), PURGE_EVERY_MS);
      this.purgeTimer.unref();
    }
  }

  stop(): void {
    this.deliverer.stop();
    if (this.chaseTimer) clearTimeout(this.chaseTimer);
    this.chaseTimer = null;
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purgeTimer = null;
  }

  /** Delivered rows older than store.webhookRetentionDays, a bounded batch. */
  async purge(): Promise<number> {
    const days = this.d.config.store.webhookRetentionDays;
    if (days <= 0) return 0;
    const cutoff = new Date((this.d.now ?? Date.now)() - days * 86_400_000).toISOString();
    try {
      const n = await this.outbox.purge(["delivered"], cutoff, PURGE_BATCH);
      if (n > 0) this.d.log.info({ webhookEvents: n }, "delivered webhook events pruned");
      return n;
    } catch (err) {
      this.d.log.warn({ err }, "webhook outbox purge failed, next one later");
      return 0;
    }
  }
}
