/**
 * The gateway role (`mode: cluster`, `cluster.role: gateway`): WebSocket, REST and the panel for
 * every PBX, built from the same parts as the standalone daemon minus the PBX side. At start it
 * reads the stream `CTI` from `cluster.gatewayReplayMinutes` back (its live view and resume
 * window), catches up, then listens; each stream message goes to the WebSocket server under its
 * stream sequence, and commands go to the owning PBX's active worker by request/reply.
 * Any number of gateways run side by side behind a plain load balancer.
 */
import { randomUUID } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { hostname } from "node:os";
import { Counter, Gauge } from "prom-client";
import { ConfigError, type Config } from "../config.js";
import type { Logger } from "../log.js";
import { StreamArchiver } from "../bus/archive.js";
import { JetStreamBus, natsRetry, STREAM } from "../bus/jetstream.js";
import { LiveView } from "../bus/liveView.js";
import { forwardCommand, gatewayFeed, type CommandRequest, type WorkerReply } from "../bus/gatewayFeed.js";
import { isCallParty } from "../control/annotations.js";
import { doneTargets } from "../control/done.js";
import { subjectOf, type BusEntry } from "../bus/entry.js";
import type { AuthedUser } from "../publish/auth.js";
import { startOfDay } from "../desk/queueBoard.js";
import { Directory } from "../directory/users.js";
import { createHttpApi, type HttpApi } from "../http/server.js";
import { createRegistry } from "../http/metrics.js";
import { CtiServer, type CommandResult } from "../publish/server.js";
import { toCallSnapshot, type CallSnapshot } from "../publish/protocol.js";
import { defaultDbPath, openDb } from "../store/db.js";
import type { CallFilter } from "../http/server.js";
import { postgresStore } from "../store/open.js";
import type { CallStore } from "../store/index.js";
import { GATEWAY_RELOADABLE, type ReloadPlan } from "../configReload.js";
import { applyReload } from "./reload.js";
import { ClusterWebhooks } from "../webhooks/cluster.js";
import { mirrorKeys, openKeyBucket } from "../bus/apiKeys.js";
import { KeyMirror } from "../directory/keyMirror.js";
import { createAuthenticator, revokeApiToken } from "../publish/auth.js";

export interface GatewayDeps {
  config: Config;
  log: Logger;
  version: string;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Stored calls for REST history; default: the PostgreSQL call log when `store.kind: postgres` (written from the stream by the archive lease holder). */
  listCalls?: (f: CallFilter) => Promise<CallSnapshot[]>;
  /** Keep bus latency samples (bench). */
  sampleLatency?: boolean;
}

export interface Gateway {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  readonly view: LiveView;
  readonly cti: CtiServer | null;
  /** The call log writer (store.kind postgres, cluster.archive.enabled); active on one gateway at a time. */
  readonly archiver: StreamArchiver | null;
  /** Bus latency samples in ms (sampleLatency), and the last stream sequence applied. */
  stats(): { lastSeq: number; latencies: number[] | null };
  /**
   * SIGHUP (configReload.ts GATEWAY_RELOADABLE): users (sessions of removed users close at the
   * next heartbeat), pop, log level, auth, session caps; one log line, as standalone.
   */
  reload(next: Config): ReloadPlan;
}

