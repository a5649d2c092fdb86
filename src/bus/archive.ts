/**
 * The cluster's call log writer: a durable JetStream consumer (`ctibridge-archive`) that writes
 * the stream into the CallStore of record (PostgreSQL). It runs in gateways (`cluster.archive`);
 * a lease (key `archiver` in the KV bucket `cti-archiver`, the PBX workers' lease mechanism) makes
 * exactly one of them active, so the stream is applied in order; a standby takes over when the
 * active one dies, and the consumer hands it what was delivered but never acknowledged.
 *
 * What it writes: each call's call-level snapshot (the `userId: null` copy of a call event),
 * missed calls marked done, and the record facts (annotations, wrap-up rows). Messages are taken
 * in batches (up to `batchSize`, or fewer when the stream has nothing more); within a batch the
 * snapshots of one call are coalesced to the newest, calls are written a few at a time, and any
 * other fact is applied in stream order after the snapshots before it. Each message of the batch
 * is acknowledged (explicit acks) only once all of it is stored. A failed write keeps
 * the batch and retries it (1 s doubling to 30 s), telling the server the messages are still
 * being worked on, so PostgreSQL may restart or fail over without a message lost; a crash before
 * the acks means the batch is delivered again (to whichever archiver then holds the lease). Every write is an idempotent, versioned upsert
 * (version: event time, then stream sequence), so a second delivery never duplicates a call or
 * turns a newer record into an older one.
 *
 * Webhooks (`webhookRows`): each message's webhook outbox rows are written in the transaction of
 * the snapshot (or annotation) they belong to; a coalesced snapshot carries the rows of every
 * message it stands for, in stream order. Their event ids come from the message, so a
 * redelivered batch adds no row (webhooks/rows.ts). The lease holder delivers them (`onActive`).
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Call } from "../calls/model.js";
import { iso } from "../calls/outcomes.js";
import type { Logger } from "../log.js";
import type { CallStore } from "../store/index.js";
import type { NewOutboxRow } from "../store/outbox.js";
import { applyRecord } from "../store/records.js";
import type { BusEntry } from "./entry.js";
import { isNotFound, natsRetry, STREAM, type JetStreamBus } from "./jetstream.js";
import { Lease } from "./lease.js";

export const ARCHIVE_CONSUMER = "ctibridge-archive";
export const ARCHIVE_BUCKET = "cti-archiver";
const LEASE_KEY = "archiver";

export interface ArchiveOptions {
  bus: JetStreamBus;
  store: CallStore;
  log: Logger;
  /** This process in the lease (unique per gateway). */
  holder: string;
  leaseTtlMs: number;
  /** Messages per batch (all stored, then each acknowledged). */
  batchSize: number;
  /** How long the server waits for an ack before it delivers a message again. */
  ackWaitMs: number;
  /** Calls written at once within a batch (PostgreSQL connections used). */
  concurrency: number;
  /** First retry pause after a failed write (doubles to 30 s). */
  retryMs?: number;
  /** Called after each stored batch: calls written, last stream sequence stored. */
  onStored?: (calls: number, lastSeq: number) => void;
  /** The webhook outbox rows of one message, asked for every message in stream order. */
  webhookRows?: (seq: number, entry: BusEntry) => Promise<NewOutboxRow[]>;
  /** This gateway took (true) or lost or gave up (false) the archive lease. */
  onActive?: (active: boolean) => void;
}

export interface ArchiveStats {
  active: boolean;
  /** Stream sequence of the last message stored and acknowledged (0: none yet, by this process). */
  lastSeq: number;
  callsWritten: number;
  batches: number;
  /** Messages delivered again (after a crash or an expired ack wait). */
  redelivered: number;
  /** Since when writes fail (epoch ms), null while they work. */
  failingSince: number | null;
  /** Messages taken but not yet stored. */
  held: number;
}

type Item = { kind: "snapshot"; call: Call; at: string; seq: number; rows: NewOutboxRow[] } | { kind: "other"; entry: BusEntry; seq: number; rows: NewOutboxRow[] };

/**
 * What a batch becomes: runs of snapshots (coalesced per call) between the other facts, in stream
 * order. A coalesced snapshot carries the webhook rows of every message it replaced, in order.
 */
