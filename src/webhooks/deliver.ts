/**
 * Webhook delivery (docs/webhooks.md): rows of the outbox (store/outbox.ts) are POSTed off
 * the hot path. Per target: at most `concurrency` requests in flight, a call's events one at a
 * time in order (different calls interleave), exponential backoff with jitter capped at
 * `maxDelayMs`, `dead` after `maxAttempts` or `retryForHours`. At-least-once: a row leaves the
 * open states only after its answer, so a daemon killed mid-request sends it again on start.
 * The outbox is SQLite's (standalone, answers at once) or PostgreSQL's (a cluster's, delivered
 * by the gateway holding the archive lease); every outbox call is awaited, and a read that
 * overlaps an answer being recorded never schedules that row twice.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Annotation, AnyCallEvent, Call } from "../calls/model.js";
import type { Logger } from "../log.js";
import type { WebhookOutbox } from "../store/outbox.js";
import type { WebhookConfig } from "./config.js";
import { webhookEventsOf, type WebhookEvent } from "./events.js";
import { post, type PostResult } from "./post.js";
import { TargetQueue, type QueuedRow } from "./queue.js";
import { picksFor, rowsOf } from "./rows.js";
import { signatureHeader } from "./signature.js";

/** A CLI `webhooks retry` from another process (data_version moved) is seen within this. */
const IDLE_POLL_MS = 5_000;
/** After a failed outbox write (a busy or failing disk), the target is pumped again after this. */
const STORE_RETRY_MS = 1_000;

export interface WebhooksDeps {
  targets: WebhookConfig[];
  outbox: WebhookOutbox;
  log: Logger;
  registry: Registry;
  version: string;
  popTemplate: () => string | undefined;
  now?: () => number;
  random?: () => number;
}

interface Target {
  cfg: WebhookConfig;
  queue: TargetQueue;
  url: URL;
  agent: http.Agent | https.Agent;
  inFlight: Map<number, () => void>;
  timer: NodeJS.Timeout | null;
  /** Failed attempts since the last delivery (for the one "recovered" log line). */
  failing: number;
}

