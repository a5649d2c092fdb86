/**
 * The cluster's call log: PostgreSQL written from the stream by a durable JetStream consumer in
 * the gateways (bus/archive.ts), one gateway archiving at a time (a lease). Real nats-server,
 * real PostgreSQL, a fake PBX replaying recorded traces.
 *  1. In process: every call lands once and equals the supervisor's last WebSocket copy (REST on
 *     either gateway); annotations and wrap-up rows arrive; PostgreSQL stopped in the middle of
 *     calls and started again: the archiver holds its batch, reports it, and catches up with no
 *     call lost or doubled.
 *  2. Processes: the archiving gateway is killed (kill -9) while PostgreSQL is down and it holds
 *     an unacknowledged batch; the other gateway takes the archive lease, the server delivers the
 *     batch again, and every call is stored once.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { JetStreamBus, STREAM } from "../../src/bus/jetstream.js";
import { token } from "../../src/bus/entry.js";
import { configSchema } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { createGateway, type Gateway } from "../../src/roles/gateway.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { ClusterRig, JWT_SECRET } from "../helpers/clusterRig.js";
import { runCli } from "../helpers/cliRun.js";
import { TestClient } from "../helpers/cti.js";
import { E2E_USERS, waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { traceBytes } from "../helpers/traces.js";

const haveNats = natsAvailable();
const havePg = postgresBin() !== null;
if (!haveNats) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");
else if (!havePg) console.log(`cluster archive tests not run: ${POSTGRES_MISSING}`);

const BEFORE = ["01-inbound-answered", "07-queue-support-answered", "06-ringgroup-answered", "03-inbound-missed-caller-abandon"];
const DURING = ["16-blind-transfer-refer", "28-attended-transfer-dtmf", "11-outbound-answered", "38-queue-support-ringout-then-answered"];

const body = (name: string) => stripTracePreamble(traceBytes(name));
const withoutDone = (c: any) => ({ ...c, legs: c.legs.map(({ done: _done, ...l }: any) => l) });

/** Each call's last copy the supervisor received (the call-level copy), by callId. */
function lastCopies(sam: TestClient): Map<string, any> {
  const out = new Map<string, any>();
  for (const m of sam.messages) if (m.call) out.set(m.call.callId, m.call);
  return out;
}

async function rest(port: number, token: string, method: string, path: string, json?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json ? { "content-type": "application/json" } : {}) },
    ...(json ? { body: JSON.stringify(json) } : {}),
  });
  return { status: r.status, json: await r.json() };
}

async function count(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query(sql)).rows[0].n);
  } finally {
    await c.end();
  }
}