export function planBatch(entries: { seq: number; entry: BusEntry; rows?: NewOutboxRow[] }[]): Item[][] {
  const steps: Item[][] = [];
  let run = new Map<string, Item>();
  const close = () => {
    if (run.size > 0) steps.push([...run.values()]);
    run = new Map();
  };
  for (const { seq, entry, rows = [] } of entries) {
    const ev = entry.ev;
    if (ev.kind === "call" || ev.kind === "calls") {
      if (ev.event.userId !== null) continue; // a user's copy: the call-level copy carries the same call
      // A call already waiting keeps its place; the newest snapshot is written.
      const before = run.get(ev.event.call.callId)?.rows ?? [];
      run.set(ev.event.call.callId, { kind: "snapshot", call: ev.event.call, at: iso(ev.event.at), seq, rows: before.length ? [...before, ...rows] : rows });
    } else if (ev.kind === "done" || ev.kind === "record") {
      close();
      steps.push([{ kind: "other", entry, seq, rows }]);
    }
  }
  close();
  return steps;
}

export class StreamArchiver {
  private lease: Lease | null = null;
  private messages: ConsumerMessages | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private held: JsMsg[] = [];
  readonly stats: ArchiveStats = { active: false, lastSeq: 0, callsWritten: 0, batches: 0, redelivered: 0, failingSince: null, held: 0 };

  constructor(private readonly o: ArchiveOptions) {}

  /** Make (or update) the durable consumer, then compete for the lease. */
  async start(): Promise<void> {
    // A JetStream cluster electing leaders (every node just started) is waited for.
    await natsRetry("archive consumer", () => this.ensureConsumer(), this.o.log);
    const kv: KV = await natsRetry("archive lease bucket", () => this.o.bus.kv(ARCHIVE_BUCKET, this.o.leaseTtlMs), this.o.log);
    this.lease = new Lease({
      kv,
      key: LEASE_KEY,
      holder: this.o.holder,
      ttlMs: this.o.leaseTtlMs,
      log: this.o.log,
      onAcquired: (term) => {
        this.o.log.info({ term }, "archiving the stream into the call log");
        this.stats.active = true;
        this.o.onActive?.(true);
        this.running = this.run().catch((err: unknown) => this.o.log.error({ err }, "archiver stopped"));
      },
      onLost: () => {
        this.o.log.warn({}, "archive lease lost, standing by");
        this.stats.active = false;
        this.o.onActive?.(false);
        void this.messages?.close();
      },
    });
    await this.lease.start();
    if (!this.lease.active) this.o.log.info({}, "archiver standing by (another gateway archives)");
  }

  private async ensureConsumer(): Promise<void> {
    const { jsm } = this.o.bus;
    const cfg = { ack_wait: this.o.ackWaitMs * 1_000_000, max_ack_pending: this.o.batchSize * 4 };
    let exists = false;
    try {
      const info = await jsm.consumers.info(STREAM, ARCHIVE_CONSUMER);
      exists = info.config.ack_policy === AckPolicy.Explicit;
      // Made otherwise (by hand): made again; it starts over from the stream's first message (idempotent writes).
      if (exists) await jsm.consumers.update(STREAM, ARCHIVE_CONSUMER, cfg);
      else await jsm.consumers.delete(STREAM, ARCHIVE_CONSUMER);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!exists) {
      // Explicit acks: each message is acknowledged itself. (AckAll would let an ack of a later
      // message acknowledge an earlier one that a dead archiver held and never stored.)
      await jsm.consumers
        .add(STREAM, { durable_name: ARCHIVE_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...cfg })
        .catch(async (e: unknown) => {
          // Another gateway made it at the same moment.
          if (!/already (exists|in use)/i.test(String((e as Error)?.message))) throw e;
        });
    }
  }

  /** Stop: what is held and not stored stays unacknowledged (delivered again to the next archiver). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.running;
    await this.lease?.stop(true);
    if (this.stats.active) this.o.onActive?.(false);
    this.stats.active = false;
  }

  /** The consumer's progress: every message up to `ackFloor` stored and acknowledged (by whichever archiver), up to `delivered` handed out. */
  async progress(): Promise<{ ackFloor: number; delivered: number }> {
    const info = await this.o.bus.jsm.consumers.info(STREAM, ARCHIVE_CONSUMER);
    return { ackFloor: info.ack_floor.stream_seq, delivered: info.delivered.stream_seq };
  }

  private get mayWork(): boolean {
    return !this.stopped && this.stats.active && (this.lease?.fresh ?? false);
  }

