/**
 * The daemon: the one place that knows every part. start() brings them up in order
 * (store → directory → tracker → simulator → HTTP/WebSocket → AMI link), stop() takes them
 * down in reverse. Everything arrives through `deps`; nothing here touches `process`.
 */
import { randomUUID } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import { AmiClient } from "../ami/client.js";
import type { AmiMessage } from "../ami/codec.js";
import { skipUnneeded, toPbxEvent, type OnBadField } from "../ami/events.js";
import type { PbxEvent } from "../calls/pbxEvents.js";
import { AgentTracker, isAgentEvent } from "../calls/agents.js";
import type { AnyCallEvent, Call, Match } from "../calls/model.js";
import { iso } from "../calls/outcomes.js";
import { CallTracker, trackerDepsFromConfig } from "../calls/tracker.js";
import type { Config } from "../config.js";
import type { ReloadPlan } from "../configReload.js";
import { createAnnotations } from "../control/annotations.js";
import { createCommandHandler } from "../control/commands.js";
import { ContactDirectory } from "../directory/contacts.js";
import { Directory } from "../directory/users.js";
import { createHttpApi, type HttpApi } from "../http/server.js";
import { createRegistry } from "../http/metrics.js";
import type { Logger } from "../log.js";
import { toCallSnapshot } from "../publish/protocol.js";
import { CtiServer, type CommandResult } from "../publish/server.js";
import { PbxSimulator } from "../sim/pbxSimulator.js";
import { CallLog, CallLogWriter } from "../store/callLog.js";
import { defaultDbPath, openDb, StoreOpenError, type Db } from "../store/db.js";
import { RetentionPruner } from "../store/retention.js";
import { WrapUpStore } from "../store/wrapUps.js";
import { createDoneMarker } from "../control/done.js";
import { queuePause } from "../control/templates.js";
import { deviceResource } from "../directory/devices.js";
import { QueueBoard } from "../desk/queueBoard.js";
import { WRAP_UP_REASON, WrapUps } from "../desk/wrapUp.js";
import { Outbox } from "../store/outbox.js";
import { Webhooks } from "../webhooks/deliver.js";
import { InProcessBus, type EventBus, type RecordFact } from "../bus/index.js";
import { StoreArchiver } from "../store/archiver.js";
import { applyRecord } from "../store/records.js";
import { SqliteCallStore, type CallStore, type QueueStat } from "../store/index.js";
import { createCallStore, describeStore } from "../store/open.js";
import { StoreRetention } from "../store/storeRetention.js";
import { ctiSubscriber } from "../bus/ctiSubscriber.js";
import { VERSION } from "../version.js";
import { AgentResync } from "./agentResync.js";
import { healthReport } from "./health.js";
import { applyReload } from "./reload.js";
import { addEventIds, CallReaper, closeVanishedCalls, eventChannelId, externalNumber, inCreationOrder, OriginateWaiters } from "./daemonSupport.js";

export { VERSION } from "../version.js";

export interface DaemonDeps {
  config: Config;
  log: Logger;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Secret the simulator accepts (demo); default: a random one per start. */
  simulatorSecret?: string;
  /**
   * Told after each call event the tracker handled, with the calls its channels belong to
   * (before and after it): a cluster worker publishes a call that changed without a fact
   * (bus "view"), so that a gateway's snapshots show what a standalone daemon's show.
   */
  onCallsTouched?: (callIds: ReadonlySet<string>) => void;
  /** The queue board's `today` figures (default: the SQLite call log; a cluster worker's are in KV, bus/queueDays.ts). */
  queueStats?: (fromIso: string) => Map<string, QueueStat>;
}

