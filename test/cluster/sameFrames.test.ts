/**
 * Standalone and cluster give the same frames and calls: every recorded trace
 * (test/fixtures/ami, 44 files in 42 scenarios) replayed through one long-running standalone
 * daemon and through one PBX worker → JetStream (a real nats-server) → gateway, both fed the
 * same steps on one virtual clock. Per scenario, one client per lab user and a supervisor
 * connect on each side, both PBX links are dropped and resynced (a clean slate: no channel, no
 * agent state), the trace is replayed (a trace recorded over two AMI connections gets a PBX
 * restart between them), a second set of clients connects at its middle, and each agent marks
 * her missed calls done (`call.done`: in a cluster by request/reply to the worker). Every user's
 * frames must match field for field: the snapshot, agent.state, pbx.disconnected/resynced, every
 * call frame and call.done, and the supervisor's last queue.state per queue, after numbering
 * callIds and times by first appearance and dropping what differs by design: `seq` (the
 * stream's sequence in a cluster) and the `pbxId` of calls, agent states and their queues (cluster only).
 * The calls: the cluster's final call-level copies, and (with PostgreSQL installed) the
 * cluster's call log written from the stream by the gateway's archiver, both against the
 * standalone call log, on REST as the supervisor.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { JetStreamBus } from "../../src/bus/jetstream.js";
import { createGateway, type Gateway } from "../../src/roles/gateway.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { renumberTrace } from "../../src/sim/renumber.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { ClusterRig, JWT_SECRET } from "../helpers/clusterRig.js";
import type { TestClient } from "../helpers/cti.js";
import { DaemonRig, E2E_USERS, rest, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { memoryLogger, startFakeAmi, type AmiServer, type LogLine } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { traceBytes, traceFiles } from "../helpers/traces.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");
/** Without PostgreSQL the gateway keeps no call log: the cluster's REST history is not compared. */
const havePg = postgresBin() !== null;
if (have && !havePg) console.log(`sameFrames: the cluster's REST history not compared: ${POSTGRES_MISSING}`);

const EVERYONE = ["alice", "bob", "carol", "dave", "eve", "frank", "sam"];
/**
 * Not compared frame by frame: hello (connection id, version), pong (the sync), queue.state
 * (coalesced per queue board interval: how many depends on how TCP split a trace into reads;
 * the last one per queue is compared, `lastQueueStates`). A command.result comes after the
 * facts its command caused in both modes (a gateway answers once it has applied the stream
 * sequence the worker's reply names), so it is compared in frame order.
 */
const SKIP = new Set(["hello", "pong", "queue.state"]);
/** A reply to one client: its ts is the sender's clock. */
const REPLIES = new Set(["snapshot", "command.result"]);

/**
 * Every `.ami` file, as scenarios: a trace recorded across a PBX restart (`X-after-restart.ami`)
 * is the second connection of `X`; any other file (the click-to-dial originator's own
 * connection too) is a scenario of its own.
 */
function scenarios(): [string, string[]][] {
  const names = traceFiles().map((f) => f.replace(/\.ami$/, ""));
  const out = names.filter((n) => !n.endsWith("-after-restart")).map((n): [string, string[]] => [n, [n]]);
  for (const n of names.filter((x) => x.endsWith("-after-restart"))) {
    const base = out.find(([b]) => `${b}-after-restart` === n);
    if (!base) throw new Error(`${n}: no trace it continues`);
    base[1].push(n);
  }
  return out;
}
const SCENARIOS = scenarios();

/**
 * A trace's bytes after the login. The click-to-dial originator's connection saw the same call
 * as the other one, which the engines still keep as ended: renumbered, it is a call of its own.
 */
function body(part: string): Buffer {
  const bytes = traceBytes(part);
  return part.endsWith("-originator") ? renumberTrace(bytes, 1, { stripPreamble: true }) : stripTracePreamble(bytes);
}


/** Split after the middle message: a second set of clients connects there, mid-call in most traces. */
function halves(bytes: Buffer): [Buffer, Buffer] {
  const text = bytes.toString("latin1");
  const ends: number[] = [];
  for (let i = text.indexOf("\r\n\r\n"); i >= 0; i = text.indexOf("\r\n\r\n", i + 4)) ends.push(i + 4);
  const cut = ends[Math.floor(ends.length / 2)] ?? 0;
  return [bytes.subarray(0, cut), bytes.subarray(cut)];
}