  private async run(): Promise<void> {
    // After a reconnect the pull may go silent (the consumer's server died): read anew.
    const undoHook = this.o.bus.onReconnect(() => void this.messages?.close());
    try {
      await this.runLoop();
    } finally {
      undoHook();
    }
  }

  private async runLoop(): Promise<void> {
    while (!this.stopped && this.stats.active) {
      if (!this.mayWork) {
        // Cut off from NATS a whole lease time: another gateway may archive now; wait for the lease.
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      try {
        const consumer = await this.o.bus.js.consumers.get(STREAM, ARCHIVE_CONSUMER);
        this.messages = await consumer.consume({ max_messages: this.o.batchSize, expires: 5_000, idle_heartbeat: 1_000 });
        const messages = this.messages;
        void (async () => {
          for await (const st of messages.status()) {
            if (st.type === "heartbeats_missed" && st.count >= 3) {
              this.o.log.warn({}, "archive consumer lost, making a new one");
              void messages.close();
              break;
            }
          }
        })();
        for await (const m of messages) {
          if (!this.mayWork) break;
          this.held.push(m);
          this.stats.held = this.held.length;
          if (m.info.redelivered) this.stats.redelivered++;
          if (this.held.length < this.o.batchSize && m.info.pending > 0) continue;
          if (!(await this.storeHeld())) break;
        }
      } catch (err) {
        if (this.mayWork) this.o.log.warn({ err }, "archive consumer failed, retrying");
      }
      // Not stored: dropped here, delivered again after the ack wait (to us or the next archiver).
      this.held = [];
      this.stats.held = 0;
      if (this.mayWork) await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Store what is held, retrying until it is stored (true) or this archiver may not work (false). */
  private async storeHeld(): Promise<boolean> {
    const batch = this.held;
    const entries: { seq: number; entry: BusEntry; rows?: NewOutboxRow[] }[] = [];
    for (const m of batch) {
      try {
        entries.push({ seq: m.seq, entry: m.json<BusEntry>() });
      } catch (err) {
        this.o.log.warn({ err, seq: m.seq, subject: m.subject }, "bad bus message not archived");
      }
    }
    let steps: Item[][] | null = null;
    let pause = this.o.retryMs ?? 1_000;
    let done = 0;
    for (;;) {
      if (!this.mayWork) return false;
      try {
        // Webhook rows in stream order (an annotation may read its call from the store: retried with the writes).
        if (!steps) {
          if (this.o.webhookRows) for (const e of entries) e.rows = await this.o.webhookRows(e.seq, e.entry);
          steps = planBatch(entries);
        }
        let calls = 0;
        for (; done < steps.length; done++) calls += await this.apply(steps[done]!);
        for (const m of batch) m.ack();
        const last = batch.reduce((a, b) => (b.seq > a.seq ? b : a));
        if (this.stats.failingSince !== null) this.o.log.info({ failingSince: new Date(this.stats.failingSince).toISOString() }, "call archive writes work again");
        this.stats.failingSince = null;
        this.stats.callsWritten += calls;
        this.stats.batches++;
        this.stats.lastSeq = Math.max(this.stats.lastSeq, last.seq);
        this.held = [];
        this.stats.held = 0;
        this.o.onStored?.(calls, this.stats.lastSeq);
        return true;
      } catch (err) {
        if (this.stats.failingSince === null) {
          this.stats.failingSince = Date.now();
          this.o.log.error({ err, held: batch.length }, "call archive write failed, will retry");
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 30_000);
        // Still ours: the server must not hand these to another archiver meanwhile.
        for (const m of batch) m.working();
      }
    }
  }

  /** One step: snapshots of distinct calls `concurrency` at a time, or one other fact. Calls written. */
  private async apply(step: Item[]): Promise<number> {
    const first = step[0]!;
    if (first.kind === "other") {
      const ev = first.entry.ev;
      if (ev.kind === "done") await this.o.store.markOpenDone(ev.done.callId, [ev.done.userId], ev.done.doneAt);
      else if (ev.kind === "record") await applyRecord(this.o.store, ev.record, first.rows);
      return 0;
    }
    const width = Math.max(1, this.o.concurrency);
    for (let i = 0; i < step.length; i += width) {
      await Promise.all(
        step.slice(i, i + width).map((it) => {
          const s = it as Extract<Item, { kind: "snapshot" }>;
          return this.o.store.save(s.call, { at: s.at, seq: s.seq }, s.rows);
        }),
      );
    }
    return step.length;
  }
}