export interface Daemon {
  start(): Promise<{ port: number; amiPort: number }>;
  stop(): Promise<void>;
  /** Re-read the users only. */
  reloadUsers(config: Config): void;
  /**
   * SIGHUP: apply every setting that can change at run time (configReload.ts RELOADABLE) and
   * log one line naming what was applied and what needs a restart (kept at its running value).
   */
  reload(next: Config): ReloadPlan;
  readonly tracker: CallTracker;
  readonly agents: AgentTracker;
  readonly db: Db;
  readonly directory: Directory;
  readonly callLog: CallLog;
  readonly contacts: ContactDirectory;
  readonly cti: CtiServer;
  readonly wrapUps: WrapUps;
  readonly queueBoard: QueueBoard;
  readonly ami: AmiClient | null;
  readonly registry: Registry;
  readonly webhooks: Webhooks;
  /** The call log of record (store.kind): REST history reads it. SQLite: over `db`. */
  readonly callStore: CallStore;
  /** The in-process event bus (bus/): call events, agent states, PBX status, done marks, queue boards. */
  readonly bus: EventBus;
  /** Handle one client command as the WebSocket server would (a cluster gateway's request). */
  command(user: { userId: string; role: "agent" | "supervisor" }, cmd: { id: string; action: string; args: unknown; connectionId: string }): Promise<CommandResult>;
}