/**
 * The virtual clock of both sides' engines (AMI arrival times, store, frames): it moves only
 * between steps, while both sides are idle, so arrival times cannot differ by how TCP split a
 * trace into reads. The gateway's own clock runs `GATEWAY_SKEW_MS` ahead: a gateway reads a
 * fact later than the worker saw it.
 */
const clock = { ms: Math.floor(Date.now() / 1000) * 1000 };
const tick = () => (clock.ms += 1000);
const GATEWAY_SKEW_MS = 7;
/** One queue.state per change batch on both sides (the interval counts on the virtual clock). */
const QUEUE_BOARD = { queueStateIntervalMs: 1 };

/**
 * Frames with callIds and times numbered by first appearance, without seq, the pbxId of calls,
 * agent states and their queues (a gateway merges a user's state over PBXs), and the frames in SKIP.
 */
function normalize(messages: any[]): unknown[] {
  const ids = new Map<string, string>();
  const id = (x: string) => {
    if (!ids.has(x)) ids.set(x, `call-${ids.size + 1}`);
    return ids.get(x)!;
  };
  const times = new Map<string, string>();
  const time = (x: string) => {
    if (!times.has(x)) times.set(x, `t${times.size + 1}`);
    return times.get(x)!;
  };
  return messages
    .filter((m) => !SKIP.has(m.type))
    .map((m) => {
      // A reply's ts is when its server sent it (a gateway's own clock), not the time of a fact.
      const text = JSON.stringify(REPLIES.has(m.type) ? { ...m, ts: null } : m)
        .replace(/"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g, (u) => `"${id(u.slice(1, -1))}"`)
        .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/g, (t) => `"${time(t.slice(1, -1))}"`);
      const o = JSON.parse(text);
      delete o.seq;
      if (o.call) delete o.call.pbxId;
      if (o.state) {
        delete o.state.pbxId;
        for (const q of o.state.queues ?? []) delete q.pbxId;
      }
      if (o.type === "snapshot") for (const c of o.calls) delete c.pbxId;
      return o;
    });
}

/** A command.result (a reply: its ts is the sender's clock), normalized. */
function resultOf(r: any): unknown {
  return normalize([{ ...r, type: "result", ts: null }])[0];
}

/** The newest queue.state per queue (a reply: its ts is the sender's clock), normalized alike. */
function lastQueueStates(messages: any[]): unknown[] {
  const last = new Map<string, any>();
  // The queue's pbxId is cluster only (as on calls and agent states).
  for (const m of messages) if (m.type === "queue.state") last.set(m.queue.queue, { type: "queue", queue: { ...m.queue, pbxId: undefined } });
  return [...last.keys()].sort().map((q) => normalize([last.get(q)])[0]);
}

/**
 * Calls as a set: each one normalized on its own (callIds, times by first appearance inside
 * the call, no pbxId), sorted. Calls started before `since` (ended by this scenario's PBX
 * restart, stored in an earlier one) are left out.
 */
function callSet(calls: any[], since: string, keepDone = false): string[] {
  return calls
    .filter((c) => c.times.started >= since)
    // `done` (a missed leg marked done) is the call log's, not the live call's.
    .map((call) => (keepDone ? call : { ...call, legs: call.legs.map(({ done: _, ...leg }: any) => leg) }))
    .map((call) => JSON.stringify(normalize([{ type: "call", call }])[0]))
    .sort();
}

/** The calls of the supervisor's call.ended frames, but a consultation merged into another (never stored on its own). */
const endedCalls = (messages: any[]) => messages.filter((m) => m.type === "call.ended" && m.call.mergedInto === null).map((m) => m.call);