/** The delay before attempt `attempts + 1`: min·2^(attempts−1), capped, ±20 % jitter. */
export function retryDelay(attempts: number, minMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempts - 1, 40));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class Webhooks {
  private readonly targets: Target[];
  private readonly now: () => number;
  private readonly random: () => number;
  private stopped = true;
  private kickQueued = false;
  /** The highest outbox id read into the queues, and the outbox's data version at that read. */
  private loadedId = 0;
  private dataVersion = -1;
  /** The read in progress, and whether another was asked for meanwhile (null: none; true: every row). */
  private loading: Promise<void> | null = null;
  private loadAgain: boolean | null = null;
  /** While a read runs: the rows whose answer was recorded meanwhile (its result is older for them). */
  private recent: Map<number, { attempts: number; nextAt: number } | "finished"> | null = null;
  /** Counts start()s: what an earlier run left waiting on the outbox finds it changed and drops out. */
  private run = 0;
  private readonly byName: Map<string, Target>;
  private readonly warnedOrphans = new Set<string>();
  private poll: NodeJS.Timeout | null = null;
  private readonly m;

  constructor(private readonly d: WebhooksDeps) {
    this.now = d.now ?? Date.now;
    this.random = d.random ?? Math.random;
    this.targets = d.targets.map((cfg) => {
      if (!cfg.secret) throw new Error(`webhook ${cfg.name}: no secret`);
      const url = new URL(cfg.url);
      return { cfg, url, queue: new TargetQueue(), agent: agentFor(url, cfg), inFlight: new Map(), timer: null, failing: 0 };
    });
    this.byName = new Map(this.targets.map((t) => [t.cfg.name, t]));
    const outbox = d.outbox;
    const labelNames = ["webhook"];
    this.m = {
      pending: new Gauge({
        name: "ctibridge_webhook_pending",
        help: "Webhook events waiting for delivery (not yet tried, or retrying)",
        registers: [d.registry],
        async collect() {
          const c = await outbox.counts();
          this.set(c.pending + c.failed);
        },
      }),
      dead: new Gauge({
        name: "ctibridge_webhook_dead",
        help: "Webhook events given up on (out of attempts or time); `ctibridge webhooks retry --dead` sends them again",
        registers: [d.registry],
        async collect() {
          this.set((await outbox.counts()).dead);
        },
      }),
      delivered: new Counter({ name: "ctibridge_webhook_delivered_total", help: "Webhook events delivered (a 2xx answer)", labelNames, registers: [d.registry] }),
      failed: new Counter({ name: "ctibridge_webhook_failed_attempts_total", help: "Webhook attempts that failed (connection, timeout, non-2xx)", labelNames, registers: [d.registry] }),
      died: new Counter({ name: "ctibridge_webhook_dead_total", help: "Webhook events that went dead", labelNames, registers: [d.registry] }),
      latency: new Histogram({
        name: "ctibridge_webhook_delivery_seconds",
        help: "From the event to its successful delivery (retries included)",
        labelNames,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
        registers: [d.registry],
      }),
    };
  }

  /**
   * The outbox rows a call-level domain event makes, as a write to run inside the call log's
   * transaction (CallLogWriter); undefined when no target wants it. Only the filter runs on
   * the pop's turn; the payload is serialized when the transaction runs (the event's call is
   * a frozen copy).
   */
  rowsFor(ev: AnyCallEvent): (() => void) | undefined {
    if (this.targets.length === 0) return undefined;
    return this.writer(webhookEventsOf(ev));
  }

  /** The outbox rows of a stored annotation, to run inside the annotation's transaction. */
  annotatedRows(call: Call, annotation: Annotation, at: number): (() => void) | undefined {
    if (this.targets.length === 0) return undefined;
    return this.writer([{ type: "call.annotated", call: { ...call, annotation }, at, extra: {} }]);
  }

  private writer(events: WebhookEvent[]): (() => void) | undefined {
    const add = this.d.outbox.add?.bind(this.d.outbox);
    if (!add) throw new Error("this outbox is written by the stream archiver, not by the deliverer");
    const picks = picksFor(this.d.targets, events);
    if (picks.length === 0) return undefined;
    let rows: ReturnType<typeof rowsOf> | null = null;
    return () => add((rows ??= rowsOf(picks, this.d.popTemplate(), () => randomUUID())));
  }

  /** New rows were committed: schedule them on the next turn (one id-range read for all targets). */
  kick(): void {
    if (this.stopped || this.kickQueued) return;
    this.kickQueued = true;
    setImmediate(() => {
      this.kickQueued = false;
      this.load(false);
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.run++;
    for (const t of this.targets) t.agent = agentFor(t.url, t.cfg);
    this.dataVersion = -1;
    // Rows left open by the last run (a restart, a kill -9 mid-request) go out again now; rows
    // of a target no longer configured are named once.
    this.load(true);
    if (this.targets.length === 0) return;
    this.poll = setInterval(() => this.load(false), IDLE_POLL_MS);
    this.poll.unref();
  }

  /** Abort what is in flight (it stays open in the outbox and is sent again by the next start). */
  stop(): void {
    this.stopped = true;
    this.run++;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const t of this.targets) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = null;
      for (const abort of t.inFlight.values()) abort();
      t.inFlight.clear();
      t.agent.destroy();
    }
  }

  /** Requests in flight per target (tests, bench). */
  inFlight(name: string): number {
    return this.targets.find((t) => t.cfg.name === name)?.inFlight.size ?? 0;
  }

  /**
   * Read open rows into the targets' queues: the new ones (ids past the last read), or every
   * open row, the queues rebuilt: with `all` (start) and whenever another process changed the
   * database (the data version moved: `webhooks retry`, or any other writer, which costs
   * one needless rebuild). Then start what is due. One read at a time; asked for meanwhile, one
   * more follows.
   */
  private load(all: boolean): void {
    if (this.stopped) return;
    if (this.loading) {
      this.loadAgain = (this.loadAgain ?? false) || all;
      return;
    }
    this.loading = this.loadOnce(all).finally(() => {
      this.loading = null;
      const again = this.loadAgain;
      this.loadAgain = null;
      if (again !== null) this.load(again);
    });
  }

  private async loadOnce(all: boolean): Promise<void> {
    const run = this.run;
    const recent = (this.recent = new Map());
    try {
      const version = await this.d.outbox.dataVersion();
      if (run !== this.run) return;
      all ||= version !== this.dataVersion;
      this.dataVersion = version;
      const rows = await this.d.outbox.open(all ? 0 : this.loadedId);
      if (run !== this.run) return;
      if (all) for (const t of this.targets) t.queue = new TargetQueue();
      const orphans = new Map<string, number>();
      for (const r of rows) {
        this.loadedId = Math.max(this.loadedId, r.id);
        const t = this.byName.get(r.target);
        if (!t) {
          orphans.set(r.target, (orphans.get(r.target) ?? 0) + 1);
          continue;
        }
        // Answered while the read ran: delivered or dead (skip), or failed and due again later.
        const since = recent.get(r.id);
        if (since === "finished") continue;
        t.queue.add(since ? { ...r, ...since } : r, t.inFlight.has(r.id));
      }
      for (const [webhook, events] of orphans) {
        if (this.warnedOrphans.has(webhook)) continue;
        this.warnedOrphans.add(webhook);
        this.d.log.warn({ webhook, events }, "outbox holds events for a webhook that is not configured, kept unsent (ctibridge webhooks purge --open --webhook NAME deletes them)");
      }
    } catch (err) {
      this.d.log.warn({ err }, "webhook outbox read failed, will retry");
    } finally {
      if (this.recent === recent) this.recent = null;
    }
    if (run === this.run) for (const t of this.targets) this.pump(t);
  }

  /** Start what may go now; set the timer for the next row that comes due. */
  private pump(t: Target): void {
    if (this.stopped) return;
    const nowMs = this.now();
    const free = t.cfg.concurrency - t.inFlight.size;
    if (free > 0) for (const row of t.queue.takeDue(nowMs, free)) this.send(t, row);
    const next = t.queue.nextAt();
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    // A row due now waits for a free slot: a finishing request pumps again.
    if (next !== null && next > nowMs) this.wake(t, next - nowMs);
  }

  private wake(t: Target, ms: number): void {
    if (this.stopped) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => this.pump(t), Math.min(ms, IDLE_POLL_MS));
    t.timer.unref();
  }

  private send(t: Target, row: QueuedRow): void {
    const run = this.run;
    let aborted = false;
    // In flight from here: its slot is taken, and a read of the outbox meanwhile keeps it taken.
    t.inFlight.set(row.id, () => void (aborted = true));
    const ctl = { aborted: () => aborted || run !== this.run, abort: () => void (aborted = true) };
    const unreadable = (err: unknown) => {
      if (ctl.aborted()) return;
      t.inFlight.delete(row.id);
      this.d.log.warn({ err, webhook: t.cfg.name, id: row.id }, "webhook outbox read failed, will retry");
      t.queue.release(row.id);
      this.wake(t, STORE_RETRY_MS);
    };
    let payload: ReturnType<WebhookOutbox["payload"]>;
    try {
      payload = this.d.outbox.payload(row.id);
    } catch (err) {
      return unreadable(err);
    }
    if (payload instanceof Promise) void payload.then((p) => void (ctl.aborted() || this.attempt(t, row, p, ctl)), unreadable);
    else this.attempt(t, row, payload, ctl);
  }

  /** One POST of a row whose payload was read; its answer recorded in the outbox, then the queue. */
  private attempt(t: Target, row: QueuedRow, sent: { body: string; eventId: string; type: string } | null, ctl: { aborted(): boolean; abort(): void }): void {
    const run = this.run;
    if (sent === null) {
      // Purged meanwhile.
      t.inFlight.delete(row.id);
      t.queue.finish(row.id);
      return this.pump(t);
    }
    const { body, eventId, type } = sent;
    const attempt = row.attempts + 1;
    const t0 = Math.floor(this.now() / 1000);
    void post({
      url: t.url,
      body,
      timeoutMs: t.cfg.timeoutMs,
      agent: t.agent,
      headers: {
        "content-type": "application/json",
        "user-agent": `ctibridge/${this.d.version}`,
        "x-ctibridge-event": type,
        "x-ctibridge-event-id": eventId,
        "x-ctibridge-attempt": String(attempt),
        "x-ctibridge-signature": signatureHeader(t.cfg.secret!, body, t0),
      },
      track: (abort) =>
        t.inFlight.set(row.id, () => {
          ctl.abort();
          abort();
        }),
    }).then(async (r) => {
      if (ctl.aborted()) return;
      try {
        await this.settle(t, row, { eventId, type }, attempt, r);
      } catch (err) {
        if (run !== this.run) return;
        // The answer could not be recorded: the row stays open and is sent again (at-least-once).
        this.d.log.warn({ err, webhook: t.cfg.name, eventId }, "webhook outbox write failed, will retry");
        this.requeue(t, row.id, this.now() + STORE_RETRY_MS, row.attempts);
      }
      if (run !== this.run) return;
      t.inFlight.delete(row.id);
      this.pump(t);
    });
  }

  /** The row is done (delivered, dead): its call's next row may go. */
  private finish(t: Target, id: number): void {
    this.recent?.set(id, "finished");
    t.queue.finish(id);
  }

  /** The row goes again at `at` (epoch ms). */
  private requeue(t: Target, id: number, at: number, attempts: number): void {
    this.recent?.set(id, { attempts, nextAt: at });
    t.queue.reschedule(id, at, attempts);
  }

  private async settle(t: Target, row: QueuedRow, ev: { eventId: string; type: string }, attempt: number, r: PostResult): Promise<void> {
    const run = this.run;
    const nowMs = this.now();
    const at = new Date(nowMs).toISOString();
    const name = t.cfg.name;
    const fields = { webhook: name, id: row.id, eventId: ev.eventId, type: ev.type, callId: row.callId, attempt };
    if (r.ok) {
      await this.d.outbox.delivered(row.id, at, r.status);
      if (run !== this.run) return;
      this.finish(t, row.id);
      this.m.delivered.inc({ webhook: name });
      this.m.latency.observe({ webhook: name }, Math.max(0, nowMs - row.createdAt) / 1000);
      if (t.failing > 0) this.d.log.info({ webhook: name, failedAttempts: t.failing }, "webhook target recovered");
      t.failing = 0;
      if (attempt > 1) this.d.log.info({ ...fields, status: r.status }, "webhook delivered after retry");
      else this.d.log.debug({ ...fields, status: r.status }, "webhook delivered");
      return;
    }
    t.failing++;
    this.m.failed.inc({ webhook: name });
    const deadline = row.retrySince + t.cfg.retryForHours * 3_600_000;
    if (attempt >= t.cfg.maxAttempts || nowMs >= deadline) {
      await this.d.outbox.dead(row.id, at, r.status, r.error);
      if (run !== this.run) return;
      this.finish(t, row.id);
      this.m.died.inc({ webhook: name });
      this.d.log.error({ ...fields, status: r.status, error: r.error }, "webhook event dead, gave up");
      return;
    }
    const nextMs = Math.min(nowMs + retryDelay(attempt, t.cfg.minDelayMs, t.cfg.maxDelayMs, this.random), deadline);
    const nextAt = new Date(nextMs).toISOString();
    await this.d.outbox.failed(row.id, at, nextAt, r.status, r.error);
    if (run !== this.run) return;
    this.requeue(t, row.id, nextMs, attempt);
    this.d.log.warn({ ...fields, status: r.status, error: r.error, nextAt }, "webhook attempt failed, will retry");
  }
}

function agentFor(url: URL, cfg: WebhookConfig): http.Agent | https.Agent {
  const Agent = url.protocol === "https:" ? https.Agent : http.Agent;
  return new Agent({ keepAlive: true, maxSockets: cfg.concurrency });
}