export function createDaemon(deps: DaemonDeps): Daemon {
  const { config } = deps;
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const dbPath = config.store.path ?? defaultDbPath(deps.env ?? {});
  const db = openDb(dbPath);
  // Users changed by another process (the CLI) are picked up on the next auth or heartbeat.
  const directory = new Directory({ db, log: log.child({ component: "directory" }), onRefresh: () => agents.remap() });
  directory.applyConfig(config.users);
  const callLog = new CallLog(db, { callbackWindowDays: config.calls.callbackWindowDays });
  const writer = new CallLogWriter(callLog, db, (err, calls) => log.error({ err, calls }, "call log write failed, will retry"), {
    maxBacklog: config.store.maxBacklogCalls,
    now,
    onDrop: () => m.storeDropped.inc(),
    onRecovered: (calls, since) => log.info({ calls, failingSince: new Date(since).toISOString() }, "call log writes work again"),
    // An answered call back closed missed legs: every tab of that user sees them done.
    onDone: (marks) => {
      for (const mk of marks) bus.publish({ kind: "done", done: { userId: mk.userId, callId: mk.callId, queue: callLog.get(mk.callId)?.queue ?? null, doneAt: mk.doneAt, by: mk.userId, reason: "called_back" } });
    },
    onCommitted: () => webhooks.kick(),
  });
  const contacts = new ContactDirectory({
    db,
    numbers: config.numbers,
    log: log.child({ component: "contacts" }),
    lookupUrl: config.contacts.lookupUrl,
    lookupTimeoutMs: config.contacts.lookupTimeoutMs,
    cacheSeconds: config.contacts.cacheSeconds,
    now,
  });
  const registry = createRegistry({ defaultMetrics: true });
  const m = {
    amiEvents: new Counter({ name: "ctibridge_ami_events_total", help: "AMI events received", registers: [registry] }),
    amiConnected: new Gauge({ name: "ctibridge_ami_connected", help: "1 while logged in to the PBX", registers: [registry] }),
    reconnects: new Counter({ name: "ctibridge_ami_reconnects_total", help: "AMI reconnect attempts", registers: [registry] }),
    backlog: new Gauge({ name: "ctibridge_ami_backlog_events", help: "Events held while a resync listing runs", registers: [registry] }),
    backlogOverflow: new Counter({ name: "ctibridge_ami_backlog_overflow_total", help: "Events past the backlog bound", registers: [registry] }),
    callEvents: new Counter({ name: "ctibridge_call_events_total", help: "Domain call events", labelNames: ["name"], registers: [registry] }),
    activeCalls: new Gauge({
      name: "ctibridge_active_calls",
      help: "Calls in progress",
      registers: [registry],
      collect() {
        this.set(tracker.activeCalls().length);
      },
    }),
    reaped: new Counter({
      name: "ctibridge_calls_reaped_total",
      help: "Calls closed as unknown_end by the reaper (not_listed: the PBX no longer has them; max_age: open longer than calls.maxCallAgeMs)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    storeDropped: new Counter({
      name: "ctibridge_store_backlog_dropped_total",
      help: "Snapshots of calls in progress not kept because the store backlog was at store.maxBacklogCalls (ended calls are never dropped)",
      registers: [registry],
    }),
    pruned: new Counter({
      name: "ctibridge_calls_pruned_total",
      help: "Stored calls deleted because they were older than calls.retentionDays",
      registers: [registry],
    }),
    storeBacklog: new Gauge({
      name: "ctibridge_store_backlog_calls",
      help: "Call snapshots waiting to be written (non-zero for long means the disk is failing)",
      registers: [registry],
      collect() {
        this.set(writer.backlog);
      },
    }),
  };

  // Webhook rows are written with the call-log change that causes them (writer, annotate).
  const webhooks = new Webhooks({
    targets: config.webhooks,
    outbox: new Outbox(db),
    log: log.child({ component: "webhooks" }),
    registry,
    version: VERSION,
    popTemplate: () => config.pop.urlTemplate,
    now,
  });

  // store.kind postgres: every call is archived to PostgreSQL too, the log REST and retention read.
  const record = config.store.kind === "postgres" ? createCallStore(config, db) : null;
  const callStore: CallStore = record ?? new SqliteCallStore(db, { callbackWindowDays: config.calls.callbackWindowDays });
  const archiver = record && new StoreArchiver({ store: record, log: log.child({ component: "archive" }), now, maxBacklog: config.store.maxBacklogCalls, onDrop: () => m.storeDropped.inc() });
  /** Writes the record store needs beside SQLite's (done marks, annotations, wrap-ups), one at a time, in order. */
  let mirrored: Promise<unknown> = Promise.resolve();
  const mirror = (what: string, write: (s: CallStore) => Promise<unknown>) => {
    if (!record) return;
    mirrored = mirrored.then(() => write(record)).catch((err: unknown) => log.warn({ err, what }, "call archive write failed"));
  };
  /** A call-log write beyond the snapshot, as a bus fact: the record store here, the stream's archiver in a cluster. */
  const recordFact = (r: RecordFact) => bus.publish({ kind: "record", record: r });

  // The seam between the engine and its consumers (bus/): the store first, then the clients.
  const bus: EventBus = new InProcessBus((err, ev) => log.error({ err, kind: ev.kind }, "bus subscriber failed"));
  bus.subscribe((ev) => {
    if (ev.kind !== "call" || ev.event.userId !== null) return;
    const e = ev.event;
    if (e.call.queue !== null) queueBoard.touch(e.call.queue);
    writer.save(e.call, iso(e.at), webhooks.rowsFor(e));
    archiver?.save(e.call, iso(e.at));
    if (e.name === "callEnded") log.info({ callId: e.call.callId, direction: e.call.direction, outcome: e.call.outcome, from: e.call.from.raw, to: e.call.to.raw }, "call ended");
  });
  if (record)
    bus.subscribe((ev) => {
      if (ev.kind === "record") mirror(ev.record.op, (s) => applyRecord(s, ev.record));
      else if (ev.kind === "done") mirror("done", (s) => s.markOpenDone(ev.done.callId, [ev.done.userId], ev.done.doneAt));
    });

  let cti: CtiServer;
  const trackerLog = log.child({ component: "tracker" });
  const openIds = callLog.openCallIds();
  const openSnapshots = callLog.openCallSnapshots();
  const tracker: CallTracker = new CallTracker({
    ...trackerDepsFromConfig(config, directory),
    newCallId: randomUUID,
    knownCallId: (linkedId) => openIds.get(linkedId),
    restoredCall: (linkedId) => openSnapshots.get(linkedId),
    debug: (fields, msg) => trackerLog.debug(fields, msg),
    lookup: (call) => lookupContact(call),
    onEvent: (ev) => onCallEvent(ev),
  });

  /** Called by the tracker in the middle of a transition: it must never throw into it. */
  function lookupContact(call: Call): Match | null {
    const number = externalNumber(call);
    if (number === null) return null;
    let found: ReturnType<ContactDirectory["lookup"]>;
    try {
      found = contacts.lookup(number, call.callId);
    } catch (err) {
      log.warn({ err, callId: call.callId }, "contact lookup failed");
      return null;
    }
    const { now: match, later } = found;
    later?.then((m) => tracker.setMatch(call.callId, m, now())).catch(() => undefined);
    return match;
  }

  function onCallEvent(ev: AnyCallEvent): void {
    m.callEvents.inc({ name: ev.name });
    if (ev.name === "callEnded" && ev.userId !== null) wrapUps.partEnded(ev.userId, ev.call, ev.at);
    bus.publish({ kind: "call", event: ev });
  }

  // Agent state (queues, pause, device state) → agent.state messages.
  const agents = new AgentTracker({
    // Device states arrive for every endpoint (trunks too): no "not mapped" log from here.
    userForDevice: (d) => directory.userForDevice(d, true),
    userForExtension: (e) => {
      const d = directory.deviceForExtension(e);
      return d === null ? null : directory.userForDevice(d, true);
    },
    coalesce: true,
    wrapUpOf: (userId) => wrapUps.stateOf(userId),
    onChange: (userId, state) => {
      try {
        bus.publish({ kind: "agent", userId, state });
        for (const q of state.queues) queueBoard.touch(q.queue);
      } catch (err) {
        log.error({ err, userId }, "agent state publish failed");
      }
    },
  });

  // After-call work (wrap-up.ts): its state shows in agent.state, its seconds in the call record.
  const wrapUps: WrapUps = new WrapUps({
    config: () => config.agents.wrapUp,
    store: recordedWrapUps(new WrapUpStore(db), recordFact),
    agents: {
      membersOf: (u) => agents.membersOf(u),
      memberWrapUpSeconds: (u, q) => agents.memberWrapUpSeconds(u, q),
      pausedFor: (r) => agents.pausedFor(r),
      // With the agent events around it (her phone going idle): one agent.state, not two.
      changed: (u) => {
        agents.touch(u);
        queueAgentFlush();
      },
    },
    queuePause: async (iface, queue, paused) => {
      const client = ami;
      if (!client?.isConnected) return false;
      const t = queuePause({ device: iface, queue, paused, ...(paused ? { reason: WRAP_UP_REASON } : {}) });
      const res = await client.action(t.name, t.fields);
      return res.response.headers.Response !== "Error";
    },
    now,
    log: log.child({ component: "wrapup" }),
    onEnded: (e) => {
      if (tracker.setWrapUp(e.callId, e.userId, e.seconds, Date.parse(e.endedAt))) return;
      // The tracker forgot the call (calls.keepEndedMs): publish the stored record, which has the seconds.
      const stored = callLog.get(e.callId);
      if (stored === null) return;
      for (const userId of [e.userId, null]) bus.publish({ kind: "call", event: { name: "callUpdated", userId, call: stored, at: now() } });
    },
  });

  const queueBoard = new QueueBoard({
    queueView: () => agents.queueView(),
    activeCalls: () => tracker.activeCalls(),
    queueStats: deps.queueStats ?? ((from) => callLog.queueStats(from)),
    timezone: config.agents.timezone,
    intervalMs: config.agents.queueStateIntervalMs,
    now,
    publish: (q) => bus.publish({ kind: "queue", queue: q }),
    // A cluster PBX worker's own WebSocket server has no clients: the gateways pick the supervisors.
    wanted: (q) => config.cluster.role === "pbx" || (cti?.watchesQueue(q) ?? false),
  });
  const doneStore = {
    get: (callId: string) => callLog.get(callId),
    markOpenDone: (callId: string, userIds: readonly string[] | null, at: string) => {
      return callLog.markOpenDone(callId, userIds, at);
    },
  };
  const markDone = createDoneMarker({ store: doneStore, published: (d) => bus.publish({ kind: "done", done: d }), now });

  const simulator = config.ami.mode === "simulator" ? new PbxSimulator({ ...config.ami.simulator, log: log.child({ component: "simulator" }) }) : null;
  const simSecret = deps.simulatorSecret ?? randomUUID();
  let ami: AmiClient | null = null;
  let http: HttpApi | null = null;
  let firstResyncDone = false;
  /** Since when the AMI link is not logged in (null while it is). */
  let pbxDownSince: number | null = now();
  /** The last moment the PBX was known up before the current outage (ends the calls the resync closes). */
  let linkLostAt: number | null = null;

  /** /healthz (health.ts). */
  function health(): Record<string, unknown> {
    return healthReport({ pbxUp: ami?.isConnected === true, pbxDownSince, writer, archive: archiver, activeCalls: tracker.activeCalls().length, clients: cti.clientCount, now });
  }

  // While the CoreShowChannels listing runs, live events wait, so that the listing (a
  // snapshot) is applied first and the events that followed it after (never the reverse).
  let backlog: AmiMessage[] | null = null;
  let backlogWarned = false;

  const originates = new OriginateWaiters();
  const pruner = new RetentionPruner({
    db,
    retentionDays: () => config.calls.retentionDays,
    now,
    log: log.child({ component: "retention" }),
    onPruned: (n) => m.pruned.inc(n),
    webhookRetentionDays: () => config.store.webhookRetentionDays,
  });

  const recordPruner =
    record &&
    new StoreRetention({ store: record, retentionDays: () => config.calls.retentionDays, now, log: log.child({ component: "retention" }), onPruned: (n) => m.pruned.inc(n) });

  const badField: OnBadField = (f) => trackerLog.debug(f, "unusable AMI field, fallback used");
  const reaper = new CallReaper({
    tracker,
    intervalMs: config.calls.reconcileIntervalMs,
    maxAgeMs: config.calls.maxCallAgeMs,
    now,
    log,
    onReaped: (reason, n) => m.reaped.inc({ reason }, n),
    listChannels: () => {
      const client = ami;
      if (!client?.isConnected || backlog) return null;
      return client.action("CoreShowChannels", []).then((listing) => {
        const ids = new Set<string>();
        for (const msg of listing.events) {
          const ev = toPbxEvent(msg, tracker.wantsVariable, badField);
          if (ev?.type === "channelListed") ids.add(ev.ch.channelId);
        }
        return ids;
      });
    },
  });

  /**
   * Agent changes go out once per burst of agent events: at the next call event, or
   * `ami.agentStateSettleMs` after the first of them (Asterisk 22 may split one change over two
   * writes); with 0, at the end of the AMI read (a microtask runs after the client has handed
   * over a whole read).
   */
  let agentFlushQueued = false;
  let agentFlushTimer: ReturnType<typeof setTimeout> | null = null;
  function flushAgents(): void {
    agentFlushQueued = false;
    if (agentFlushTimer) clearTimeout(agentFlushTimer);
    agentFlushTimer = null;
    agents.flush();
  }
  function queueAgentFlush(): void {
    if (agentFlushQueued) return;
    agentFlushQueued = true;
    const settleMs = config.ami.agentStateSettleMs;
    if (settleMs > 0) agentFlushTimer = setTimeout(flushAgents, settleMs);
    else queueMicrotask(flushAgents);
  }

  // Queue members and device states after each login (agentResync.ts).
  const agentResync = new AgentResync({
    agents,
    listing: () => config.ami.agentListing,
    maxQueued: () => config.ami.maxQueuedEvents,
    isCurrent: (client) => ami === client,
    toAgentEvent: (msg) => {
      const ev = toPbxEvent(msg, tracker.wantsVariable, badField);
      return ev && isAgentEvent(ev) ? ev : null;
    },
    reconcile: () => wrapUps.reconcile(),
    log,
  });

  function feed(msg: AmiMessage): void {
    const ev = toPbxEvent(msg, tracker.wantsVariable, badField);
    if (!ev) return;
    const debugEvents = trackerLog.isLevelEnabled("debug");
    if (isAgentEvent(ev)) {
      if (debugEvents) trackerLog.debug({ event: ev.type }, "ami agent event");
      // Bounded like the resync backlog: past it, applied at once (unordered against the listing).
      if (agentResync.hold(ev)) return;
      agents.handle(ev);
      if (agents.pending) queueAgentFlush();
      return;
    }
    if (agents.pending) flushAgents();
    reaper.noteEvent(ev);
    // --log-level debug: each event acted on, with its call (looked up before: a hangup may end it).
    const channelId = debugEvents ? eventChannelId(ev) : undefined;
    const before = channelId === undefined ? undefined : tracker.callIdOf(channelId);
    // An agent's answered leg hanging up starts her wrap-up, even while the caller stays on.
    const hungUp = ev.type === "hangup" ? (before ?? tracker.callIdOf(ev.ch.channelId)) : undefined;
    const touched = deps.onCallsTouched ? callsOf(ev) : null;
    tracker.handle(ev);
    if (touched) deps.onCallsTouched!(callsOf(ev, touched));
    if (hungUp !== undefined) legsHungUp(hungUp, ev.at);
    if (channelId !== undefined) {
      const callId = before ?? tracker.callIdOf(channelId);
      if (callId !== undefined) trackerLog.debug({ event: ev.type, channelId, callId }, "ami event");
    }
    if (ev.type === "originateResponse") originates.settle(ev.channelId, ev.ok, ev.reason);
  }

  /** The calls the channels and linkedids of `ev` belong to now, added to `into`. */
  function callsOf(ev: PbxEvent, into = new Set<string>()): Set<string> {
    const ids = new Set<string>();
    addEventIds(ev, ids);
    for (const id of ids) {
      const callId = tracker.callIdOf(id);
      if (callId !== undefined) into.add(callId);
    }
    return into;
  }

  function legsHungUp(callId: string, at: number): void {
    const call = tracker.getCall(callId);
    if (!call) return;
    for (const l of call.legs) if (l.userId !== null && l.state === "ended" && l.answeredAt !== null) wrapUps.partEnded(l.userId, call, at);
  }

  function onAmiEvent(msg: AmiMessage): void {
    m.amiEvents.inc();
    if (backlog) {
      if (backlog.length >= config.ami.maxQueuedEvents) {
        m.backlogOverflow.inc();
        if (!backlogWarned) log.warn({ bound: config.ami.maxQueuedEvents }, "resync backlog full, applying events unordered");
        backlogWarned = true;
        feed(msg);
        return;
      }
      backlog.push(msg);
      m.backlog.set(backlog.length);
      return;
    }
    feed(msg);
  }

  async function resync(client: AmiClient): Promise<void> {
    backlog = [];
    backlogWarned = false;
    tracker.beginResync();
    try {
      const listing = await client.action("CoreShowChannels", []);
      for (const ev of inCreationOrder(listing.events)) feed(ev);
      // Calls that vanished in an outage ended at the latest when the link was lost.
      tracker.endResync(linkLostAt ?? now());
      linkLostAt = null;
      if (!firstResyncDone) {
        firstResyncDone = true;
        closeVanishedCalls(callLog, tracker, now(), log);
      }
      log.info({ channels: listing.events.length, calls: tracker.activeCalls().length }, "pbx resynced");
      bus.publish({ kind: "pbx", status: "resynced", info: { calls: tracker.activeCalls().length } });
    } catch (err) {
      tracker.abortResync();
      log.warn({ err }, "resync listing failed");
    } finally {
      const held = backlog ?? [];
      backlog = null;
      m.backlog.set(0);
      for (const msg of held) feed(msg);
    }
    void agentResync.run(client);
  }

  // Rebuilt on reload when control settings change (the per-user budgets start full again).
  const commandHandler = () => createCommandHandler({
    config: config.control,
    log: log.child({ component: "control" }),
    ami: {
      action: (name, fields, opts) => {
        if (!ami) return Promise.reject(new Error("no PBX link"));
        return ami.action(name, fields, opts);
      },
      connected: () => ami?.isConnected ?? false,
    },
    calls: tracker,
    annotate: (user, callId, patch) => annotate(user, callId, patch),
    markDone: (user, callId, target) => markDone(user, callId, target),
    agentReady: (userId) => wrapUps.ready(userId),
    originateResult: (channelId, timeoutMs) => originates.wait(channelId, timeoutMs),
    ...(config.control.holdNotify ? { hold: config.control.holdNotify } : {}),
    queueInterfaces: (device, queue) => agents.memberInterfacesOf(device, queue),
    now,
  });
  let onCommand = commandHandler();

  // Who may annotate and the merge rule: control/annotations.ts, for the WebSocket and REST alike.
  const annotations = createAnnotations({
    liveCall: (callId) => tracker.getCall(callId),
    applyLive: (callId, a) => tracker.annotate(callId, a, now()),
    store: {
      get: (callId) => callLog.get(callId),
      annotations: (callId) => callLog.annotations(callId),
      annotate: (callId, entry, merged) => {
        const call = tracker.getCall(callId) ?? callLog.get(callId);
        const also = call ? webhooks.annotatedRows(call, merged, Date.parse(entry.at)) : undefined;
        const stored = callLog.annotate(callId, entry, merged, also);
        recordFact({ op: "annotate", callId, entry, merged });
        if (also) webhooks.kick();
        return stored;
      },
    },
    now,
  });
  /** An annotation; a disposition by the agent ends her wrap-up of that call (agents.wrapUp.endOnDisposition). */
  function annotate(user: { userId: string; role: "agent" | "supervisor" }, callId: string, patch: Parameters<typeof annotations.annotate>[2]) {
    const r = annotations.annotate(user, callId, patch);
    if (r.ok && typeof patch.disposition === "string") wrapUps.disposition(user.userId, callId);
    return r;
  }

  /** One client command (a WebSocket frame, or a gateway's request in cluster mode). */
  function command(user: { userId: string; role: "agent" | "supervisor" }, cmd: { id: string; action: string; args: unknown; connectionId: string }) {
    const u = directory.getUser(user.userId);
    // A supervisor without control rights acts like an agent: only on their own calls. An
    // annotation is no call control: supervisors may annotate any call (as over REST).
    const demote = user.role === "supervisor" && !config.control.supervisorsMayControl && cmd.action !== "call.annotate" && cmd.action !== "call.done";
    const role = demote ? "agent" : user.role;
    return onCommand({ userId: user.userId, role, devices: u?.devices ?? [] }, cmd);
  }

  cti = new CtiServer({
    config,
    log,
    db,
    directory,
    activeCalls: () => tracker.activeCalls(),
    getCall: (callId) => tracker.getCall(callId),
    agentStateOf: (userId) => agents.stateOf(userId),
    onCommand: (user, cmd) => command(user, cmd),
    now,
    version: VERSION,
    registry,
  });
  bus.subscribe(ctiSubscriber(cti));

  return {
    command,
    tracker,
    agents,
    db,
    directory,
    callLog,
    contacts,
    cti,
    wrapUps,
    queueBoard,
    registry,
    webhooks,
    bus,
    callStore,
    get ami() {
      return ami;
    },
    async start() {
      // Wrap-ups running when the daemon stopped go on (ended by reconcile if past their time).
      if (record) {
        try {
          await record.open();
        } catch (err) {
          await record.close().catch(() => undefined);
          throw new StoreOpenError(`store: ${describeStore(config, dbPath)} cannot be opened: ${String((err as Error)?.message ?? err).split("\n")[0]}`, { cause: err });
        }
        log.info({ store: describeStore(config, dbPath) }, "call archive open");
      }
      wrapUps.restore();
      let amiHost = config.ami.host;
      let amiPort = config.ami.port;
      let username = config.ami.username;
      let secret = config.ami.secret;
      if (simulator) {
        amiPort = await simulator.start();
        amiHost = "127.0.0.1";
        username = "ctibridge";
        secret = simSecret;
      }
      http = createHttpApi({
        config,
        log,
        cti,
        version: VERSION,
        registry,
        now,
        health: () => health(),
        listCalls: async (f) =>
          (await callStore.list({ userId: f.userId ?? undefined, since: f.since ?? undefined, missed: f.missed, openOnly: f.open, limit: f.limit, ...(f.before ? { before: f.before } : {}) })).map((c) =>
            toCallSnapshot(c, config.pop.urlTemplate),
          ),
        markDone: (user, callId, target) => markDone(user, callId, target),
        queues: () => queueBoard.all(),
        directory: () =>
          directory.listUsers().map((u) => ({ id: u.id, name: u.name, role: u.role, devices: [...u.devices], extensions: u.devices.map(deviceResource) })),
        annotate: (user, callId, body) => {
          const r = annotate(user, callId, body);
          return r.ok ? { ok: true, data: { annotation: r.annotation } } : { ok: false, error: { code: r.code, message: r.message } };
        },
        annotations: (user, callId) => {
          const r = annotations.history(user, callId);
          return r.ok ? { ok: true, data: r.annotations } : { ok: false, error: { code: r.code, message: r.message } };
        },
      });
      const port = await http.listen();
      const client = new AmiClient({
        ...config.ami,
        host: amiHost,
        port: amiPort,
        username,
        secret,
        log: log.child({ component: "ami" }),
        now,
        skipEvent: skipUnneeded(tracker.wantsVariable),
      });
      ami = client;
      client.on("event", onAmiEvent);
      client.on("connected", () => {
        m.amiConnected.set(1);
        pbxDownSince = null;
        void resync(client);
      });
      client.on("disconnected", ({ reason, upUntil }) => {
        m.amiConnected.set(0);
        // One pbx.disconnected per outage: the client also reports each failed reconnect attempt.
        if (pbxDownSince !== null) return;
        pbxDownSince = now();
        linkLostAt = upUntil;
        bus.publish({ kind: "pbx", status: "disconnected", info: { reason } });
      });
      client.on("reconnecting", () => m.reconnects.inc());
      client.start();
      reaper.start();
      pruner.start();
      recordPruner?.start();
      webhooks.start();
      return { port, amiPort };
    },
    async stop() {
      agentResync.stop();
      wrapUps.stop();
      queueBoard.stop();
      if (agentFlushTimer) clearTimeout(agentFlushTimer);
      agentFlushTimer = null;
      reaper.stop();
      pruner.stop();
      recordPruner?.stop();
      webhooks.stop();
      originates.clear();
      await ami?.stop();
      await cti.close();
      await http?.close();
      await simulator?.stop();
      writer.flush();
      if (record) {
        await archiver?.stop();
        await mirrored;
        await record.close();
      }
      await bus.close();
      db.close();
    },
    reloadUsers(next: Config) {
      directory.applyConfig(next.users);
      agents.remap();
      log.info({ users: next.users.length }, "users reloaded");
    },
    reload(next: Config) {
      return applyReload(config, next, {
        log,
        usersChanged: (users) => {
          directory.applyConfig(users);
          agents.remap();
        },
        contactsChanged: (c) => contacts.reconfigure(c),
        popChanged: () => cti.settingsChanged(),
        controlChanged: () => {
          onCommand = commandHandler();
        },
        userCount: () => directory.listUsers().length,
      });
    },
  };
}

