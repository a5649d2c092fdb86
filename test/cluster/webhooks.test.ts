/**
 * Webhooks in a cluster (docs/webhooks.md "Cluster mode"): real nats-server, real PostgreSQL, a
 * fake PBX replaying recorded traces, one PBX worker, two gateways as processes (the real CLI)
 * and a real HTTP receiver on 127.0.0.1. The archiving gateway writes each event's outbox rows
 * with its call in PostgreSQL and delivers them while it holds the archive lease.
 *  1. The receiver gets exactly the standalone daemon's events for the same traces and the same
 *     annotation: same types, same call objects but pbxId, each call's events in order, once.
 *  2. kill -9 of the delivering gateway while the receiver holds one of its requests: the other
 *     gateway takes the lease and delivers the rest; every event id arrives at least once (the
 *     held one again), the distinct ids are exactly the outbox's, and they de-duplicate to the
 *     standalone daemon's events.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { Outbox } from "../../src/store/outbox.js";
import { verifySignature } from "../../src/webhooks/signature.js";
import { ClusterRig, JWT_SECRET, type RoleProc } from "../helpers/clusterRig.js";
import { DaemonRig, E2E_USERS, rest as daemonRest, waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { traceBytes } from "../helpers/traces.js";
import { WebhookReceiver, type Received } from "../helpers/webhookReceiver.js";

const haveNats = natsAvailable();
const havePg = postgresBin() !== null;
if (!haveNats) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");
else if (!havePg) console.log(`cluster webhook tests not run: ${POSTGRES_MISSING}`);

const SECRET = "whsec-cluster-0123456789abcdef";
const ALL = ["call.dialing", "call.ringing", "call.answered", "call.held", "call.resumed", "call.transferred", "call.ended", "call.missed", "call.annotated"];
/** Phase 1: trace 06 first (its call is annotated once it ended), then these. */
const PHASE1 = ["03-inbound-missed-caller-abandon", "28-attended-transfer-dtmf", "11-outbound-answered"];
/** Phase 2: the delivering gateway is killed while these are delivered. */
const PHASE2 = ["07-queue-support-answered", "38-queue-support-ringout-then-answered", "16-blind-transfer-refer", "35-pickup-group", "08-queue-support-abandoned"];

/** Both targets, pointing at `rx` (the path names the target). */
function targets(rx: WebhookReceiver): Record<string, unknown>[] {
  const common = { secret: SECRET, minDelayMs: 50, maxDelayMs: 200, timeoutMs: 60_000, concurrency: 2 };
  return [
    { name: "crm", url: `http://127.0.0.1:${rx.port}/crm`, events: ALL, ...common },
    { name: "alice-desk", url: `http://127.0.0.1:${rx.port}/alice`, events: ["call.ringing", "call.missed", "call.ended", "call.annotated"], users: ["alice"], ...common },
  ];
}

/**
 * Each (target, call)'s events in order, as comparable text: without the event id, callIds
 * (UUIDs) numbered by first appearance within the call, times replaced (the traces carry no
 * Timestamp: times are arrival times, different in two runs, even in which of them are equal),
 * without `pbxId` (cluster only). Sorted, so calls delivered interleaved compare alike.
 */
function perCall(received: Received[]): string[] {
  const groups = new Map<string, Received["json"][]>();
  for (const r of received) {
    const key = `${r.json.webhook} ${r.json.call.callId}`;
    groups.set(key, [...(groups.get(key) ?? []), r.json]);
  }
  return [...groups.values()]
    .map((events) => {
      const ids = new Map<string, string>();
      const text = JSON.stringify(
        events.map(({ id: _id, ...e }) => {
          const call = { ...(e.call as Record<string, unknown>) };
          delete call.pbxId;
          return { ...e, call };
        }),
      );
      return text
        .replace(/"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g, (u) => `"${ids.get(u) ?? (ids.set(u, `uuid-${ids.size + 1}`), ids.get(u))}"`)
        .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/g, '"<time>"');
    })
    .sort();
}

/** The first 2xx request of each event id, in arrival order. */
function firstDeliveries(received: Received[]): Received[] {
  const seen = new Set<string>();
  return received.filter((r) => typeof r.answer === "number" && r.answer < 300 && !seen.has(r.json.id) && seen.add(r.json.id));
}