/** One side of the comparison: connect clients, drop the PBX link and wait for the resync, replay, settle. */
interface Side {
  connect(userId: string): Promise<TestClient>;
  /** Drop the PBX link; resolves once the engine has relisted calls and agents and clients were told. */
  restartPbx(): Promise<void>;
  /** Replay trace bytes; resolves once everything they caused has been sent to the clients. */
  replay(bytes: Buffer): Promise<void>;
  /** A client's command; resolves with its result once everything it caused has been sent. */
  command(c: TestClient, id: string, action: string, args: unknown): Promise<any>;
}

function countOf(lines: LogLine[], msg: string): number {
  return lines.filter((l) => l.msg === msg).length;
}

/** Resolves once the engine logged a further "pbx resynced" and "agent state resynced" and the agent flush ran. */
async function relisted(pbx: AmiServer, lines: LogLine[], connected: () => boolean | undefined): Promise<void> {
  const calls = countOf(lines, "pbx resynced");
  const agents = countOf(lines, "agent state resynced");
  pbx.dropConnections();
  await waitFor(() => countOf(lines, "pbx resynced") > calls && countOf(lines, "agent state resynced") > agents && connected(), "resync after the PBX restart");
  await timersRan();
}

/**
 * Agent changes go out at the end of a read (agentStateSettleMs 0: a microtask), a queue board
 * 1 ms after its last change (queueStateIntervalMs 1 on a clock that stands still): a timer
 * set later for longer runs after them.
 */
const timersRan = () => new Promise((r) => setTimeout(r, 2));

