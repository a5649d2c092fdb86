/**
 * The daemon: the one place that knows every part. start() brings them up in order
 * (store → directory → tracker → simulator → HTTP/WebSocket → AMI link), stop() takes them
 * down in reverse. Everything arrives through `deps`; nothing here touches `process`.
 */
import { randomUUID } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import { AmiClient } from "./ami/client.js";
import type { AmiMessage } from "./ami/codec.js";
import { skipUnneeded, toPbxEvent, type OnBadField } from "./ami/events.js";
import { AgentTracker, isAgentEvent } from "./calls/agents.js";
import type { AnyCallEvent, Call, Match } from "./calls/model.js";
import { iso } from "./calls/outcomes.js";
import { CallTracker, trackerDepsFromConfig } from "./calls/tracker.js";
import type { Config } from "./config.js";
import { createCommandHandler } from "./control/commands.js";
import { ContactDirectory } from "./directory/contacts.js";
import { Directory } from "./directory/users.js";
import { createHttpApi, type HttpApi } from "./http/server.js";
import { createRegistry } from "./http/metrics.js";
import type { Logger } from "./log.js";
import { CtiServer } from "./publish/server.js";
import { PbxSimulator } from "./sim/pbxSimulator.js";
import { CallLog, CallLogWriter } from "./store/callLog.js";
import { defaultDbPath, openDb, type Db } from "./store/db.js";
import { closeVanishedCalls, externalNumber, OriginateWaiters } from "./daemonSupport.js";

export const VERSION = "0.1.0";

export interface DaemonDeps {
  config: Config;
  log: Logger;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** Secret the simulator accepts (demo); default: a random one per start. */
  simulatorSecret?: string;
}

export interface Daemon {
  start(): Promise<{ port: number; amiPort: number }>;
  stop(): Promise<void>;
  /** Re-read the users (SIGHUP). */
  reloadUsers(config: Config): void;
  readonly tracker: CallTracker;
  readonly agents: AgentTracker;
  readonly db: Db;
  readonly directory: Directory;
  readonly callLog: CallLog;
  readonly contacts: ContactDirectory;
  readonly cti: CtiServer;
  readonly ami: AmiClient | null;
  readonly registry: Registry;
}

