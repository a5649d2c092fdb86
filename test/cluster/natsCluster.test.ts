/**
 * A three-node JetStream cluster (stream and buckets with 3 replicas): the stream leader's node
 * is killed (SIGKILL) in the middle of a call. The worker and the gateway reconnect to the
 * other nodes, a new leader is elected, and every user still gets exactly the recorded frame
 * sequence of the call, each fact once, seqs growing.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { JetStreamBus, STREAM } from "../../src/bus/jetstream.js";
import { configSchema } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { createGateway, type Gateway } from "../../src/roles/gateway.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { ClusterRig, JWT_SECRET } from "../helpers/clusterRig.js";
import { TestClient } from "../helpers/cti.js";
import { E2E_USERS, waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNatsCluster, type NatsServer } from "../helpers/natsServer.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { beforeFirstAnswer, traceHalves } from "../helpers/traces.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

/** Trace 06 cut just before bob answers. */
const halves = () => traceHalves("06-ringgroup-answered", beforeFirstAnswer);

describe.skipIf(!have)("a 3-node JetStream cluster, replicas 3", () => {
  let nodes: NatsServer[] = [];
  let pbx: AmiServer;
  let worker: PbxWorker;
  let gateway: Gateway;
  const rig = new ClusterRig();

  beforeAll(async () => {
    nodes = await startNatsCluster(3);
    pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await worker?.stop();
    await pbx?.close();
    for (const n of nodes) await n.kill();
    await rig.close();
  });

  it("stop the stream leader's node mid-call: nothing is lost or doubled", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-js3-"));
    const servers = nodes.map((n) => n.url);
    const base = { users: E2E_USERS, trunks: ["PJSIP/carrier"], mode: "cluster", server: { host: "127.0.0.1", port: 0 }, auth: { jwtSecret: JWT_SECRET } };
    const { log, lines } = memoryLogger("info");
    worker = createPbxWorker({
      config: configSchema.parse({
        ...base,
        ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0 },
        cluster: { role: "pbx", pbxId: "lab", workerId: "w1", nats: { servers, replicas: 3 } },
        store: { path: join(dir, "worker.db") },
      }),
      log,
      createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, ...hooks }),
    });
    await worker.start();
    await waitFor(() => worker.daemon?.ami?.isConnected, "worker logged in", 1000);
    gateway = createGateway({ config: configSchema.parse({ ...base, cluster: { role: "gateway", nats: { servers, replicas: 3 } }, store: { path: join(dir, "gw.db") } }), log, version: "test" });
    const { port } = await gateway.start();

    const probe = await JetStreamBus.connect({ servers, name: "probe", replicas: 3, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
    const info = await probe.jsm.streams.info(STREAM);
    expect(info.config.num_replicas).toBe(3);
    const leader = info.cluster!.leader!;
    await probe.close();

    const users = ["alice", "bob", "carol", "sam"];
    const clients = new Map<string, TestClient>();
    for (const u of users) {
      const c = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await rig.token(u)}`]));
      await c.ready();
      clients.set(u, c);
    }
    const [head, rest] = halves();
    await pbx.replay(head, { raw: true });
    for (const u of users) await waitFor(() => clients.get(u)!.messages.some((m) => m.type === "call.ringing"), `${u} ringing`, 1000);

    await nodes[Number(leader.slice(1)) - 1]!.kill();
    await pbx.replay(rest, { raw: true });
    try {
      for (const u of users) await waitFor(() => clients.get(u)!.messages.some((m) => m.type === "call.ended"), `${u} ended`, 3000);
    } catch (err) {
      console.log(JSON.stringify(lines.filter((l) => (l.level as number) >= 40).slice(-30), null, 0), gateway.stats().lastSeq, leader);
      throw err;
    }
    for (const c of clients.values()) await c.sync();

    const expected = RECORDED_FRAMES.find(([n]) => n === "06-ringgroup-answered")![1];
    for (const u of users) {
      const frames = clients.get(u)!.messages.filter((m) => m.call);
      expect(frames.map((m) => m.type + (m.reason ? `(${m.reason})` : "")), u).toEqual(expected[u]);
      const seqs = frames.map((m) => m.seq);
      expect(seqs, u).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size, u).toBe(seqs.length);
    }
  });
});
