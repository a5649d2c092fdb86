/**
 * The JetStream event bus (issue 13): PBX workers publish every domain event to the stream
 * `CTI`, gateways read it back in stream order. One stream message is one fact (a call event
 * with all its copies, an agent state, a PBX status, …: bus/entry.ts), so a gateway routes
 * exactly as the standalone server does and the stream sequence is the client's `seq` (a
 * client receives at most one copy of a fact).
 *
 * Subjects: `cti.<pbxId>.call.<callId>`, `cti.<pbxId>.agent.<userId>`, `cti.<pbxId>.pbx`;
 * commands go by core request/reply on `cti.<pbxId>.cmd` (not in the stream). Each message
 * carries a `Nats-Msg-Id` (`<pbxId>:<term>:<n>`: the lease term of the worker and its own
 * counter), so a publish retried after a lost ack is stored once (the stream's duplicate window).
 */
import { connect, credsAuthenticator, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { BusEntry } from "./entry.js";

export const STREAM = "CTI";
/** What the stream holds: events, never the command subject. */
export const STREAM_SUBJECTS = ["cti.*.call.*", "cti.*.agent.*", "cti.*.pbx"];
/** The command subject of a PBX (core request/reply, not in the stream). */
export const commandSubject = (pbxId: string) => `cti.${pbxId}.cmd`;

export interface BusOptions {
  servers: string[];
  /** Client name shown by the server (`nats server report connections`). */
  name: string;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  /** A `.creds` file (JWT + nkey seed). */
  credentialsFile?: string | undefined;
  /** Stream and KV replicas: 1 for one node, 3 for a three-node cluster. */
  replicas: number;
  /** How long the stream keeps events (resume and a new gateway's warm-up read from it). */
  maxAgeMs: number;
  /** Window in which a repeated Nats-Msg-Id is dropped. */
  duplicateWindowMs: number;
  log: Logger;
}

export interface Delivered {
  /** The stream sequence: the client-visible seq. */
  seq: number;
  entry: BusEntry;
}

export class JetStreamBus {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    private readonly opts: BusOptions,
  ) {}

  /** The bus as `cluster.nats` configures it, under this client name. */
  static fromConfig(cluster: Config["cluster"], name: string, log: Logger): Promise<JetStreamBus> {
    return JetStreamBus.connect({
      servers: cluster.nats.servers,
      name,
      user: cluster.nats.user,
      pass: cluster.nats.password,
      token: cluster.nats.token,
      credentialsFile: cluster.nats.credentialsFile,
      replicas: cluster.nats.replicas,
      maxAgeMs: cluster.nats.streamMaxAgeHours * 3_600_000,
      duplicateWindowMs: cluster.nats.duplicateWindowMs,
      log,
    });
  }

  static async connect(opts: BusOptions): Promise<JetStreamBus> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(opts.user !== undefined ? { user: opts.user, pass: opts.pass ?? "" } : {}),
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.credentialsFile ? { authenticator: credsAuthenticator(readFileSync(opts.credentialsFile)) } : {}),
    });
    const jsm = await jetstreamManager(nc);
    const bus = new JetStreamBus(nc, jetstream(nc), jsm, opts);
    void bus.watchStatus();
    return bus;
  }

  private readonly reconnectHooks = new Set<() => void>();

  private async watchStatus(): Promise<void> {
    const log = this.opts.log;
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") log.warn({ server: s.server }, "nats disconnected");
      else if (s.type === "reconnect") {
        log.info({ server: s.server }, "nats reconnected");
        for (const fn of this.reconnectHooks) fn();
      }
    }
  }

  /** Call `fn` after each reconnect (to another server, or the same one back); returns the undo. */
  onReconnect(fn: () => void): () => void {
    this.reconnectHooks.add(fn);
    return () => this.reconnectHooks.delete(fn);
  }

  /**
   * Create the stream, or bring its limits to the configured ones. Idempotent; any role may call
   * it. A JetStream cluster that is still electing its meta leader (every node just started)
   * answers nothing or "unavailable": that is retried, with a warning, for up to `waitMs`.
   */
  async ensureStream(waitMs = 60_000): Promise<void> {
    return natsRetry("stream", () => this.ensureStreamOnce(), this.opts.log, waitMs);
  }

  private async ensureStreamOnce(): Promise<void> {
    const cfg: Partial<StreamConfig> & { name: string } = {
      name: STREAM,
      subjects: STREAM_SUBJECTS,
      num_replicas: this.opts.replicas,
      max_age: this.opts.maxAgeMs * 1_000_000,
      duplicate_window: this.opts.duplicateWindowMs * 1_000_000,
    };
    try {
      await this.jsm.streams.info(STREAM);
      const { num_replicas: _r, ...update } = cfg;
      await this.jsm.streams.update(STREAM, update);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.streams.add(cfg);
    }
  }

  /** Store one entry; resolves with its stream sequence (a duplicate resolves with the first one's). */
  async publish(subject: string, data: string, msgId: string, timeoutMs = 5_000): Promise<{ seq: number; duplicate: boolean }> {
    const ack = await this.js.publish(subject, data, { msgID: msgId, timeout: timeoutMs });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Read the stream in order from `fromSeq` (inclusive; 0: from the oldest kept), then live,
   * each message once. An ordered consumer: no state on the server beyond this reader. It lives
   * on the stream leader's node; when that node dies the server may answer neither messages nor
   * "not found", so after three missed heartbeats (3 s) this reader drops it and makes a new
   * one at the next sequence it has not seen. So it does after each reconnect of the connection
   * (the topology test saw a consumer go silent, heartbeats and all, when the gateway's own NATS
   * node died), and when the stream has messages past it while nothing came for 5 s.
   */
  async read(fromSeq: number, onEntry: (d: Delivered) => void): Promise<{ stop(): Promise<void> }> {
    const log = this.opts.log;
    let next = fromSeq;
    let stopped = false;
    const open = async (): Promise<ConsumerMessages> => {
      // No subject filter: the stream holds only events (multi-filter needs nats-server 2.10).
      const consumer = await this.js.consumers.get(STREAM, next > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next } : { deliver_policy: DeliverPolicy.All });
      return consumer.consume({ expires: 5_000, idle_heartbeat: 1_000 });
    };
    const drain = async (messages: ConsumerMessages) => {
      void (async () => {
        for await (const st of messages.status()) {
          if (st.type === "heartbeats_missed" && st.count >= 3) {
            log.warn({ next }, "bus reader lost its consumer, making a new one");
            void messages.close();
            break;
          }
        }
      })();
      for await (const m of messages) {
        if (m.seq < next) continue;
        next = m.seq + 1;
        let entry: BusEntry;
        try {
          entry = m.json<BusEntry>();
        } catch (err) {
          log.warn({ err, seq: m.seq, subject: m.subject }, "bad bus message skipped");
          continue;
        }
        try {
          onEntry({ seq: m.seq, entry });
        } catch (err) {
          log.error({ err, seq: m.seq }, "bus entry handler failed");
        }
      }
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // The first consumer is made before read() resolves (a missing stream is the caller's error).
    let messages = await open();
    let lastProgress = Date.now();
    let seenNext = next;
    const renew = (why: string) => {
      log.warn({ next, why }, "bus reader making a new consumer");
      void messages.close();
    };
    const undoHook = this.onReconnect(() => renew("reconnected"));
    const watchdog = setInterval(() => {
      if (next !== seenNext) {
        seenNext = next;
        lastProgress = Date.now();
        return;
      }
      if (Date.now() - lastProgress < 5_000) return;
      lastProgress = Date.now();
      this.lastSeq().then(
        (last) => (last >= next ? renew("stalled") : undefined),
        () => undefined,
      );
    }, 1_000);
    watchdog.unref();
    const done = (async () => {
      while (!stopped) {
        await drain(messages).catch((err: unknown) => log.warn({ err, next }, "bus reader failed, retrying"));
        while (!stopped) {
          await pause(250);
          try {
            messages = await open();
            break;
          } catch (err) {
            log.warn({ err, next }, "bus reader cannot make a consumer, retrying");
          }
        }
      }
    })();
    return {
      async stop() {
        stopped = true;
        clearInterval(watchdog);
        undoHook();
        await messages.close();
        await done;
      },
    };
  }

  /** Open (creating when absent) a KV bucket with this replica count; `ttlMs`: its max age (0: none). */
  async kv(bucket: string, ttlMs: number): Promise<KV> {
    return new Kvm(this.nc).create(bucket, { replicas: this.opts.replicas, history: 1, ...(ttlMs > 0 ? { ttl: ttlMs } : {}) });
  }

  /** The stream's last sequence (0: empty). */
  async lastSeq(): Promise<number> {
    const info = await this.jsm.streams.info(STREAM);
    return info.state.last_seq;
  }

  /** Answer `cti.<pbxId>.cmd` requests (the active worker only) until the returned subscription is closed. */
  serveCommands(pbxId: string, handle: (req: unknown) => Promise<unknown>): Subscription {
    const log = this.opts.log;
    return this.nc.subscribe(commandSubject(pbxId), {
      callback: (err, msg) => {
        if (err) return void log.warn({ err }, "command subscription failed");
        let req: unknown;
        try {
          req = msg.json();
        } catch {
          return void msg.respond(JSON.stringify({ ok: false, code: "bad_message", message: "command is not JSON" }));
        }
        handle(req).then(
          (res) => msg.respond(JSON.stringify(res)),
          (e: unknown) => msg.respond(JSON.stringify({ ok: false, code: "internal", message: String((e as Error)?.message ?? e) })),
        );
      },
    });
  }

  /** Send a command to the active worker of `pbxId`; rejects on timeout or when no worker listens. */
  async command<T>(pbxId: string, body: unknown, timeoutMs: number): Promise<T> {
    const res = await this.nc.request(commandSubject(pbxId), JSON.stringify(body), { timeout: timeoutMs });
    return res.json<T>();
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * Run `fn`, again while NATS answers as a JetStream cluster does while it elects leaders (every
 * node just started, a node just died): a timeout, "unavailable", no responders. Pauses grow to
 * 2 s; after `waitMs` the last error is thrown. Any other error is thrown at once.
 */
export async function natsRetry<T>(what: string, fn: () => Promise<T>, log: Logger, waitMs = 30_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const msg = String((err as Error)?.message ?? err);
      if (Date.now() >= deadline || !/timeout|unavailable|no responders|not ready|leader/i.test(msg)) throw err;
      log.warn({ err: msg, attempt, what }, "JetStream not ready yet, retrying");
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2_000)));
    }
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || /not found/i.test(e?.message ?? "");
}
