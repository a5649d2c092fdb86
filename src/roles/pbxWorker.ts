/**
 * The PBX worker role (`mode: cluster`, `cluster.role: pbx`): one PBX's AMI link, codec, call
 * and agent trackers, publishing every bus event to the stream `CTI` and answering commands
 * for its PBX (`cti.<pbxId>.cmd`). Two or more run per PBX; the lease (bus/lease.ts) makes one
 * active. A standby holds no AMI link. When it takes over it reads the PBX's open calls and
 * running wrap-ups from KV (`cti-calls`), seeds a fresh local SQLite store with them and starts
 * the standalone engine on it: the kill -9 restore (calls/restore.ts, closeVanishedCalls,
 * WrapUps.restore) then keeps every callId, original time and wrap-up `until`, from the KV copy
 * instead of the dead worker's disk. The worker's SQLite is scratch; the cluster's call log is
 * written from the stream, and its queue boards' `today` from the figures in KV (queueDays.ts).
 *
 * A worker that loses its lease (cut off from NATS while a standby took over) stops at once
 * and `done` resolves: the process exits and its supervisor starts it again as a standby.
 */
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { Call } from "../calls/model.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { cloneCall, iso } from "../calls/outcomes.js";
import { JetStreamBus, natsRetry } from "../bus/jetstream.js";
import { Lease, LEASE_BUCKET } from "../bus/lease.js";
import { CALLS_BUCKET, KvOpenCalls, kvToken } from "../bus/openCalls.js";
import { KvWrapUps } from "../bus/wrapUpRows.js";
import { KvQueueDays } from "../bus/queueDays.js";
import { FactGrouper } from "../bus/facts.js";
import { BusPublisher } from "../bus/publisher.js";
import type { CommandRequest } from "../bus/gatewayFeed.js";
import type { StreamEvent } from "../bus/entry.js";
import { usersForPbx } from "../directory/pbxDevices.js";
import { CallLog } from "../store/callLog.js";
import { openDb } from "../store/db.js";
import { WrapUpStore, type WrapUpRow } from "../store/wrapUps.js";
import type { Daemon, DaemonDeps } from "./standalone.js";
import type { ReloadPlan } from "../configReload.js";
import { applyReload } from "./reload.js";

export interface PbxWorkerDeps {
  config: Config;
  log: Logger;
  env?: Record<string, string | undefined>;
  /** The standalone engine (roles/standalone.ts createDaemon), built at takeover with the worker's hooks. */
  createDaemon: (config: Config, hooks: Pick<DaemonDeps, "onCallsTouched" | "queueStats">) => Daemon;
  /** The engine's clock: stamps each entry's `sentAt`, the time of an agent state or PBX status (default Date.now). */
  now?: () => number;
}

export interface PbxWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves with the reason when the worker stopped on its own (lease lost). */
  readonly done: Promise<string>;
  readonly active: boolean;
  readonly daemon: Daemon | null;
  /** Resolves once every event offered so far is stored in the stream. */
  flushed(): Promise<void>;
  /**
   * SIGHUP: the reloadable settings (configReload.ts) go to the engine when active (users for
   * this PBX only); a standby keeps them for its takeover. One log line, as standalone.
   */
  reload(next: Config): ReloadPlan;
}

