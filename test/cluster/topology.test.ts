/**
 * The whole cluster of issue 13 at once, every part a real process on 127.0.0.1: a three-node
 * JetStream cluster (stream and buckets with 3 replicas), PostgreSQL, two fake PBXs (hamburg,
 * berlin) replaying recorded calls, two PBX workers per PBX (compiled CLI, `ctibridge start`),
 * two gateways with the call log, and 312 WebSocket clients spread over the gateways. In the
 * middle of a call on each PBX, one after the other: the active worker of hamburg is killed
 * (kill -9), one gateway is killed (kill -9), one NATS node is killed, PostgreSQL is stopped;
 * then the calls go on and PostgreSQL comes back. Afterwards:
 *  - every agent tab has exactly its recorded frame sequence (the same as standalone), the
 *    tabs of the dead gateway after resuming on the other one from their last seq: nothing
 *    lost, nothing twice, seqs growing;
 *  - every tab saw `pbx.failover` for hamburg; the supervisor's copies of both calls are whole;
 *  - the call log holds each call once, equal to the supervisor's last copy.
 * The time from the kill to the failover frame is printed (a measurement, not asserted).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterRig } from "../helpers/clusterRig.js";
import type { TestClient } from "../helpers/cti.js";
import { waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { LAB_USERS } from "../helpers/labConfig.js";
import { listingAfter } from "../helpers/listing.js";
import { natsAvailable, startNatsCluster, type NatsServer } from "../helpers/natsServer.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { beforeFirstAnswer, traceHalves } from "../helpers/traces.js";

const haveNats = natsAvailable();
const havePg = postgresBin() !== null;
if (!haveNats) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");
else if (!havePg) console.log(`cluster topology test not run: ${POSTGRES_MISSING}`);

const H_TRACE = "06-ringgroup-answered";
const B_TRACE = "07-queue-support-answered";
const TABS = 12; // per user and gateway: 13 users × 2 gateways × 12 = 312 clients

/** A trace cut just before the first agent phone answers (its calls ring). */
const halves = (name: string) => traceHalves(name, beforeFirstAnswer);

/** The lab users on hamburg under their own ids, again on berlin as `<id>-b`: two sites with the same extensions. */
const HAMBURG = LAB_USERS.map((u) => ({ id: u.id, devices: u.devices.map((d) => `hamburg:${d}`) }));
const BERLIN = LAB_USERS.map((u) => ({ id: `${u.id}-b`, devices: u.devices.map((d) => `berlin:${d}`) }));
const USERS_YAML = [
  "users:",
  ...[...HAMBURG, ...BERLIN].map((u) => `  - { id: ${u.id}, name: "${u.id}", devices: [${u.devices.join(", ")}] }`),
  '  - { id: sam, name: "Sam", devices: [], role: supervisor }',
].join("\n");
const EVERYONE = [...HAMBURG.map((u) => u.id), ...BERLIN.map((u) => u.id), "sam"];

const live = (c: TestClient) => c.messages.filter((m) => m.type !== "hello" && m.type !== "snapshot" && m.type !== "agent.state" && m.type !== "queue.state" && m.type !== "pong");
const callFrames = (ms: any[]) => ms.filter((m) => m.call).map((m) => m.type + (m.reason ? `(${m.reason})` : ""));
const withoutDone = (c: any) => ({ ...c, legs: c.legs.map(({ done: _done, ...l }: any) => l) });

function expectedFor(user: string): string[] {
  const table = (name: string) => RECORDED_FRAMES.find(([n]) => n === name)![1];
  if (user.endsWith("-b")) return table(B_TRACE)[user.slice(0, -2)] ?? [];
  return table(H_TRACE)[user] ?? [];
}

