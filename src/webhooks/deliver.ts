/**
 * Webhook delivery (docs/webhooks.md): rows of the outbox (store/outbox.ts) are POSTed off
 * the hot path. Per target: at most `concurrency` requests in flight, a call's events one at a
 * time in order (different calls interleave), exponential backoff with jitter capped at
 * `maxDelayMs`, `dead` after `maxAttempts` or `retryForHours`. At-least-once: a row leaves the
 * open states only after its answer, so a daemon killed mid-request sends it again on start.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Annotation, AnyCallEvent, Call } from "../calls/model.js";
import type { Logger } from "../log.js";
import type { NewOutboxRow, Outbox } from "../store/outbox.js";
import type { WebhookConfig } from "./config.js";
import { callObject, payloadOf, wants, webhookEventsOf, type WebhookEvent } from "./events.js";
import { post, type PostResult } from "./post.js";
import { TargetQueue, type QueuedRow } from "./queue.js";
import { signatureHeader } from "./signature.js";

/** A CLI `webhooks retry` from another process (data_version moved) is seen within this. */
const IDLE_POLL_MS = 5_000;
/** After a failed outbox write (a busy or failing disk), the target is pumped again after this. */
const STORE_RETRY_MS = 1_000;

export interface WebhooksDeps {
  targets: WebhookConfig[];
  outbox: Outbox;
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
  agent: http.Agent;
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
  /** The highest outbox id read into the queues, and SQLite's data_version at that read. */
  private loadedId = 0;
  private dataVersion = -1;
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
      const Agent = url.protocol === "https:" ? https.Agent : http.Agent;
      return { cfg, url, queue: new TargetQueue(), agent: new Agent({ keepAlive: true, maxSockets: cfg.concurrency }), inFlight: new Map(), timer: null, failing: 0 };
    });
    this.byName = new Map(this.targets.map((t) => [t.cfg.name, t]));
    const outbox = d.outbox;
    const labelNames = ["webhook"];
    this.m = {
      pending: new Gauge({
        name: "ctibridge_webhook_pending",
        help: "Webhook events waiting for delivery (not yet tried, or retrying)",
        registers: [d.registry],
        collect() {
          const c = outbox.counts();
          this.set(c.pending + c.failed);
        },
      }),
      dead: new Gauge({
        name: "ctibridge_webhook_dead",
        help: "Webhook events given up on (out of attempts or time); `ctibridge webhooks retry --dead` sends them again",
        registers: [d.registry],
        collect() {
          this.set(outbox.counts().dead);
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
    const picks = events.flatMap((ev) => this.targets.filter((t) => wants(t.cfg, ev)).map((t) => ({ ev, target: t.cfg.name })));
    if (picks.length === 0) return undefined;
    let rows: NewOutboxRow[] | null = null;
    return () => {
      if (!rows) {
        const json = new Map<WebhookEvent, string>();
        rows = picks.map(({ ev, target }) => {
          let callJson = json.get(ev);
          if (callJson === undefined) json.set(ev, (callJson = JSON.stringify(callObject(ev.call, this.d.popTemplate()))));
          const eventId = randomUUID();
          return { eventId, target, type: ev.type, callId: ev.call.callId, payload: payloadOf(eventId, target, ev, callJson), at: new Date(ev.at).toISOString() };
        });
      }
      this.d.outbox.add(rows);
    };
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
    this.stopped = false;
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
    if (this.poll) clearInterval(this.poll);
    for (const t of this.targets) {
      if (t.timer) clearTimeout(t.timer);
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
   * database (SQLite's data_version moved: `webhooks retry`, or any other writer, which costs
   * one needless rebuild). Then start what is due.
   */
  private load(all: boolean): void {
    if (this.stopped) return;
    try {
      const version = this.d.outbox.dataVersion();
      all ||= version !== this.dataVersion;
      this.dataVersion = version;
      const rows = this.d.outbox.open(all ? 0 : this.loadedId);
      if (all) for (const t of this.targets) t.queue = new TargetQueue();
      const orphans = new Map<string, number>();
      for (const r of rows) {
        this.loadedId = Math.max(this.loadedId, r.id);
        const t = this.byName.get(r.target);
        if (t) t.queue.add(r, t.inFlight.has(r.id));
        else orphans.set(r.target, (orphans.get(r.target) ?? 0) + 1);
      }
      for (const [webhook, events] of orphans) {
        if (this.warnedOrphans.has(webhook)) continue;
        this.warnedOrphans.add(webhook);
        this.d.log.warn({ webhook, events }, "outbox holds events for a webhook that is not configured, kept unsent (ctibridge webhooks purge --open --webhook NAME deletes them)");
      }
    } catch (err) {
      this.d.log.warn({ err }, "webhook outbox read failed, will retry");
    }
    for (const t of this.targets) this.pump(t);
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
    let sent: ReturnType<Outbox["payload"]>;
    try {
      sent = this.d.outbox.payload(row.id);
    } catch (err) {
      this.d.log.warn({ err, webhook: t.cfg.name, id: row.id }, "webhook outbox read failed, will retry");
      t.queue.release(row.id);
      return this.wake(t, STORE_RETRY_MS);
    }
    if (sent === null) return t.queue.finish(row.id); // purged meanwhile
    const { body, eventId, type } = sent;
    const attempt = row.attempts + 1;
    const t0 = Math.floor(this.now() / 1000);
    let aborted = false;
    t.inFlight.set(row.id, () => void (aborted = true));
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
          aborted = true;
          abort();
        }),
    }).then((r) => {
      if (aborted || this.stopped) return;
      t.inFlight.delete(row.id);
      try {
        this.settle(t, row, { eventId, type }, attempt, r);
      } catch (err) {
        // The answer could not be recorded: the row stays open and is sent again (at-least-once).
        this.d.log.warn({ err, webhook: t.cfg.name, eventId }, "webhook outbox write failed, will retry");
        t.queue.reschedule(row.id, this.now() + STORE_RETRY_MS, row.attempts);
      }
      this.pump(t);
    });
  }

  private settle(t: Target, row: QueuedRow, ev: { eventId: string; type: string }, attempt: number, r: PostResult): void {
    const nowMs = this.now();
    const at = new Date(nowMs).toISOString();
    const name = t.cfg.name;
    const fields = { webhook: name, id: row.id, eventId: ev.eventId, type: ev.type, callId: row.callId, attempt };
    if (r.ok) {
      this.d.outbox.delivered(row.id, at, r.status);
      t.queue.finish(row.id);
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
      this.d.outbox.dead(row.id, at, r.status, r.error);
      t.queue.finish(row.id);
      this.m.died.inc({ webhook: name });
      this.d.log.error({ ...fields, status: r.status, error: r.error }, "webhook event dead, gave up");
      return;
    }
    const nextMs = Math.min(nowMs + retryDelay(attempt, t.cfg.minDelayMs, t.cfg.maxDelayMs, this.random), deadline);
    const nextAt = new Date(nextMs).toISOString();
    this.d.outbox.failed(row.id, at, nextAt, r.status, r.error);
    t.queue.reschedule(row.id, nextMs, attempt);
    this.d.log.warn({ ...fields, status: r.status, error: r.error, nextAt }, "webhook attempt failed, will retry");
  }
}