export function createDaemon(deps: DaemonDeps): Daemon {
  const { config } = deps;
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const db = openDb(config.store.path ?? defaultDbPath(deps.env ?? {}));
  const directory = new Directory({ db, log: log.child({ component: "directory" }) });
  directory.applyConfig(config.users);
  const callLog = new CallLog(db);
  const writer = new CallLogWriter(callLog, db, (err, calls) => log.error({ err, calls }, "call log write failed, will retry"));
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
    storeBacklog: new Gauge({
      name: "ctibridge_store_backlog_calls",
      help: "Call snapshots waiting to be written (non-zero for long means the disk is failing)",
      registers: [registry],
      collect() {
        this.set(writer.backlog);
      },
    }),
  };

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
      found = contacts.lookup(number);
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
    if (ev.userId === null) {
      writer.save(ev.call, iso(ev.at));
      if (ev.name === "callEnded") log.info({ callId: ev.call.callId, direction: ev.call.direction, outcome: ev.call.outcome, from: ev.call.from.raw, to: ev.call.to.raw }, "call ended");
    }
    cti?.publish(ev);
  }

  // Agent state (queues, pause, device state) → agent.state messages.
  const agents = new AgentTracker({
    // Device states arrive for every endpoint (trunks too): no "not mapped" log from here.
    userForDevice: (d) => directory.userForDevice(d, true),
    userForExtension: (e) => {
      const d = directory.deviceForExtension(e);
      return d === null ? null : directory.userForDevice(d, true);
    },
    onChange: (userId, state) => {
      try {
        cti?.agentState(userId, state);
      } catch (err) {
        log.error({ err, userId }, "agent state publish failed");
      }
    },
  });

  const simulator = config.ami.mode === "simulator" ? new PbxSimulator({ ...config.ami.simulator, log: log.child({ component: "simulator" }) }) : null;
  const simSecret = deps.simulatorSecret ?? randomUUID();
  let ami: AmiClient | null = null;
  let http: HttpApi | null = null;
  let firstResyncDone = false;

  // While the CoreShowChannels listing runs, live events wait, so that the listing (a
  // snapshot) is applied first and the events that followed it after (never the reverse).
  let backlog: AmiMessage[] | null = null;
  let backlogWarned = false;

  const originates = new OriginateWaiters();

  const badField: OnBadField = (f) => trackerLog.debug(f, "unusable AMI field, fallback used");

  function feed(msg: AmiMessage): void {
    const ev = toPbxEvent(msg, tracker.wantsVariable, badField);
    if (!ev) return;
    if (isAgentEvent(ev)) return agents.handle(ev);
    tracker.handle(ev);
    if (ev.type === "originateResponse") originates.settle(ev.channelId, ev.ok, ev.reason);
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
      for (const ev of listing.events) feed(ev);
      tracker.endResync(now());
      if (!firstResyncDone) {
        firstResyncDone = true;
        closeVanishedCalls(callLog, tracker, now(), log);
      }
      await resyncAgents(client);
      log.info({ channels: listing.events.length, calls: tracker.activeCalls().length }, "pbx resynced");
      cti.pbxStatus("resynced", { calls: tracker.activeCalls().length });
    } catch (err) {
      log.warn({ err }, "resync listing failed");
    } finally {
      const held = backlog ?? [];
      backlog = null;
      m.backlog.set(0);
      for (const msg of held) feed(msg);
    }
  }

  /**
   * Queue members and device states, inside the same backlog window as the channel listing
   * (both actions sent at once: one round trip more, not two). Either may fail (no app_queue;
   * DeviceStateList needs Asterisk 13): logged and ignored; without a QueueStatus listing no
   * member is dropped. Never throws.
   */
  async function resyncAgents(client: AmiClient): Promise<void> {
    const actions = ["QueueStatus", "DeviceStateList"] as const;
    const results = await Promise.allSettled(actions.map((a) => client.action(a, [])));
    agents.beginResync();
    results.forEach((r, i) => {
      if (r.status === "fulfilled") for (const ev of r.value.events) feed(ev);
      // Expected on a PBX without app_queue or on Asterisk < 13: the reason is enough, no stack.
      else log.warn({ action: actions[i], reason: (r.reason as Error)?.message ?? String(r.reason) }, "agent state listing failed");
    });
    agents.endResync(results[0]!.status === "fulfilled");
    log.info({ membersListed: results[0]!.status === "fulfilled" }, "agent state resynced");
  }

  const onCommand = createCommandHandler({
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
    annotate: (userId, callId, a) => annotate(userId, callId, a),
    originateResult: (channelId, timeoutMs) => originates.wait(channelId, timeoutMs),
    ...(config.control.holdNotify ? { hold: config.control.holdNotify } : {}),
    queueInterfaces: (device, queue) => agents.memberInterfacesOf(device, queue),
    now,
  });

  function annotate(userId: string, callId: string, a: { recordId?: string; comment?: string; disposition?: string }) {
    const annotation = { ...a, by: userId, at: new Date(now()).toISOString() };
    const live = tracker.annotate(callId, annotation, now());
    const stored = callLog.annotate(callId, annotation);
    return live || stored ? { ok: true } : { ok: false, error: "no such call" };
  }

  cti = new CtiServer({
    config,
    log,
    db,
    directory,
    activeCalls: () => tracker.activeCalls(),
    agentStateOf: (userId) => agents.stateOf(userId),
    onCommand: (user, cmd) => {
      const u = directory.getUser(user.userId);
      // A supervisor without control rights acts like an agent: only on their own calls.
      const role = user.role === "supervisor" && !config.control.supervisorsMayControl ? "agent" : user.role;
      return onCommand({ userId: user.userId, role, devices: u?.devices ?? [] }, cmd);
    },
    now,
    version: VERSION,
    registry,
  });

  return {
    tracker,
    agents,
    db,
    directory,
    callLog,
    contacts,
    cti,
    registry,
    get ami() {
      return ami;
    },
    async start() {
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
        health: () => ({ pbx: ami?.isConnected ? "connected" : "disconnected", activeCalls: tracker.activeCalls().length, clients: cti.clientCount }),
        listCalls: (f) => callLog.list({ userId: f.userId ?? undefined, since: f.since ?? undefined, missed: f.missed, limit: f.limit }),
        annotate: (user, callId, body) => {
          const r = annotate(user.userId, callId, body);
          return r.ok ? { ok: true } : { ok: false, error: { code: "not_found", message: r.error ?? "no such call" } };
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
        void resync(client);
      });
      client.on("disconnected", ({ reason }) => {
        m.amiConnected.set(0);
        cti.pbxStatus("disconnected", { reason });
      });
      client.on("reconnecting", () => m.reconnects.inc());
      client.start();
      return { port, amiPort };
    },
    async stop() {
      originates.clear();
      await ami?.stop();
      await cti.close();
      await http?.close();
      await simulator?.stop();
      writer.flush();
      db.close();
    },
    reloadUsers(next: Config) {
      directory.applyConfig(next.users);
      agents.remap();
      log.info({ users: next.users.length }, "users reloaded");
    },
  };
}