/** SQLite's wrap-up rows, each write also a record fact on the bus (the record store's, or the stream's). */
function recordedWrapUps(local: WrapUpStore, fact: (r: RecordFact) => void): WrapUpStore {
  /** Start times of running wrap-ups (an end carries its start, so that a store can apply it first). */
  const since = new Map<string, string>();
  const key = (callId: string, userId: string) => `${callId}\n${userId}`;
  return Object.assign(Object.create(local) as WrapUpStore, {
    start: (r: Parameters<WrapUpStore["start"]>[0]) => {
      local.start(r);
      since.set(key(r.callId, r.userId), r.since);
      fact({ op: "wrapUpStart", callId: r.callId, row: r });
    },
    setPaused: (callId: string, userId: string, paused: [string, string][]) => {
      local.setPaused(callId, userId, paused);
      fact({ op: "wrapUpPaused", callId, userId, paused });
    },
    end: (...a: Parameters<WrapUpStore["end"]>) => {
      const [callId, userId, endedAt, seconds, reason] = a;
      const k = key(callId, userId);
      // Restored after a restart: the start is in the local rows.
      const started = since.get(k) ?? local.running().find((r) => r.callId === callId && r.userId === userId)?.since ?? null;
      since.delete(k);
      local.end(...a);
      fact({ op: "wrapUpEnd", callId, userId, endedAt, seconds, reason, since: started });
    },
  });
}