export function createPbxWorker(deps: PbxWorkerDeps): PbxWorker {
  const { config, log } = deps;
  const cluster = config.cluster;
  const pbxId = cluster.pbxId!;
  const workerId = cluster.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const wlog = log.child({ component: "worker", pbxId, workerId });
  let bus: JetStreamBus | null = null;
  let lease: Lease | null = null;
  let publisher: BusPublisher | null = null;
  let openCalls: KvOpenCalls | null = null;
  let wrapUpRows: KvWrapUps | null = null;
  let queueDays: KvQueueDays | null = null;
  let callsKv: KV | null = null;
  let daemon: Daemon | null = null;
  let commands: Subscription | null = null;
  let stopping = false;
  let finish: (reason: string) => void = () => undefined;
  const done = new Promise<string>((r) => (finish = r));
  const dbPath = config.store.path ?? join(tmpdir(), `ctibridge-worker-${pbxId}-${process.pid}.db`);

  /** The scratch store, seeded with the open calls and running wrap-ups the previous worker left in KV. */
  async function seedStore(records: Awaited<ReturnType<KvOpenCalls["load"]>>, wrapUps: WrapUpRow[]): Promise<void> {
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
    const db = openDb(dbPath);
    try {
      const log = new CallLog(db, { callbackWindowDays: config.calls.callbackWindowDays });
      const seen = new Set<string>();
      for (const r of records) {
        if (seen.has(r.callId)) continue;
        seen.add(r.callId);
        log.save(r.snapshot, r.updatedAt);
      }
      // Restored by the engine at start (timers armed with the same until; its pauses undone at the end).
      const rows = new WrapUpStore(db);
      for (const w of wrapUps) rows.start(w);
    } finally {
      db.close();
    }
  }

  /**
   * The engine's config: only this PBX's devices (plain, and `<pbxId>:…` stripped: two sites may
   * both have a PJSIP/1001), and a scratch SQLite store (the cluster's call log is written from
   * the stream, bus/archive.ts in the gateways).
   */
  function engineConfig(c: Config): Config {
    return { ...c, users: usersForPbx(c.users, pbxId), store: { ...c.store, kind: "sqlite", path: dbPath } };
  }

  async function takeOver(term: number, previous: string | null): Promise<void> {
    publisher!.setTerm(term);
    openCalls = new KvOpenCalls(callsKv!, pbxId, wlog);
    // A JetStream cluster electing leaders (just started, a node just died) is waited for.
    const records = await natsRetry("open calls", () => openCalls!.load(), wlog);
    wrapUpRows = new KvWrapUps(callsKv!, pbxId, wlog);
    const wrapUps = await natsRetry("wrap-ups", () => wrapUpRows!.load(), wlog);
    await seedStore(records, wrapUps);
    // The board's `today` goes on from the dead worker's figures (its SQLite had the day's calls).
    const days = new KvQueueDays({ kv: callsKv!, pbxId, log: wlog, timezone: config.agents.timezone, now: deps.now ?? Date.now });
    await natsRetry("queue figures", () => days.load(), wlog);
    queueDays = days;
    // The last active worker of this PBX, kept without a TTL beside its open calls: a standby
    // that started after the lease had expired never saw its holder in the lease bucket.
    const lastKey = kvToken(pbxId);
    const lastEntry = await natsRetry("last worker", () => callsKv!.get(lastKey), wlog);
    const last = lastEntry?.operation === "PUT" ? (lastEntry.json() as { holder: string }).holder : null;
    await natsRetry("last worker", () => callsKv!.put(lastKey, JSON.stringify({ holder: workerId, term, since: new Date().toISOString() })), wlog);
    // A failover: another worker ran this PBX before (named by the lease or that key, or its calls are open).
    const before = previous ?? (last !== workerId ? last : null);
    let failover = before !== null || records.length > 0;
    wlog.info({ term, previous: before, openCalls: records.length, wrapUps: wrapUps.length }, failover ? "taking over the PBX" : "serving the PBX");
    // What each running call looked like in its last call-level copy (without pbxId), to publish
    // a call the tracker changed without a fact (bus "view": gateways' snapshots, no frame).
    // The copy itself is kept (no work on the emission path); its signature is made when a read
    // touched the call, once per copy.
    const lastCopy = new Map<string, { call: Call; sig?: string }>();
    const sig = (call: Call) => JSON.stringify({ ...call, pbxId: undefined });
    let engine: Daemon | null = null;
    // Compared once the AMI read that touched them is handled (setImmediate): a change followed
    // by a fact in the same read travels with the fact, and needs no view of its own.
    // A call no copy has announced yet goes out at once (gateways list calls in the order they
    // learn of them, as the tracker does).
    const touched = new Set<string>();
    // One stream message per fact: a call event's user copies travel with its call-level copy
    // (and whatever else is offered goes after the copies held so far).
    const facts = new FactGrouper((ev, then) => publisher?.offer(ev, then));
    const publishView = (id: string) => {
      const live = engine?.tracker.getActiveCall(id);
      if (!live) return;
      const copy = cloneCall(live);
      const now = sig(copy);
      const last = lastCopy.get(id);
      if (last) last.sig ??= sig(last.call);
      if (last?.sig === now) return;
      lastCopy.set(id, { call: copy, sig: now });
      facts.offer({ kind: "view", call: copy, at: (deps.now ?? Date.now)() });
    };
    const publishViews = () => {
      for (const id of touched) publishView(id);
      touched.clear();
    };
    const onCallsTouched = (callIds: ReadonlySet<string>) => {
      for (const id of callIds) {
        if (!lastCopy.has(id)) publishView(id);
        else {
          if (touched.size === 0) setImmediate(publishViews);
          touched.add(id);
        }
      }
    };
    const d = deps.createDaemon(engineConfig(config), { onCallsTouched, queueStats: (from) => days.stats(from) });
    engine = d;
    daemon = d;
    d.bus.subscribe((ev) => {
      // The open-call map and the running wrap-ups in KV follow the stream, never ahead of it: a
      // worker that loses its lease with events not yet stored (cut off from NATS) leaves them as
      // they were, and its successor ends or rebuilds the calls from the PBX's listing,
      // publishing what clients missed.
      let note: (() => void) | undefined;
      if (ev.kind === "call" && ev.event.userId === null) {
        const { call, at } = ev.event;
        days.seen(call);
        // An ended queue call's open-call entry goes once its figures are written (bus/queueDays.ts).
        note = () => days.stored(call, () => openCalls?.note(call, iso(at), () => days.settled(call)));
        if (call.state === "ended" || call.mergedInto) lastCopy.delete(call.callId);
        else lastCopy.set(call.callId, { call });
      } else if (ev.kind === "record") {
        const record = ev.record;
        note = () => wrapUpRows?.note(record);
      }
      // The first resync after a takeover is the failover clients see.
      if (failover && ev.kind === "pbx" && ev.status === "resynced") {
        failover = false;
        return facts.offer({ kind: "pbx", status: "failover", info: { ...ev.info, pbxId } });
      }
      facts.offer(ev as StreamEvent, note);
    });
    commands = bus!.serveCommands(pbxId, async (req) => {
      const r = req as CommandRequest;
      const result = await d.command(r.user, r.cmd);
      // The facts the command caused are in the stream before its reply (standalone sends them
      // first too): `appliedSeq` lets the gateway answer once it has applied them.
      // Bounded: a reply held back while the stream is away would read as an unanswered command.
      const appliedSeq = await Promise.race([publisher!.storedSoFar(), new Promise<number>((r) => setTimeout(() => r(0), 2_000).unref())]);
      return appliedSeq > 0 ? { ...result, appliedSeq } : result;
    });
    await d.start();
  }

  async function lost(): Promise<void> {
    if (stopping) return;
    wlog.error({}, "lease lost, stopping (another worker serves the PBX)");
    await shutdown(false);
    finish("lease lost");
  }

  async function shutdown(release: boolean): Promise<void> {
    stopping = true;
    commands?.unsubscribe();
    openCalls?.close();
    wrapUpRows?.close();
    queueDays?.close();
    await daemon?.stop().catch((err: unknown) => wlog.warn({ err }, "engine stop failed"));
    if (release) await publisher?.flushed();
    publisher?.stop();
    await lease?.stop(release);
    await bus?.close();
  }

  return {
    done,
    get active() {
      return lease?.active ?? false;
    },
    get daemon() {
      return daemon;
    },
    // Views of the calls the last AMI read touched are offered at setImmediate: wait for them too.
    flushed: () => new Promise<void>((r) => setImmediate(r)).then(() => publisher?.flushed()),
    reload(next) {
      if (daemon && !stopping) return daemon.reload(engineConfig(next));
      // A standby: its engine is built from this config at takeover.
      return applyReload(config, next, {
        log,
        usersChanged: () => undefined,
        contactsChanged: () => undefined,
        popChanged: () => undefined,
        controlChanged: () => undefined,
        userCount: () => usersForPbx(config.users, pbxId).length,
      });
    },
    async start() {
      bus = await JetStreamBus.fromConfig(cluster, `ctibridge-pbx-${pbxId}-${workerId}`, log.child({ component: "bus" }));
      await bus.ensureStream();
      const leases = await natsRetry("lease bucket", () => bus!.kv(LEASE_BUCKET, cluster.leaseTtlMs), wlog);
      callsKv = await natsRetry("open-call bucket", () => bus!.kv(CALLS_BUCKET, 0), wlog);
      // Events wait while the lease is not fresh (cut off from NATS a whole TTL: a standby may run).
      publisher = new BusPublisher({ sink: bus, pbxId, log: wlog, gate: () => lease?.fresh ?? false, ...(deps.now ? { now: deps.now } : {}) });
      lease = new Lease({
        kv: leases,
        key: pbxId,
        holder: workerId,
        ttlMs: cluster.leaseTtlMs,
        log: wlog,
        onAcquired: (term, previous) => {
          takeOver(term, previous).catch(async (err: unknown) => {
            wlog.error({ err }, "takeover failed, stopping");
            await shutdown(true);
            finish("takeover failed");
          });
        },
        onLost: () => void lost(),
        onTerm: (term) => publisher?.setTerm(term),
      });
      await lease.start();
      if (!lease.active) wlog.info({}, "standing by (another worker holds the lease)");
    },
    async stop() {
      if (stopping) return;
      await shutdown(true);
      finish("stopped");
    },
  };
}