describe.skipIf(!have)("standalone and cluster: the same frames per user", () => {
  let nats: NatsServer;
  let pbx: AmiServer;
  let worker: PbxWorker;
  let gateway: Gateway;
  let port = 0;
  let standalone: RunningDaemon;
  let probe: JetStreamBus;
  let pgs: PgServer | null = null;
  let alone: Side;
  let cluster: Side;
  const workerLog = memoryLogger("info");
  const clusterRig = new ClusterRig();
  const daemonRig = new DaemonRig();
  const now = () => clock.ms;

  beforeAll(async () => {
    [nats, pgs] = await Promise.all([startNats(), havePg ? startPostgres() : null]);
    probe = await JetStreamBus.connect({ servers: [nats.url], name: "probe", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
    pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
    const dir = mkdtempSync(join(tmpdir(), "ctib-same-"));
    const base = {
      users: E2E_USERS,
      trunks: ["PJSIP/carrier"],
      mode: "cluster",
      server: { host: "127.0.0.1", port: 0 },
      auth: { jwtSecret: JWT_SECRET },
      log: { level: "warn" },
    };
    const { log } = workerLog;
    const workerConfig = configSchema.parse({
      ...base,
      ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0, agentListing: { bootWaitMs: 2_000, attempts: 3, minDelayMs: 20, maxDelayMs: 50 } },
      agents: QUEUE_BOARD,
      cluster: { role: "pbx", pbxId: "lab", workerId: "w1", nats: { servers: [nats.url] } },
      store: { path: join(dir, "worker.db") },
    });
    worker = createPbxWorker({ config: workerConfig, log, now, createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, now, ...hooks }) });
    await worker.start();
    await waitFor(() => worker.daemon?.ami?.isConnected && countOf(workerLog.lines, "agent state resynced") > 0, "worker logged in", 1000);
    // With PostgreSQL the gateway is also the cluster's call log writer (bus/archive.ts) and REST reads it.
    const store = pgs ? { kind: "postgres", path: join(dir, "gateway.db"), postgres: { host: pgs.host, port: pgs.port, user: pgs.user, password: pgs.password, database: pgs.database } } : { path: join(dir, "gateway.db") };
    const gatewayConfig = configSchema.parse({ ...base, cluster: { role: "gateway", nats: { servers: [nats.url] } }, store });
    gateway = createGateway({ config: gatewayConfig, log: memoryLogger("warn").log, version: "test", now: () => clock.ms + GATEWAY_SKEW_MS });
    port = (await gateway.start()).port;
    if (pgs) await waitFor(() => gateway.archiver?.stats.active, "the gateway archives", 1000);
    standalone = await daemonRig.start({ users: E2E_USERS, now, agents: QUEUE_BOARD });

    alone = {
      async connect(userId) {
        const c = standalone.connect(userId);
        await c.ready();
        return c;
      },
      restartPbx: () => relisted(standalone.pbx, standalone.logs, () => standalone.daemon.ami?.isConnected),
      async replay(bytes) {
        await standalone.replay(bytes);
        await timersRan();
      },
      async command(c, id, action, args) {
        c.send({ type: "command", id, action, args });
        const r = await c.nextOf("command.result", 5000);
        await timersRan();
        return r;
      },
    };
    // Stored in the stream and applied by the gateway: then the gateway has sent it.
    const caughtUp = async () => {
      await worker.flushed();
      const last = await probe.lastSeq();
      await waitFor(() => gateway.stats().lastSeq >= last, "gateway caught up", 1000);
    };
    cluster = {
      async connect(userId) {
        const c = await clusterRig.connect(port, userId);
        await c.ready();
        return c;
      },
      async restartPbx() {
        await relisted(pbx, workerLog.lines, () => worker.daemon?.ami?.isConnected);
        await caughtUp();
      },
      async replay(bytes) {
        await pbx.replay(bytes, { raw: true });
        // Handled by the worker (a Ping round trip on its link), stored in the stream, applied by the gateway.
        await worker.daemon!.ami!.action("Ping", []);
        await timersRan();
        await caughtUp();
      },
      // By request/reply to the worker; what it published went through the stream.
      async command(c, id, action, args) {
        c.send({ type: "command", id, action, args });
        const r = await c.nextOf("command.result", 5000);
        await timersRan();
        await caughtUp();
        return r;
      },
    };
  }, 60_000);
  afterAll(async () => {
    await daemonRig.close();
    await gateway?.stop();
    await worker?.stop();
    await pbx?.close();
    await probe?.close();
    await nats?.kill();
    await pgs?.destroy();
    await clusterRig.close();
  });

  /**
   * The cluster's call log as REST gives it (the supervisor, GET /api/calls on the gateway) once
   * the archiver stored the stream up to its end; null without PostgreSQL.
   */
  async function clusterHistory(since: string): Promise<any[] | null> {
    if (!pgs) return null;
    await worker.flushed();
    const last = await probe.lastSeq();
    await waitFor(() => gateway.archiver!.stats.lastSeq >= last && gateway.archiver!.stats.held === 0, "the archiver stored the stream", 1000);
    const r = await fetch(`http://127.0.0.1:${port}/api/calls?since=${encodeURIComponent(since)}&limit=1000`, { headers: { authorization: `Bearer ${await clusterRig.token("sam")}` } });
    expect(r.status).toBe(200);
    return ((await r.json()) as { calls: any[] }).calls;
  }

  /** One step on both sides at once, at one virtual time. */
  async function both<T>(fn: (s: Side) => Promise<T>): Promise<[T, T]> {
    tick();
    return Promise.all([fn(alone), fn(cluster)]);
  }

  it("plays every recorded trace", () => {
    expect(SCENARIOS.flatMap(([, parts]) => parts).sort()).toEqual(traceFiles().map((f) => f.replace(/\.ami$/, "")).sort());
    expect(SCENARIOS.filter(([, parts]) => parts.length > 1).map(([n]) => n)).toEqual(["42-pbx-restart-queue-listing", "45-core-restart-now-mid-call"]);
  });

  it.each(SCENARIOS)("%s", async (name, parts) => {
    const open: TestClient[] = [];
    const connectAll = () =>
      both(async (s) => {
        const clients = new Map<string, TestClient>();
        for (const u of EVERYONE) {
          const x = await s.connect(u);
          open.push(x);
          clients.set(u, x);
        }
        return clients;
      });
    const since = new Date(clock.ms + 1000).toISOString();
    try {
      const [a, c] = await connectAll();
      await both((s) => s.restartPbx());
      const before = a.get("sam")!.messages.length;
      // Late clients connect in the middle of the first connection's trace: snapshots of calls in progress.
      let late: [Map<string, TestClient>, Map<string, TestClient>] | null = null;
      for (const [i, part] of parts.entries()) {
        if (i > 0) await both((s) => s.restartPbx());
        const [head, tail] = i === 0 ? halves(body(part)) : [body(part), Buffer.alloc(0)];
        await both((s) => s.replay(head));
        if (i === 0) late = await connectAll();
        if (tail.length > 0) await both((s) => s.replay(tail));
      }
      // Each missed call marked done by its agent (a command: through the gateway to the worker).
      for (const u of EVERYONE.filter((x) => x !== "sam")) {
        const missed = [a, c].map((side) => side.get(u)!.messages.filter((m) => m.type === "call.missed").map((m) => m.call.callId));
        expect(missed[1]!.length, `${name}: ${u}'s missed calls`).toBe(missed[0]!.length);
        for (const [k, callId] of missed[0]!.entries()) {
          const [ra, rc] = await both((s) => s.command((s === alone ? a : c).get(u)!, `done-${k}`, "call.done", { callId: s === alone ? callId : missed[1]![k] }));
          expect(resultOf(rc), `${name}: ${u} marks a missed call done`).toEqual(resultOf(ra));
        }
      }
      await Promise.all(open.map((x) => x.sync()));
      // The trace told the supervisor something (42 has no call: its agents' queue listing).
      expect(a.get("sam")!.messages.filter((m) => m.type !== "pong").length, "the supervisor's frames").toBeGreaterThan(before);
      const snapshotsOf = (m: Map<string, TestClient>) => EVERYONE.map((u) => normalize(m.get(u)!.messages.filter((x) => x.type === "snapshot")));
      // A client connecting mid-call gets the same snapshot from a gateway as from a standalone
      // daemon: a change the tracker made without a fact reaches the gateways as a bus "view".
      expect(snapshotsOf(late![1]), `${name}: mid-call snapshots alike`).toEqual(snapshotsOf(late![0]));
      for (const [alone, clustered, who] of [[a, c, ""], [late![0], late![1], " (late)"]] as const) {
        const frames = (x: TestClient) => x.messages;
        for (const u of EVERYONE) expect(normalize(frames(clustered.get(u)!)), `${name}: ${u}${who}`).toEqual(normalize(frames(alone.get(u)!)));
        expect(lastQueueStates(clustered.get("sam")!.messages), `${name}: the queue boards${who}`).toEqual(lastQueueStates(alone.get("sam")!.messages));
      }
      expect(c.get("sam")!.messages.filter((m) => m.call && m.call.pbxId !== "lab")).toEqual([]);

      // The calls: the standalone call log (REST, as the supervisor) against the cluster's final
      // call-level copies, which are what the cluster's archiver stores.
      const stored = (await rest(standalone, "sam", "GET", `/api/calls?since=${encodeURIComponent(since)}&limit=1000`)).json.calls;
      expect(stored.length > 0, `${name}: calls stored`).toBe(name !== "42-pbx-restart-queue-listing");
      expect(callSet(endedCalls(c.get("sam")!.messages), since), `${name}: the cluster's calls are the standalone call log's`).toEqual(callSet(stored, since));
      const history = await clusterHistory(since);
      if (history !== null) expect(callSet(history, since, true), `${name}: the cluster's call log (REST)`).toEqual(callSet(stored, since, true));
    } finally {
      for (const x of open) x.ws.terminate();
    }
  });

  it("a command goes from the gateway to the owning PBX's worker by request/reply and its result comes back", async () => {
    tick();
    const alice = await cluster.connect("alice");
    await cluster.replay(body("01-inbound-answered"));
    const ended = await alice.nextOf("call.ended", 5000);
    expect(ended.call.pbxId).toBe("lab");
    // The worker's annotation policy and store answer (alice was a party of the call).
    alice.send({ type: "command", id: "n1", action: "call.annotate", args: { callId: ended.call.callId, comment: "via the gateway" } });
    const r1 = await alice.nextOf("command.result", 5000);
    expect(r1).toMatchObject({ id: "n1", ok: true, data: { annotation: { comment: "via the gateway", by: "alice" } } });
    // An unknown call: still routed (the only PBX), refused by the worker.
    alice.send({ type: "command", id: "n2", action: "hangup", args: { callId: "no-such-call" } });
    const r2 = await alice.nextOf("command.result", 5000);
    expect(r2).toMatchObject({ id: "n2", ok: false, error: { code: "not_found" } });
    alice.ws.terminate();
  });
});