describe.skipIf(!haveNats || !havePg)("cluster: the call log written from the stream", () => {
  let nats: NatsServer;
  let pgs: PgServer;
  let pbx: AmiServer;
  let worker: PbxWorker | undefined;
  const gateways: Gateway[] = [];
  const rig = new ClusterRig();
  const pgConfig = () => ({ host: pgs.host, port: pgs.port, user: pgs.user, password: pgs.password, database: pgs.database });

  beforeAll(async () => {
    [nats, pgs] = await Promise.all([startNats(), startPostgres()]);
    pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
  }, 60_000);
  afterAll(async () => {
    for (const g of gateways) await g.stop().catch(() => undefined);
    await worker?.stop();
    await pbx?.close();
    await nats?.kill();
    await pgs?.destroy();
    await rig.close();
  });

  it("every call once, equal to its last frame; annotations and wrap-ups; a PostgreSQL restart loses nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-archive-"));
    const base = { users: E2E_USERS, trunks: ["PJSIP/carrier"], mode: "cluster", server: { host: "127.0.0.1", port: 0 }, auth: { jwtSecret: JWT_SECRET } };
    const { log, lines } = memoryLogger("info");
    worker = createPbxWorker({
      config: configSchema.parse({
        ...base,
        ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0 },
        agents: { wrapUp: { mode: "seconds", seconds: 1, calls: "all" } },
        cluster: { role: "pbx", pbxId: "lab", workerId: "w1", nats: { servers: [nats.url] } },
        store: { path: join(dir, "worker.db") },
      }),
      log,
      createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, ...hooks }),
    });
    await worker.start();
    await waitFor(() => worker!.daemon?.ami?.isConnected, "worker logged in", 1000);
    const ports = new Map<string, number>();
    for (const name of ["gA", "gB"]) {
      const g = createGateway({
        config: configSchema.parse({
          ...base,
          cluster: { role: "gateway", workerId: name, leaseTtlMs: 1000, nats: { servers: [nats.url] }, archive: { batchSize: 64 } },
          store: { kind: "postgres", path: join(dir, `${name}.db`), postgres: pgConfig() },
        }),
        log: log.child({ gateway: name }),
        version: "test",
      });
      ports.set(name, (await g.start()).port);
      gateways.push(g);
    }
    await waitFor(() => gateways.some((g) => g.archiver?.stats.active), "an archiver active", 500);
    // Exactly one gateway archives.
    expect(gateways.filter((g) => g.archiver!.stats.active)).toHaveLength(1);
    const active = gateways.find((g) => g.archiver!.stats.active)!;
    const port = ports.get("gB")!;

    const samToken = await rig.token("sam");
    const sam = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${samToken}`]));
    await sam.ready();
    const ended = (n: number) => waitFor(() => [...lastCopies(sam).values()].filter((c) => c.state === "ended").length >= n && true, `${n} calls ended`, 1000);
    const probe = await JetStreamBus.connect({ servers: [nats.url], name: "probe", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
    const archivedAll = async (what: string) => {
      await worker!.flushed();
      const last = await probe.lastSeq();
      await waitFor(() => active.archiver!.stats.lastSeq >= last && active.archiver!.stats.held === 0, what, 1000);
    };

    for (const t of BEFORE) await pbx.replay(body(t), { raw: true });
    await ended(1);
    await sam.sync();
    // The supervisor annotates the first answered call; the wrap-up of its agent runs out (1 s).
    const answered = [...lastCopies(sam).values()].find((c) => c.state === "ended" && c.outcome === "answered")!;
    sam.send({ type: "command", id: "a1", action: "call.annotate", args: { callId: answered.callId, recordId: "C-42", comment: "archived" } });
    expect((await sam.nextOf("command.result", 5000)).ok).toBe(true);
    await waitFor(() => count(pgs.url, "SELECT count(*) AS n FROM wrap_ups WHERE ended_at IS NOT NULL").then((n) => n > 0), "a wrap-up ended", 1000);
    await archivedAll("first traces archived");

    // PostgreSQL goes away in the middle of the next calls.
    await pgs.stop();
    for (const t of DURING) await pbx.replay(body(t), { raw: true });
    await waitFor(() => active.archiver!.stats.failingSince !== null, "the archiver notices", 1000);
    const health = await fetch(`http://127.0.0.1:${ports.get(active === gateways[0] ? "gA" : "gB")}/healthz`).then((r) => r.json());
    expect(health.archive).toMatch(/^write failing since .*, \d+ messages held$/);
    expect(health.status).toBe("ok"); // live pops go on: a load balancer keeps the gateway
    await pgs.restart();
    await archivedAll("caught up after the restart");
    expect(active.archiver!.stats.failingSince).toBeNull();
    expect(lines.some((l) => l.msg === "call archive writes work again")).toBe(true);
    await sam.sync();

    // Every call the supervisor saw, stored once and equal to its last copy (REST reads PostgreSQL).
    const copies = lastCopies(sam);
    const calls = [...copies.values()].filter((c) => c.mergedInto === null);
    expect(calls.every((c) => c.state === "ended")).toBe(true);
    expect(await count(pgs.url, "SELECT count(*) AS n FROM calls")).toBe(calls.length);
    for (const g of ["gA", "gB"]) {
      const r = await rest(ports.get(g)!, samToken, "GET", "/api/calls?limit=1000");
      expect(r.status).toBe(200);
      expect(r.json.calls).toHaveLength(calls.length);
      for (const c of calls) expect(withoutDone(r.json.calls.find((s: any) => s.callId === c.callId)), c.callId).toEqual({ ...c, pbxId: "lab" });
    }
    // The annotation: once in the history, merged on the call; the wrap-up's seconds on its leg.
    const hist = await rest(port, samToken, "GET", `/api/calls/${answered.callId}/annotations`);
    expect(hist.status).toBe(200);
    expect(hist.json.annotations).toEqual([{ by: "sam", at: expect.any(String), recordId: "C-42", comment: "archived" }]);
    expect(copies.get(answered.callId).annotation).toMatchObject({ recordId: "C-42", comment: "archived", by: "sam" });
    expect(await count(pgs.url, "SELECT count(*) AS n FROM wrap_ups WHERE ended_at IS NULL")).toBe(0);
    // Each answered leg's after-call work as stored (a placed call's wrap-up is kept, not shown on a leg: both stores).
    const c = new pg.Client({ connectionString: pgs.url });
    await c.connect();
    const rows = (await c.query("SELECT w.call_id, w.user_id, w.seconds FROM wrap_ups w JOIN legs l ON l.call_id = w.call_id AND l.user_id = w.user_id AND l.outcome = 'answered_by_me' ORDER BY 1, 2")).rows;
    await c.end();
    const legs = [...copies.values()].flatMap((x) => x.legs.filter((l: any) => typeof l.wrapUpSeconds === "number").map((l: any) => ({ call_id: x.callId, user_id: l.userId, seconds: l.wrapUpSeconds })));
    expect(rows).toEqual(legs.sort((a, b) => (a.call_id + a.user_id < b.call_id + b.user_id ? -1 : 1)));
    await probe.close();
  }, 60_000);

  it("kill -9 the archiving gateway while PostgreSQL is down: the other one stores its batch, once", async () => {
    rig.build();
    const gw = (name: string) =>
      rig
        .gatewayYaml({ nats: nats.url, name })
        .replace(
          /^cluster: .*$/m,
          `cluster: { role: gateway, workerId: ${name}, leaseTtlMs: 1000, nats: { servers: [${nats.url}] }, archive: { ackWaitMs: 2000, batchSize: 64 } }`,
        )
        .replace(/^store: \{ path: (.*) \}$/m, `store: { kind: postgres, path: $1, postgres: ${JSON.stringify(pgConfig())} }`);
    const g1 = rig.start("g1", gw("g1"));
    await rig.ready(g1);
    const g2 = rig.start("g2", gw("g2"));
    await rig.ready(g2);
    // The in-process gateways of the first test still compete for the lease: stop them first.
    for (const g of gateways.splice(0)) await g.stop();
    await waitFor(() => g1.has("archiving the stream into the call log") || g2.has("archiving the stream into the call log"), "a process archives", 1000);
    const [holder, other] = g1.has("archiving the stream into the call log") ? [g1, g2] : [g2, g1];
    const before = await count(pgs.url, "SELECT count(*) AS n FROM calls");

    const sam = await rig.connect(other.port()!, "sam");
    await sam.ready();
    await pgs.stop();
    for (const t of ["02-inbound-answered-agent-hangup", "15-hold-unhold", "14-internal-call"]) await pbx.replay(body(t), { raw: true });
    await waitFor(() => [...lastCopies(sam).values()].filter((c) => c.state === "ended").length >= 3, "three calls ended", 1000);
    await waitFor(() => holder.has("call archive write failed, will retry"), "the holder holds its batch", 1000);
    await rig.kill9(holder);
    await pgs.restart();
    await waitFor(() => other.has("archiving the stream into the call log"), "the other gateway takes the archive lease", 1000);
    const calls = [...lastCopies(sam).values()].filter((c) => c.mergedInto === null);
    // The batch the dead gateway held comes again after the ack wait (2 s) and is stored once.
    await waitFor(() => count(pgs.url, "SELECT count(*) AS n FROM calls").then((n) => n >= before + calls.length), "the held calls stored", 1000);
    // Caught up with the stream (the wrap-ups ending a second after their calls included).
    const probe = await JetStreamBus.connect({ servers: [nats.url], name: "probe2", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
    await waitFor(() => [...lastCopies(sam).values()].every((c) => c.legs.every((l: any) => l.outcome !== "answered_by_me" || "wrapUpSeconds" in l)), "wrap-ups over", 1000);
    const last = await probe.lastSeq();
    await probe.close();
    const archived = async () => Number(/^ctibridge_archive_last_seq (\d+)$/m.exec(await fetch(`http://127.0.0.1:${other.port()}/metrics`).then((r) => r.text()))?.[1] ?? 0);
    await waitFor(() => archived().then((n) => n >= last), "the other gateway caught up", 1000);
    expect(await count(pgs.url, "SELECT count(*) AS n FROM calls")).toBe(before + calls.length);
    const samToken = await rig.token("sam");
    const r = await rest(other.port()!, samToken, "GET", "/api/calls?limit=1000");
    // Each call's last copy now (its wrap-up's seconds arrived after the first look).
    const final = [...lastCopies(sam).values()].filter((c) => c.mergedInto === null);
    expect(final.map((c) => c.callId).sort()).toEqual(calls.map((c) => c.callId).sort());
    for (const c of final) expect(withoutDone(r.json.calls.find((s: any) => s.callId === c.callId)), c.callId).toEqual({ ...c, pbxId: "lab" });
  }, 60_000);

  it("ctibridge export and forget with a gateway's config work on the cluster's call log; forget also purges the stream's copies", async () => {
    const cfg = join(mkdtempSync(join(tmpdir(), "ctib-archive-cli-")), "gateway.yaml");
    writeFileSync(
      cfg,
      [
        "mode: cluster",
        `cluster: { role: gateway, nats: { servers: [${nats.url}] } }`,
        `store: { kind: postgres, path: ${JSON.stringify(join(tmpdir(), `ctib-archive-cli-${process.pid}.db`))}, postgres: ${JSON.stringify(pgConfig())} }`,
        "log: { level: silent }",
      ].join("\n") + "\n",
    );
    const stored = await count(pgs.url, "SELECT count(*) AS n FROM calls");
    const exported = await runCli(["export", "--config", cfg, "--format", "jsonl"]);
    expect(exported.code).toBe(0);
    const lines = exported.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(stored);
    expect(exported.err).toBe(`exported ${stored} calls\n`);
    // The caller of trace 01 and 02 (+4930123456): every call from that number goes, in the log and in the stream.
    const theirs = lines.filter((c) => c.from.e164 === "+4930123456").map((c) => c.callId);
    expect(theirs.length).toBeGreaterThan(0);
    const probe = await JetStreamBus.connect({ servers: [nats.url], name: "probe3", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
    const onStream = async (callId: string) => {
      try {
        return (await probe.jsm.streams.getMessage(STREAM, { last_by_subj: `cti.lab.call.${token(callId)}` })) !== null;
      } catch {
        return false;
      }
    };
    expect(await onStream(theirs[0]!)).toBe(true);
    const forgot = await runCli(["forget", "--config", cfg, "+49 30 123456"]);
    expect(forgot.code).toBe(0);
    expect(forgot.out).toMatch(new RegExp(`^purged \\d+ stream messages of those calls\nforgot \\+49 30 123456: ${theirs.length} calls, 0 contact numbers, 0 contacts deleted\n$`));
    expect(await count(pgs.url, "SELECT count(*) AS n FROM calls")).toBe(stored - theirs.length);
    for (const id of theirs) expect(await onStream(id), id).toBe(false);
    await probe.close();
  }, 60_000);

  it("call.done for a missed call the PBX's current worker never held (it ended before that worker took over): the call log decides, every tab gets call.done", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-archive-done-"));
    const base = { users: E2E_USERS, trunks: ["PJSIP/carrier"], mode: "cluster", server: { host: "127.0.0.1", port: 0 }, auth: { jwtSecret: JWT_SECRET } };
    const { log } = memoryLogger("info");
    const gw = createGateway({
      config: configSchema.parse({ ...base, cluster: { role: "gateway", workerId: "gD", leaseTtlMs: 1000, nats: { servers: [nats.url] } }, store: { kind: "postgres", path: join(dir, "gD.db"), postgres: pgConfig() } }),
      log,
      version: "test",
    });
    gateways.push(gw);
    const { port } = await gw.start();
    // (The archive lease may be another gateway's, the second test's: any archiver will do.)
    const alice = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await rig.token("alice")}`]));
    const sam = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await rig.token("sam")}`]));
    await alice.ready();
    await sam.ready();
    // Alice misses a call (trace 04: nobody answers in time), stored in the call log.
    await pbx.replay(body("04-inbound-missed-dial-timeout"), { raw: true });
    const missed = await alice.nextOf("call.missed", 5000);
    const callId: string = missed.call.callId;
    await waitFor(() => count(pgs.url, `SELECT count(*) AS n FROM legs WHERE call_id = '${callId}' AND outcome = 'missed' AND done = 0`).then((n) => n === 1), "the missed leg stored", 1000);
    // The worker that saw it goes; a new one serves the PBX with no memory of the call.
    await worker!.stop();
    worker = createPbxWorker({
      config: configSchema.parse({
        ...base,
        ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0 },
        cluster: { role: "pbx", pbxId: "lab", workerId: "w2", nats: { servers: [nats.url] } },
        store: { path: join(dir, "worker2.db") },
      }),
      log,
      createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, ...hooks }),
    });
    await worker.start();
    await waitFor(() => worker!.daemon?.ami?.isConnected, "worker 2 logged in", 1000);
    expect(worker.daemon!.callLog.get(callId)).toBeNull();

    alice.send({ type: "command", id: "d1", action: "call.done", args: { callId } });
    const result = await alice.nextOf("command.result", 5000);
    expect(result).toMatchObject({ id: "d1", ok: true, data: { callId, users: ["alice"] } });
    // The frame came before the result (the gateway answers once it has sent it), to sam too.
    const doneFrame = alice.messages.find((m) => m.type === "call.done");
    expect(doneFrame).toMatchObject({ callId, userId: "alice", by: "alice", reason: "marked", doneAt: result.data.doneAt });
    expect(alice.messages.indexOf(doneFrame)).toBeLessThan(alice.messages.indexOf(result));
    await waitFor(() => sam.messages.some((m) => m.type === "call.done" && m.callId === callId), "sam's call.done", 500);
    expect(await count(pgs.url, `SELECT count(*) AS n FROM legs WHERE call_id = '${callId}' AND done = 1 AND user_id = 'alice'`)).toBe(1);
    // Again: nothing open to close; and bob, no party of the call, may not.
    alice.send({ type: "command", id: "d2", action: "call.done", args: { callId } });
    expect(await alice.nextOf("command.result", 5000)).toMatchObject({ id: "d2", ok: false, error: { code: "invalid_state" } });
    const bob = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await rig.token("bob")}`]));
    await bob.ready();
    bob.send({ type: "command", id: "d3", action: "call.done", args: { callId } });
    expect(await bob.nextOf("command.result", 5000)).toMatchObject({ id: "d3", ok: false, error: { code: "forbidden" } });
    for (const c of [alice, sam, bob]) c.ws.terminate();
  }, 60_000);
});
