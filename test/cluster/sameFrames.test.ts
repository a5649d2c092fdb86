/**
 * Standalone and cluster give the same frames: recorded traces replayed once through the
 * standalone daemon and once through a PBX worker → JetStream (a real nats-server) → gateway,
 * each with one client per lab user and a supervisor. Every user's live frames must match
 * field for field, after mapping callIds by first appearance and dropping what differs by
 * design: `seq` (the stream's sequence in a cluster) and `call.pbxId` (cluster only).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { configSchema } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { createGateway, type Gateway } from "../../src/roles/gateway.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { JWT_SECRET, ClusterRig } from "../helpers/clusterRig.js";
import { TestClient } from "../helpers/cti.js";
import { DaemonRig, E2E_USERS, waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { traceBytes } from "../helpers/traces.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

const EVERYONE = ["alice", "bob", "carol", "dave", "eve", "frank", "sam"];
const TRACES = ["06-ringgroup-answered", "07-queue-support-answered", "16-blind-transfer-refer", "28-attended-transfer-dtmf", "03-inbound-missed-caller-abandon", "38-queue-support-ringout-then-answered", "35-pickup-group"];
const SKIP = new Set(["hello", "snapshot", "pong", "agent.state", "queue.state", "pbx.resynced", "pbx.disconnected", "pbx.failover"]);

/**
 * Live frames with callIds and times numbered by first appearance (the traces carry no
 * Timestamp: times are arrival times, which differ between two runs), without seq and pbxId.
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
      const text = JSON.stringify(m)
        .replace(/"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g, (u) => `"${id(u.slice(1, -1))}"`)
        .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/g, (t) => `"${time(t.slice(1, -1))}"`);
      const o = JSON.parse(text);
      delete o.seq;
      if (o.call) delete o.call.pbxId;
      return o;
    });
}

async function standaloneFrames(trace: Buffer): Promise<Map<string, unknown[]>> {
  const rig = new DaemonRig();
  try {
    const d = await rig.start({ users: E2E_USERS });
    const clients = new Map(EVERYONE.map((u) => [u, d.connect(u)]));
    for (const c of clients.values()) await c.ready();
    await d.replay(stripTracePreamble(trace));
    for (const c of clients.values()) await c.sync();
    return new Map([...clients].map(([u, c]) => [u, normalize(c.messages)]));
  } finally {
    await rig.close();
  }
}

describe.skipIf(!have)("standalone and cluster: the same frames per user", () => {
  let nats: NatsServer;
  let pbx: AmiServer;
  let worker: PbxWorker;
  let gateway: Gateway;
  let port = 0;
  const clusterRig = new ClusterRig();

  beforeAll(async () => {
    nats = await startNats();
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
    const { log } = memoryLogger("warn");
    const workerConfig = configSchema.parse({
      ...base,
      ami: { mode: "live", host: "127.0.0.1", port: pbx.port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0, agentListing: { bootWaitMs: 2_000, attempts: 3, minDelayMs: 20, maxDelayMs: 50 } },
      cluster: { role: "pbx", pbxId: "lab", workerId: "w1", nats: { servers: [nats.url] } },
      store: { path: join(dir, "worker.db") },
    });
    worker = createPbxWorker({ config: workerConfig, log, createDaemon: (cfg) => createDaemon({ config: cfg, log }) });
    await worker.start();
    await waitFor(() => worker.daemon?.ami?.isConnected, "worker logged in", 1000);
    const gatewayConfig = configSchema.parse({ ...base, cluster: { role: "gateway", nats: { servers: [nats.url] } }, store: { path: join(dir, "gateway.db") } });
    gateway = createGateway({ config: gatewayConfig, log, version: "test" });
    port = (await gateway.start()).port;
  });
  afterAll(async () => {
    await gateway?.stop();
    await worker?.stop();
    await pbx?.close();
    await nats?.kill();
    await clusterRig.close();
  });

  it.each(TRACES)("%s", async (name) => {
    const trace = traceBytes(name);
    const expected = await standaloneFrames(trace);
    const clients = new Map<string, TestClient>();
    for (const u of EVERYONE) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await clusterRig.token(u)}`]);
      const c = new TestClient(ws);
      await c.ready();
      clients.set(u, c);
    }
    await pbx.replay(stripTracePreamble(trace), { raw: true });
    // Handled by the worker (a Ping round trip on its link), stored in the stream, applied by the gateway, sent.
    await worker.daemon!.ami!.action("Ping", []);
    await worker.flushed();
    await waitFor(async () => gateway.stats().lastSeq >= (await lastSeq(nats.url)), "gateway caught up", 1000);
    for (const c of clients.values()) await c.sync();
    expect(expected.get("sam")!.length).toBeGreaterThan(2);
    for (const u of EVERYONE) expect(normalize(clients.get(u)!.messages), `${name}: ${u}`).toEqual(expected.get(u));
    const samCalls = clients.get("sam")!.messages.filter((m) => m.call);
    expect(samCalls.length).toBeGreaterThan(2);
    expect(samCalls.every((m) => m.call.pbxId === "lab")).toBe(true);
    for (const c of clients.values()) c.ws.terminate();
  });

  it("a command goes from the gateway to the owning PBX's worker by request/reply and its result comes back", async () => {
    const alice = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await clusterRig.token("alice")}`]));
    await alice.ready();
    const trace = traceBytes("01-inbound-answered");
    await pbx.replay(stripTracePreamble(trace), { raw: true });
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

async function lastSeq(url: string): Promise<number> {
  const { JetStreamBus } = await import("../../src/bus/jetstream.js");
  const bus = await JetStreamBus.connect({ servers: [url], name: "probe", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
  try {
    return await bus.lastSeq();
  } finally {
    await bus.close();
  }
}