/** The first stream sequence stored at or after `sinceMs` (a binary search over message times). */
async function seqSince(bus: JetStreamBus, sinceMs: number): Promise<number> {
  const info = await bus.jsm.streams.info(STREAM);
  let lo = info.state.first_seq;
  let hi = info.state.last_seq + 1;
  if (info.state.messages === 0) return hi;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    let t: number;
    try {
      t = (await bus.jsm.streams.getMessage(STREAM, { seq: mid }))!.time.getTime();
    } catch {
      lo = mid + 1; // expired under us: later
      continue;
    }
    if (t < sinceMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, log } = deps;
  const now = deps.now ?? Date.now;
  const cluster = config.cluster;
  // Users and API keys: the gateway's own SQLite (the same users config on every gateway).
  const db = openDb(config.store.path ?? defaultDbPath(deps.env ?? {}));
  const directory = new Directory({ db, log: log.child({ component: "directory" }) });
  directory.applyConfig(config.users);
  // API keys of the cluster (NATS KV `cti-keys`), mirrored here; a revoked one is revoked in this
  // SQLite too (a key moved there by `tokens migrate` has its row here as well).
  const keys = new KeyMirror({ log: log.child({ component: "apikeys" }), onRevoked: (id) => void revokeApiToken(db, id, now) });
  let keyWatch: { stop(): void } | null = null;
  const registry = createRegistry({ defaultMetrics: true });
  const m = {
    applied: new Counter({ name: "ctibridge_bus_events_total", help: "Stream messages applied by this gateway", registers: [registry] }),
    lastSeq: new Gauge({
      name: "ctibridge_bus_last_seq",
      help: "The last stream sequence applied",
      registers: [registry],
      collect(this: Gauge) {
        this.set(feedStats?.lastSeq ?? 0);
      },
    }),
  };
  const view = new LiveView(config.calls.keepEndedMs);
  // The shared call log: written from the stream by the gateway holding the archive lease (bus/archive.ts).
  const pgStore = config.store.kind === "postgres" ? postgresStore(config) : null;
  const callStore: CallStore | null = pgStore;
  let archiver: StreamArchiver | null = null;
  // Webhooks: rows written by the archiver with their calls, delivered while this gateway holds the archive lease.
  const webhooks = pgStore && cluster.archive.enabled && config.webhooks.length > 0 ? new ClusterWebhooks({ config, store: pgStore, log: log.child({ component: "webhooks" }), registry, version: deps.version, now, progress: async () => archiver?.progress() ?? null }) : null;
  const archiveMetrics = {
    written: new Counter({ name: "ctibridge_archive_calls_written_total", help: "Call snapshots this gateway wrote to the call log from the stream", registers: [registry] }),
    active: new Gauge({
      name: "ctibridge_archive_active",
      help: "1 while this gateway holds the archive lease",
      registers: [registry],
      collect(this: Gauge) {
        this.set(archiver?.stats.active ? 1 : 0);
      },
    }),
    lastSeq: new Gauge({
      name: "ctibridge_archive_last_seq",
      help: "The last stream sequence this gateway stored in the call log",
      registers: [registry],
      collect(this: Gauge) {
        this.set(archiver?.stats.lastSeq ?? 0);
      },
    }),
    failing: new Gauge({
      name: "ctibridge_archive_failing",
      help: "1 while call log writes fail (the batch is kept and retried)",
      registers: [registry],
      collect(this: Gauge) {
        this.set(archiver?.stats.failingSince ? 1 : 0);
      },
    }),
  };
  const listCalls =
    deps.listCalls ??
    (callStore
      ? async (f: CallFilter) =>
          (await callStore.list({ userId: f.userId ?? undefined, since: f.since ?? undefined, missed: f.missed, openOnly: f.open, limit: f.limit, ...(f.before ? { before: f.before } : {}) })).map((c) =>
            toCallSnapshot(c, config.pop.urlTemplate),
          )
      : null);
  let bus: JetStreamBus | null = null;
  let cti: CtiServer | null = null;
  let http: HttpApi | null = null;
  let reader: { stop(): Promise<void> } | null = null;
  let feedStats: { lastSeq: number; latencies: number[] | null } | null = null;
  let natsUp = false;

  const request = (pbxId: string, body: CommandRequest, timeoutMs: number) => {
    if (!bus) return Promise.reject(new Error("bus not connected"));
    return bus.command<WorkerReply>(pbxId, body, timeoutMs);
  };
  let applied: ((seq: number, timeoutMs: number) => Promise<void>) | undefined;
  const toWorker = forwardCommand({
    view,
    request,
    timeoutMs: cluster.commandTimeoutMs,
    log: log.child({ component: "control" }),
    applied: (seq, timeoutMs) => applied?.(seq, timeoutMs) ?? Promise.resolve(),
  });

  /**
   * `call.done` for a call the PBX's current worker does not hold (it ended before that worker
   * took over): the call log decides, with the same rule (control/done.ts), and each closed leg
   * goes on the stream as the worker's would (every gateway sends `call.done`; the archiver
   * applies it again, idempotent). The result comes once this gateway has sent the frames.
   */
  async function doneFromLog(user: AuthedUser, cmd: CommandRequest["cmd"]): Promise<CommandResult | null> {
    const a = cmd.args as { callId?: unknown; user?: unknown } | null;
    if (!callStore || !bus || typeof a?.callId !== "string") return null;
    const callId = a.callId;
    const call = await callStore.get(callId);
    const t = doneTargets(user, call, typeof a.user === "string" ? a.user : undefined);
    if (!t.ok) return { ok: false, error: { code: t.code, message: t.message } };
    const doneAt = new Date(now()).toISOString();
    const marked = await callStore.markOpenDone(callId, t.users, doneAt);
    if (marked.length === 0) return { ok: false, error: { code: "invalid_state", message: "no open missed call to mark done" } };
    let seq = 0;
    for (const userId of marked) {
      const entry: BusEntry = { pbxId: call!.pbxId ?? "gateway", term: 0, sentAt: now(), ev: { kind: "done", done: { userId, callId, queue: call!.queue, doneAt, by: user.userId, reason: "marked" } } };
      seq = (await bus.publish(subjectOf(entry), JSON.stringify(entry), `done:${callId}:${userId}:${doneAt}`)).seq;
    }
    await applied?.(seq, 2_000);
    return { ok: true, data: { callId, users: marked, doneAt } };
  }

  const forward = async (user: AuthedUser & { devices: string[] }, cmd: CommandRequest["cmd"]): Promise<CommandResult> => {
    const r = await toWorker(user, cmd);
    if (cmd.action !== "call.done" || r.ok || r.error.code !== "not_found") return r;
    try {
      return (await doneFromLog(user, cmd)) ?? r;
    } catch (err) {
      log.warn({ err, action: cmd.action }, "call.done from the call log failed");
      return { ok: false, error: { code: "internal", message: "the call log could not be updated" } };
    }
  };

  return {
    view,
    get cti() {
      return cti;
    },
    get archiver() {
      return archiver;
    },
    stats: () => feedStats ?? { lastSeq: 0, latencies: null },
    reload(next) {
      const key = next.auth.jwtPublicKeyFile;
      if (key !== undefined && key !== config.auth.jwtPublicKeyFile && !readable(key)) throw new ConfigError([`auth.jwtPublicKeyFile: cannot read ${key}`]);
      const parts = { log, usersChanged: (users: Config["users"]) => directory.applyConfig(users), popChanged: () => cti?.settingsChanged(), userCount: () => directory.listUsers().length };
      return applyReload(config, next, { ...parts, contactsChanged: () => undefined, controlChanged: () => undefined }, GATEWAY_RELOADABLE);
    },
    async start() {
      await callStore?.open();
      bus = await JetStreamBus.fromConfig(cluster, `ctibridge-gateway-${cluster.workerId ?? process.pid}`, log.child({ component: "bus" }));
      natsUp = true;
      void (async () => {
        for await (const s of bus!.nc.status()) if (s.type === "disconnect" || s.type === "reconnect") natsUp = s.type === "reconnect";
      })();
      await bus.ensureStream();
      keyWatch = await mirrorKeys(bus, await openKeyBucket(bus, log), keys, log.child({ component: "apikeys" }));
      if (callStore && cluster.archive.enabled) {
        archiver = new StreamArchiver({
          bus,
          store: callStore,
          log: log.child({ component: "archive" }),
          holder: `${cluster.workerId ?? hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
          leaseTtlMs: cluster.leaseTtlMs,
          batchSize: cluster.archive.batchSize,
          ackWaitMs: cluster.archive.ackWaitMs,
          concurrency: cluster.archive.concurrency,
          onStored: (calls, lastSeq) => {
            archiveMetrics.written.inc(calls);
            webhooks?.kick(lastSeq);
          },
          ...webhooks?.archiveHooks(),
        });
        await archiver.start();
      }
      const gwLog = log.child({ component: "bus" });
      const fromSeq = await natsRetry("replay start", () => seqSince(bus!, now() - cluster.gatewayReplayMinutes * 60_000), gwLog);
      const caughtUpTo = await natsRetry("stream end", () => bus!.lastSeq(), gwLog);
      const server = new CtiServer({
        config,
        log,
        db,
        directory,
        authenticator: createAuthenticator({ config, db, directory, keys, now }),
        activeCalls: () => view.activeCalls(),
        getCall: (callId) => view.getCall(callId),
        agentStateOf: (userId) => view.agentStateOf(userId),
        onCommand: (user, cmd) => forward({ ...user, devices: [...(directory.getUser(user.userId)?.devices ?? [])] }, cmd),
        now,
        version: deps.version,
        registry,
        seqBase: fromSeq - 1,
      });
      cti = server;
      const feed = gatewayFeed({ cti: server, view, log, now, ...(deps.sampleLatency ? { sampleLatency: true } : {}) });
      feedStats = feed.stats;
      applied = feed.applied;
      reader = await bus.read(fromSeq, (d) => {
        m.applied.inc();
        feed.onEntry(d);
      });
      // Snapshots must be whole before the first client: catch up with what was there at start.
      const deadline = now() + 60_000;
      while (feed.stats.lastSeq < caughtUpTo && now() < deadline) await new Promise((r) => setTimeout(r, 10));
      log.info({ fromSeq, caughtUpTo, calls: view.activeCalls().length }, "gateway caught up with the stream");
      // Latency samples count live events only, not the replay of older ones.
      feed.stats.latencies?.splice(0);
      http = createHttpApi({
        config,
        log,
        cti: server,
        version: deps.version,
        registry,
        now,
        // The call log's state is reported, not a reason to take the gateway out of a load balancer.
        health: () => ({ ...(natsUp ? { status: "ok", bus: { lastSeq: feed.stats.lastSeq } } : { status: "unavailable", bus: "nats disconnected" }), ...(archiver ? { archive: archiveHealth(archiver) } : {}) }),
        listCalls: (f) => listCalls?.(f) ?? [],
        // Annotations are call control on the owning PBX's worker (its policy, its store).
        annotate: async (user, callId, body) => {
          const r = await forward({ ...user, devices: [...(directory.getUser(user.userId)?.devices ?? [])] }, { id: "rest", action: "call.annotate", args: { callId, ...body }, connectionId: "rest" });
          return r.ok ? { ok: true, data: r.data ?? {} } : { ok: false, error: r.error };
        },
        // Missed calls done: the worker's rule and store (its done marks reach every gateway on the stream), as `call.done`.
        markDone: async (user, callId, target) => {
          const args = { callId, ...(target !== undefined ? { user: target } : {}) };
          const r = await forward({ ...user, devices: [...(directory.getUser(user.userId)?.devices ?? [])] }, { id: "rest", action: "call.done", args, connectionId: "rest" });
          return r.ok ? { ok: true, ...(r.data as { callId: string; users: string[]; doneAt: string }) } : { ok: false, code: r.error.code, message: r.error.message };
        },
        // The history is the call log's (written from the stream), with the worker's rule: a party of the call or a supervisor.
        annotations: async (user, callId) => {
          if (!callStore) return { ok: false, error: { code: "not_supported", message: "annotation history needs the call log (store.kind postgres)" } };
          const call = view.getCall(callId) ?? (await callStore.get(callId));
          if (!call) return { ok: false, error: { code: "not_found", message: "no such call" } };
          if (user.role !== "supervisor" && !isCallParty(call, user.userId)) return { ok: false, error: { code: "forbidden", message: "not a call of this user" } };
          return { ok: true, data: await callStore.annotations(callId) };
        },
        // The newest board of each queue of each PBX, as its worker published it (queue.state).
        queues: () => ({ timezone: config.agents.timezone, todayFrom: new Date(startOfDay(now(), config.agents.timezone)).toISOString(), queues: view.queues() }),
        directory: () => directory.listUsers().map((u) => ({ id: u.id, name: u.name, role: u.role, devices: [...u.devices], extensions: [] })),
      });
      const port = await http.listen();
      return { port };
    },
    async stop() {
      await archiver?.stop().catch((err: unknown) => log.warn({ err }, "archiver stop failed"));
      webhooks?.stop();
      await reader?.stop().catch(() => undefined);
      keyWatch?.stop();
      await cti?.close();
      await http?.close();
      await bus?.close();
      await callStore?.close();
      db.close();
    },
  };
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function archiveHealth(a: StreamArchiver): string {
  const s = a.stats;
  if (!s.active) return "standby (another gateway archives)";
  if (s.failingSince !== null) return `write failing since ${new Date(s.failingSince).toISOString()}, ${s.held} messages held`;
  return "ok";
}
