/**
 * Live: the cluster against the real lab PBX. A nats-server and (when installed) PostgreSQL on
 * 127.0.0.1, two PBX worker processes (the built CLI) logged in to the lab's Asterisk in turn,
 * a gateway with the call log, an agent tab per ring-group member and a supervisor. A caller
 * dials the ring group (1001, 1002, 1003); while the three phones ring, the active worker gets
 * SIGKILL; the standby takes the lease, lists the real PBX's channels and goes on; bob answers,
 * the caller hangs up. Each agent's frames must be the recorded scenario's, every client sees
 * `pbx.failover`, the callId and start time survive, and the call log holds the call once.
 * `npm run test:live`; skipped when no lab AMI answers or nats-server is missing.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { ClusterRig, type RoleProc } from "../helpers/clusterRig.js";
import type { TestClient } from "../helpers/cti.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { LAB_AMI, labUnavailable, runScenario } from "./lab.js";
import { Phones, within } from "./rig.js";

const unavailable = (await labUnavailable()) ?? (natsAvailable() ? null : "nats-server is not installed");
if (unavailable) console.warn(`test:live cluster skipped: ${unavailable}`);

const live = (c: TestClient) => c.messages.filter((m) => m.type !== "hello" && m.type !== "snapshot" && m.type !== "agent.state" && m.type !== "queue.state" && m.type !== "pong");
const callFrames = (c: TestClient) => live(c).filter((m) => m.call).map((m) => m.type + (m.reason ? `(${m.reason})` : ""));

describe.skipIf(unavailable !== null)("live: the cluster against the lab PBX", () => {
  let nats: NatsServer | undefined;
  let pgs: PgServer | undefined;
  const rig = new ClusterRig();
  const phones: Phones[] = [];
  /** The gateway of the first test, reused by the scenarios. */
  let gateway: RoleProc | undefined;
  afterAll(async () => {
    for (const p of phones) await p.quit();
    await rig.close();
    await nats?.kill();
    await pgs?.destroy();
  });

  it("kill -9 the active worker while a ring group rings: the standby goes on with the real PBX; frames as recorded; the call stored once", async () => {
    nats = await startNats();
    pgs = postgresBin() ? await startPostgres() : undefined;
    rig.build();
    const worker = (id: string) =>
      rig.start(
        `worker-${id}`,
        rig
          .workerYaml({ nats: nats!.url, pbxId: "lab", workerId: id, amiPort: LAB_AMI.port, leaseTtlMs: 2000 })
          .replace("username: ctibridge, secret: s3cret", `username: ${LAB_AMI.username}, secret: ${LAB_AMI.secret}`)
          .replace("host: 127.0.0.1, port:", `host: ${LAB_AMI.host}, port:`),
      );
    const a = worker("A");
    await rig.ready(a);
    await within(() => a.has("pbx resynced"), "worker A resynced at the lab PBX", 20);
    const b = worker("B");
    await rig.ready(b);
    expect(b.has("standing by (another worker holds the lease)")).toBe(true);
    const store = pgs ? `kind: postgres, postgres: { host: 127.0.0.1, port: ${pgs.port}, user: ${pgs.user}, password: ${pgs.password}, database: ${pgs.database} }` : undefined;
    const g = rig.start("gw", rig.gatewayYaml({ nats: nats.url, name: "gw", ...(store ? { store } : {}) }));
    await rig.ready(g);
    gateway = g;
    const users = ["alice", "bob", "carol", "sam"];
    const clients = new Map<string, TestClient>();
    for (const u of users) {
      const c = await rig.connect(g.port()!, u);
      await c.nextOf("snapshot", 5000);
      clients.set(u, c);
    }

    const p = new Phones();
    phones.push(p);
    await p.do("agents 1001 1002 1003");
    await p.do("call c1 +4930123456 4930555001");
    for (const ext of ["1001", "1002", "1003"]) await p.do(`ring ${ext}`);
    for (const u of ["alice", "bob", "carol"]) await within(() => live(clients.get(u)!).some((m) => m.type === "call.ringing"), `${u} ringing`, 10);
    const ringing = live(clients.get("sam")!).find((m) => m.type === "call.ringing");

    const killedAt = Date.now();
    await rig.kill9(a);
    for (const u of users) await within(() => live(clients.get(u)!).some((m) => m.type === "pbx.failover"), `${u} pbx.failover`, 15);
    const failoverMs = Date.now() - killedAt;
    await p.do("answer 1002");
    await p.do("hangup c1");
    await p.do("gone c1");
    for (const u of users) await within(() => live(clients.get(u)!).some((m) => m.type === "call.ended"), `${u} call.ended`, 15);
    for (const c of clients.values()) await c.sync();
    // The scenarios below start their own phones with these extensions.
    await p.quit();

    const recorded = RECORDED_FRAMES.find(([n]) => n === "06-ringgroup-answered")![1];
    for (const u of ["alice", "bob", "carol"]) expect(callFrames(clients.get(u)!), u).toEqual(recorded[u]);
    for (const u of users) {
      const frames = live(clients.get(u)!);
      expect(frames.filter((m) => m.type === "pbx.failover"), u).toMatchObject([{ pbxId: "lab" }]);
      const seqs = frames.map((m) => m.seq);
      expect(seqs, `${u} seqs grow`).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size, `${u} no frame twice`).toBe(seqs.length);
    }
    const samFrames = live(clients.get("sam")!).filter((m) => m.call);
    expect(new Set(samFrames.map((m) => m.call.callId))).toEqual(new Set([ringing.call.callId]));
    const ended = samFrames.at(-1);
    expect(ended.type).toBe("call.ended");
    expect(ended.call.times.started).toBe(ringing.call.times.started);
    expect(ended.call).toMatchObject({ outcome: "answered", answeredBy: { userId: "bob" }, restored: true, pbxId: "lab" });
    expect(ended.call.legs.map((l: any) => [l.userId, l.outcome]).sort()).toEqual([
      ["alice", "answered_elsewhere"],
      ["bob", "answered_by_me"],
      ["carol", "answered_elsewhere"],
    ]);
    if (pgs) {
      const db = new pg.Client({ connectionString: pgs.url });
      await db.connect();
      try {
        const rows = await within(async () => {
          const r = (await db.query("SELECT call_id, state, outcome, answered_by_user, started_at FROM calls")).rows;
          return r.length > 0 && r.every((x) => x.state === "ended") ? r : null;
        }, "the call archived, ended", 15);
        expect(rows).toEqual([{ call_id: ringing.call.callId, state: "ended", outcome: "answered", answered_by_user: "bob", started_at: ringing.call.times.started }]);
      } finally {
        await db.end();
      }
    }
    console.log(`live cluster: kill -9 of the active worker → pbx.failover at every client within ${failoverMs} ms (lease 2000 ms); call log ${pgs ? "checked" : "not checked (no postgresql)"}`);
  });

  /**
   * The lab's scenarios through the cluster (the worker that took over above, the gateway): each
   * agent's frames must be the recorded trace's, as the standalone live test requires
   * (test/live/scenarios.test.ts), and the call log must hold each call once, ended.
   * `CTIBRIDGE_LIVE_CLUSTER_SCENARIOS` names them (default: transfers, a queue, a pickup, a park).
   */
  const NAMES = (process.env.CTIBRIDGE_LIVE_CLUSTER_SCENARIOS ?? "01-inbound-answered,07-queue-support-answered,16-blind-transfer-refer,28-attended-transfer-dtmf,35-pickup-group")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  it.each(NAMES)("%s through the cluster: each agent's frames as recorded, the call log", async (name) => {
    const g = gateway!;
    const agents = ["alice", "bob", "carol", "dave", "eve", "frank"];
    const clients = new Map<string, TestClient>();
    for (const u of agents) {
      const c = await rig.connect(g.port()!, u);
      await c.nextOf("snapshot", 5000);
      clients.set(u, c);
    }
    const before = pgs ? await callRows() : [];
    const json = await runScenario(name);
    for (const c of clients.values()) await c.sync();
    // 01 is not in the replay table (its frames are one agent's: test/live/scenarios.test.ts names them too).
    const recorded = name === "01-inbound-answered" ? { alice: ["call.ringing", "call.answered", "call.ended"] } : RECORDED_FRAMES.find(([n]) => n === name)?.[1];
    expect(recorded, `${name} has recorded frames`).toBeDefined();
    for (const u of agents) expect(callFrames(clients.get(u)!), `${name}: ${u}`).toEqual(recorded![u] ?? []);
    for (const c of clients.values()) c.ws.terminate();
    if (!pgs) return;
    const wanted = json.expected_outcomes.calls.length;
    const added = await within(async () => {
      const rows = (await callRows()).filter((r) => !before.some((b) => b.call_id === r.call_id));
      return rows.length >= wanted && rows.every((r) => r.state === "ended") ? rows : null;
    }, `${name}: calls archived`, 20);
    expect(new Set(added!.map((r) => r.call_id)).size).toBe(added!.length);
    expect(added!.map((r) => r.outcome).sort()).toEqual(json.expected_outcomes.calls.map((c: any) => String(c.outcome).split(/[\s(,]/)[0]).sort());
  });

  async function callRows(): Promise<{ call_id: string; state: string; outcome: string | null }[]> {
    const db = new pg.Client({ connectionString: pgs!.url });
    await db.connect();
    try {
      return (await db.query("SELECT call_id, state, outcome FROM calls")).rows;
    } finally {
      await db.end();
    }
  }
});