const body = (name: string) => stripTracePreamble(traceBytes(name));

/** The standalone daemon's deliveries: phase 1 (with the annotation), then phase 2. */
async function standalone(): Promise<{ phase1: Received[]; phase2: Received[] }> {
  const rig = new DaemonRig();
  const rx = new WebhookReceiver();
  await rx.listen(0);
  try {
    const d = await rig.start({ users: E2E_USERS, webhooks: targets(rx) });
    const settled = (what: string) =>
      waitFor(() => {
        const c = new Outbox(d.daemon.db).counts();
        return c.pending + c.failed === 0 && c.delivered === rx.received.length && c.delivered > 0;
      }, what);
    await d.replay(body("06-ringgroup-answered"));
    const ended = await waitFor(() => rx.received.find((r) => r.json.webhook === "crm" && r.json.type === "call.ended"), "06 ended");
    const note = await daemonRest(d, "sam", "POST", `/api/calls/${ended.json.call.callId}/annotate`, { recordId: "C-42", comment: "webhook" });
    expect(note.status).toBe(200);
    for (const t of PHASE1) await d.replay(body(t));
    await settled("standalone phase 1 delivered");
    const n = rx.received.length;
    for (const t of PHASE2) await d.replay(body(t));
    await settled("standalone phase 2 delivered");
    return { phase1: rx.received.slice(0, n), phase2: rx.received.slice(n) };
  } finally {
    await rig.close();
    await rx.close();
  }
}

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe.skipIf(!haveNats || !havePg)("cluster: webhooks from the PostgreSQL outbox", () => {
  let nats: NatsServer;
  let pgs: PgServer;
  let pbx: AmiServer;
  let worker: PbxWorker | undefined;
  const rig = new ClusterRig();
  const rx = new WebhookReceiver();
  let reference: { phase1: Received[]; phase2: Received[] };
  let holder: RoleProc;
  let other: RoleProc;

  beforeAll(async () => {
    [nats, pgs] = await Promise.all([startNats(), startPostgres()]);
    pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
    await rx.listen(0);
    reference = await standalone();
    rig.build();
  }, 120_000);
  afterAll(async () => {
    await rig.close();
    await worker?.stop();
    await pbx?.close();
    await rx.close();
    await nats?.kill();
    await pgs?.destroy();
  });

  it("the receiver gets exactly the standalone daemon's events: types, call objects (but pbxId), each call's order, once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-cluster-wh-"));
    const { log } = memoryLogger("warn");
    worker = createPbxWorker({
      config: configSchema.parse({
        users: E2E_USERS,
        trunks: ["PJSIP/carrier"],
        mode: "cluster",
        server: { host: "127.0.0.1", port: 0 },
        auth: { jwtSecret: JWT_SECRET },
        ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0 },
        cluster: { role: "pbx", pbxId: "lab", workerId: "w1", nats: { servers: [nats.url] } },
        store: { path: join(dir, "worker.db") },
      }),
      log,
      createDaemon: (cfg) => createDaemon({ config: cfg, log }),
    });
    await worker.start();
    await waitFor(() => worker!.daemon?.ami?.isConnected, "worker logged in", 1000);

    const pgConfig = JSON.stringify({ host: pgs.host, port: pgs.port, user: pgs.user, password: pgs.password, database: pgs.database });
    const hooks = ["webhooks:", ...targets(rx).map((t) => `  - ${JSON.stringify(t)}`)].join("\n");
    const gw = (name: string) =>
      rig
        .gatewayYaml({ nats: nats.url, name })
        .replace(/^cluster: .*$/m, `cluster: { role: gateway, workerId: ${name}, leaseTtlMs: 1000, nats: { servers: [${nats.url}] }, archive: { ackWaitMs: 2000, batchSize: 64 } }`)
        .replace(/^store: \{ path: (.*) \}$/m, `store: { kind: postgres, path: $1, postgres: ${pgConfig} }`) + hooks + "\n";
    const g1 = rig.start("g1", gw("g1"));
    await rig.ready(g1);
    const g2 = rig.start("g2", gw("g2"));
    await rig.ready(g2);
    const DELIVERING = "delivering webhooks from the call log's outbox";
    await waitFor(() => g1.has(DELIVERING) || g2.has(DELIVERING), "a gateway delivers", 1000);
    [holder, other] = g1.has(DELIVERING) ? [g1, g2] : [g2, g1];
    expect(other.has(DELIVERING)).toBe(false);

    await pbx.replay(body("06-ringgroup-answered"), { raw: true });
    const ended = await waitFor(() => rx.received.find((r) => r.json.webhook === "crm" && r.json.type === "call.ended"), "06 ended", 1000);
    // The annotation goes through the other gateway (REST → the worker → the stream → the archiver).
    const note = await fetch(`http://127.0.0.1:${other.port()}/api/calls/${ended.json.call.callId}/annotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${await rig.token("sam")}`, "content-type": "application/json" },
      body: JSON.stringify({ recordId: "C-42", comment: "webhook" }),
    });
    expect(note.status).toBe(200);
    for (const t of PHASE1) await pbx.replay(body(t), { raw: true });
    await waitFor(() => rx.received.length >= reference.phase1.length, "phase 1 delivered", 1000);
    await worker.flushed();
    // Nothing more comes: every outbox row is delivered, one request each.
    await waitFor(async () => (await query<{ n: number }>(pgs.url, "SELECT count(*)::int AS n FROM outbox WHERE state <> 'delivered'"))[0]!.n === 0, "outbox settled", 1000);
    const rows = await query<{ event_id: string }>(pgs.url, "SELECT event_id FROM outbox ORDER BY id");
    expect(rx.received).toHaveLength(reference.phase1.length);
    expect(rx.received.map((r) => r.json.id).sort()).toEqual(rows.map((r) => r.event_id).sort());
    expect(perCall(rx.received)).toEqual(perCall(reference.phase1));
    expect(rx.received.some((r) => r.json.type === "call.annotated" && r.json.webhook === "alice-desk")).toBe(true);
    expect(new Set(rx.received.map((r) => r.json.type))).toEqual(new Set(["call.dialing", "call.ringing", "call.answered", "call.held", "call.transferred", "call.ended", "call.missed", "call.annotated"]));
    for (const r of rx.received) {
      expect(r.json.call.pbxId).toBe("lab");
      expect(r.headers["x-ctibridge-event-id"]).toBe(r.json.id);
      expect(r.headers["x-ctibridge-attempt"]).toBe("1");
      expect(verifySignature(SECRET, r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000)).ok).toBe(true);
    }
  }, 60_000);

  it("kill -9 of the delivering gateway while the receiver holds its request: the other one delivers the rest, every id at least once", async () => {
    const start = rx.received.length;
    const phase1Ids = new Set(rx.received.map((r) => r.json.id));
    // The first request of phase 2 is held (no answer) until its gateway is dead.
    rx.answer = (n) => (n === start ? "hang" : 200);
    for (const t of PHASE2) await pbx.replay(body(t), { raw: true });
    const held = await waitFor(() => rx.received[start], "a request held", 1000);
    await rig.kill9(holder);
    rx.answer = () => 200;
    await waitFor(() => other.has("delivering webhooks from the call log's outbox"), "the other gateway delivers", 1000);
    const phase2 = () => rx.received.slice(start);
    await waitFor(() => new Set(firstDeliveries(phase2()).map((r) => r.json.id)).size >= reference.phase2.length, "phase 2 delivered", 1500);
    await worker!.flushed();
    await waitFor(async () => (await query<{ n: number }>(pgs.url, "SELECT count(*)::int AS n FROM outbox WHERE state <> 'delivered'"))[0]!.n === 0, "outbox settled", 1000);

    const all = (await query<{ event_id: string }>(pgs.url, "SELECT event_id FROM outbox")).map((r) => r.event_id).filter((id) => !phase1Ids.has(id));
    const got = firstDeliveries(phase2());
    // Exactly the outbox's events, each at least once; the held one again from the other gateway.
    expect(got.map((r) => r.json.id).sort()).toEqual(all.sort());
    expect(got).toHaveLength(reference.phase2.length);
    expect(phase2().filter((r) => r.json.id === held.json.id).map((r) => r.answer)).toEqual(["hang", 200]);
    // De-duplicated by id: the standalone daemon's events, each call's in order.
    expect(perCall(got)).toEqual(perCall(reference.phase2));
    for (const r of phase2()) expect(verifySignature(SECRET, r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000)).ok).toBe(true);
  }, 60_000);
});