describe.skipIf(!haveNats || !havePg)("the whole cluster: 3 NATS nodes, PostgreSQL, 2 PBXs × 2 workers, 2 gateways, 312 clients", () => {
  let nodes: NatsServer[] = [];
  let pgs: PgServer;
  const pbx: Record<string, AmiServer> = {};
  const rig = new ClusterRig();

  beforeAll(async () => {
    [nodes, pgs] = await Promise.all([startNatsCluster(3), startPostgres()]);
    for (const id of ["hamburg", "berlin"]) {
      pbx[id] = await startFakeAmi({ fullyBooted: true });
      pbx[id]!.setList("QueueStatus", []).setList("DeviceStateList", []);
    }
    rig.build();
  }, 120_000);
  afterAll(async () => {
    await rig.close();
    for (const p of Object.values(pbx)) await p.close();
    for (const n of nodes) await n.kill();
    await pgs?.destroy();
  });

  it("kill -9 a worker and a gateway, kill a NATS node, restart PostgreSQL, mid-call: no frame or call lost or doubled", async () => {
    const servers = nodes.map((n) => n.url).join(", ");
    const worker = (pbxId: string, workerId: string) =>
      rig.start(`worker-${workerId}`, rig.workerYaml({ nats: servers, replicas: 3, pbxId, workerId, amiPort: pbx[pbxId]!.port, leaseTtlMs: 1000, users: USERS_YAML }));
    const ha = worker("hamburg", "H1");
    const ba = worker("berlin", "B1");
    for (const w of [ha, ba]) {
      await rig.ready(w);
      await waitFor(() => w.has("pbx resynced"), `${w.name} resynced`, 1000);
    }
    const hb = worker("hamburg", "H2");
    const bb = worker("berlin", "B2");
    for (const w of [hb, bb]) await rig.ready(w);
    expect(hb.has("standing by (another worker holds the lease)") && bb.has("standing by (another worker holds the lease)")).toBe(true);
    const pgStore = `kind: postgres, postgres: { host: 127.0.0.1, port: ${pgs.port}, user: ${pgs.user}, password: ${pgs.password}, database: ${pgs.database} }`;
    const gateway = (name: string) => rig.start(name, rig.gatewayYaml({ nats: servers, replicas: 3, name, users: USERS_YAML, store: pgStore, cluster: "leaseTtlMs: 1000, archive: { ackWaitMs: 2000 }" }));
    const g1 = gateway("gw-1");
    const g2 = gateway("gw-2");
    await rig.ready(g1);
    await rig.ready(g2);

    // Every user's tabs, half on each gateway.
    const tabs: { user: string; gw: 1 | 2; c: TestClient }[] = [];
    for (const user of EVERYONE) {
      for (let i = 0; i < TABS; i++) {
        tabs.push({ user, gw: 1, c: await rig.connect(g1.port()!, user) });
        tabs.push({ user, gw: 2, c: await rig.connect(g2.port()!, user) });
      }
    }
    expect(tabs).toHaveLength(312);
    for (const t of tabs) await t.c.nextOf("snapshot", 5000);
    const sam = tabs.find((t) => t.user === "sam" && t.gw === 2)!.c;

    const [hHead, hRest] = halves(H_TRACE);
    const [bHead, bRest] = halves(B_TRACE);
    await Promise.all([pbx.hamburg!.replay(hHead, { raw: true }), pbx.berlin!.replay(bHead, { raw: true })]);
    for (const t of tabs) if (expectedFor(t.user).length > 0) await waitFor(() => live(t.c).some((m) => m.type === "call.ringing"), `${t.user} ringing (gw-${t.gw})`, 1000);

    // 1. The active worker of hamburg dies; its standby lists the PBX's channels when it takes over.
    pbx.hamburg!.setList("CoreShowChannels", listingAfter(hHead));
    const killedAt = Date.now();
    await rig.kill9(ha);
    await waitFor(() => live(sam).some((m) => m.type === "pbx.failover"), "pbx.failover", 1000);
    const failoverMs = Date.now() - killedAt;
    // 2. A gateway dies: its tabs are cut off.
    await rig.kill9(g1);
    // 3. A NATS node dies (whichever: the stream has three replicas).
    await nodes[2]!.kill();
    // 4. PostgreSQL stops.
    await pgs.stop();
    // The calls go on and end.
    await Promise.all([pbx.hamburg!.replay(hRest, { raw: true }), pbx.berlin!.replay(bRest, { raw: true })]);
    await waitFor(() => live(sam).filter((m) => m.type === "call.ended").length >= 2, "both calls ended", 6000).catch((e) => {
      for (const p of [hb, ba, bb, g2]) console.log(p.name, JSON.stringify(p.lines.filter((l) => (l.level as number) >= 40 || /lease|taking|serving|resynced|nats|bus/.test(String(l.msg))).map((l) => `${l.time} ${l.msg} ${l.err ? JSON.stringify(l.err).slice(0, 120) : ""}`).slice(-25)));
      console.log("sam", JSON.stringify(live(sam).map((m) => `${m.seq} ${m.type} ${m.call?.pbxId ?? m.pbxId ?? ""}`)));
      throw e;
    });
    await pgs.restart();

    // The tabs of gw-1 come back on gw-2 and resume from their last seq.
    const resumedTabs = new Map<TestClient, any[]>();
    for (const t of tabs.filter((x) => x.gw === 1)) {
      const before = live(t.c);
      const afterSeq = Math.max(0, ...before.map((m) => m.seq ?? 0));
      const again = await rig.connect(g2.port()!, t.user);
      await again.nextOf("snapshot", 5000);
      again.send({ type: "resume", afterSeq });
      again.send({ type: "ping" });
      await again.nextOf("pong", 5000);
      const resumed = live(again).filter((m) => m.seq > afterSeq);
      expect(resumed.some((m) => m.type === "resync_required"), t.user).toBe(false);
      resumedTabs.set(t.c, [...before, ...resumed]);
    }
    // Whatever comes late has come (a duplicate would arrive right behind).
    for (const t of tabs.filter((x) => x.gw === 2)) await t.c.sync();

    for (const t of tabs) {
      const frames = resumedTabs.get(t.c) ?? live(t.c);
      expect(callFrames(frames), `${t.user} on gw-${t.gw}`).toEqual(t.user === "sam" ? expect.any(Array) : expectedFor(t.user));
      const seqs = frames.map((m) => m.seq);
      expect(seqs, `${t.user} seqs grow`).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size, `${t.user} no frame twice`).toBe(seqs.length);
      // hamburg's takeover; and berlin's when the NATS node's death (a leader election of a few
      // seconds) outlasted its worker's lease: also a takeover, and also without loss.
      const failovers = frames.filter((m) => m.type === "pbx.failover").map((m) => m.pbxId);
      expect(failovers, `${t.user} failovers`).toContain("hamburg");
      expect(new Set(failovers).size, `${t.user} each failover once`).toBe(failovers.length);
    }
    // The supervisor: each call's frames as recorded, each call on its own PBX.
    const samFrames = live(sam).filter((m) => m.call);
    const byCall = new Map<string, any[]>();
    for (const m of samFrames) byCall.set(m.call.callId, [...(byCall.get(m.call.callId) ?? []), m]);
    expect(byCall.size).toBe(2);
    const table = (name: string) => RECORDED_FRAMES.find(([n]) => n === name)![1];
    for (const frames of byCall.values()) {
      const pbxId = frames[0].call.pbxId;
      expect(frames.every((m) => m.call.pbxId === pbxId)).toBe(true);
      // A takeover adds one fact for the supervisor: the call rebuilt by the new worker, whole
      // and marked `restored` (then `pbx.failover`); nothing else. The callId and the original
      // times are kept.
      const rebuilt = frames.find((m) => m.call.restored);
      if (pbxId === "hamburg") {
        expect(rebuilt).toMatchObject({ type: "call.updated", call: { restored: true, state: "ringing" } });
        expect(rebuilt.call.legs.map((l: any) => [l.userId, l.state])).toEqual([["alice", "ringing"], ["bob", "ringing"], ["carol", "ringing"]]);
      }
      if (rebuilt) expect(rebuilt.type).toBe("call.updated");
      expect(callFrames(frames.filter((m) => m !== rebuilt)), pbxId).toEqual(table(pbxId === "hamburg" ? H_TRACE : B_TRACE).sam);
      expect(frames.at(-1).call.times.started).toBe(frames[0].call.times.started);
    }

    // The call log: each call once, equal to the supervisor's last copy, read on the surviving gateway.
    const last = [...byCall.values()].map((frames) => frames.at(-1).call);
    const token = await rig.token("sam");
    // The archiver catches up once PostgreSQL is back (its batch kept, retried with backoff).
    const stored = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${g2.port()}/api/calls?limit=100`, { headers: { authorization: `Bearer ${token}` } }).then((x) => x.json());
      return r.calls?.length >= last.length && r.calls.every((c: any) => c.state === "ended") && r.calls;
    }, "both calls archived to their end", 6000);
    for (const c of last) expect(withoutDone(stored.find((s: any) => s.callId === c.callId)), c.callId).toEqual(c);
    const db = new pg.Client({ connectionString: pgs.url });
    await db.connect();
    try {
      expect((await db.query("SELECT count(*)::int AS n FROM calls")).rows[0].n).toBe(last.length);
    } finally {
      await db.end();
    }
    const berlin = live(sam).some((m) => m.type === "pbx.failover" && m.pbxId === "berlin");
    console.log(`topology: kill -9 of hamburg's active worker → pbx.failover at a client ${failoverMs} ms (lease 1000 ms); 312 clients, 156 resumed on gw-2; berlin failed over after the NATS node's death: ${berlin}`);
  }, 120_000);
});
