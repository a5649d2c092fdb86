/**
 * Cluster figures (issue 13), on 127.0.0.1 with a real nats-server (JetStream, one node):
 *
 * - bus latency: an event offered by a PBX worker's publisher → stream → a gateway → a
 *   WebSocket client's `message` event, p50/p99 at a paced rate, and the burst throughput
 *   (events/s until the client has them all);
 * - failover: two PBX worker processes (`ctibridge start`, compiled) for one fake PBX; the
 *   active one gets SIGKILL; the time from the kill to the first event the new worker stored.
 *
 * `npm run build && node dist/bench/cluster.js [--events N] [--rate R] [--failovers K]`.
 * Publisher, gateway and client share one process (and the machine is shared): the latency is
 * an upper bound of what the bus adds.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { JetStreamBus, STREAM } from "../src/bus/jetstream.js";
import { BusPublisher } from "../src/bus/publisher.js";
import { configSchema } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { SUBPROTOCOL } from "../src/publish/protocol.js";
import { createGateway } from "../src/roles/gateway.js";
import { AmiServer } from "../src/sim/amiServer.js";
import { startNats } from "./natsServer.js";
import type { BusEntry } from "../src/bus/entry.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SECRET = "bench-cluster-secret-long-enough-for-hs256";
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function busLatency(url: string, events: number, rate: number) {
  const log = createLogger({ level: "warn" });
  const config = configSchema.parse({
    mode: "cluster",
    cluster: { role: "gateway", nats: { servers: [url] } },
    auth: { jwtSecret: SECRET },
    server: { host: "127.0.0.1", port: 0 },
    store: { path: ":memory:" },
    users: [{ id: "alice", name: "Alice", devices: ["PJSIP/1001"] }],
  });
  const gw = createGateway({ config, log, version: "bench" });
  const { port } = await gw.start();
  const token = await new SignJWT({ role: "agent" }).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${token}`]);
  const got: number[] = [];
  let received = 0;
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as { type: string; state?: { queues: { reason: string | null }[] } };
    if (m.type !== "agent.state") return;
    received++;
    const sent = Number(m.state!.queues[0]!.reason);
    got.push(performance.now() - sent);
  });
  await new Promise((r) => ws.once("open", r));
  await sleep(200);
  const bus = await JetStreamBus.connect({ servers: [url], name: "bench-worker", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
  const pub = new BusPublisher({ sink: bus, pbxId: "bench", log });
  pub.setTerm(1);
  // The send time rides in the state (performance.now of this process) so nothing else changes.
  const offer = () =>
    pub.offer({ kind: "agent", userId: "alice", state: { deviceState: "not_inuse", queues: [{ queue: "q", loggedIn: true, paused: false, reason: String(performance.now()) }], activity: "idle", wrapUp: null } });
  // Paced: one event every 1000/rate ms.
  for (let i = 0; i < events; i++) {
    offer();
    await sleep(1000 / rate);
  }
  const deadline = Date.now() + 30_000;
  while (received < events && Date.now() < deadline) await sleep(10);
  const paced = { n: got.length, p50: pct(got, 50), p99: pct(got, 99), max: Math.max(...got) };
  // Burst: as fast as the publisher stores them (one in flight: the worker's order guarantee).
  got.length = 0;
  received = 0;
  const burst = events * 5;
  const t0 = performance.now();
  for (let i = 0; i < burst; i++) offer();
  while (received < burst && Date.now() < deadline + 60_000) await sleep(5);
  const burstS = (performance.now() - t0) / 1000;
  ws.close();
  pub.stop();
  await bus.close();
  await gw.stop();
  return { paced, burst: { events: burst, seconds: burstS, perSecond: Math.round(burst / burstS) } };
}

async function failover(url: string, runs: number, leaseTtlMs: number) {
  const main = join(HERE, "..", "src", "main.js");
  const dir = mkdtempSync(join(tmpdir(), "ctib-bench-failover-"));
  const pbx = new AmiServer({ fullyBooted: true });
  const amiPort = await pbx.listen();
  pbx.setList("QueueStatus", []).setList("DeviceStateList", []).setList("CoreShowChannels", []);
  const bus = await JetStreamBus.connect({ servers: [url], name: "bench-observer", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: createLogger({ level: "warn" }) });
  await bus.ensureStream();
  const times: number[] = [];
  const start = (id: string) => {
    const file = join(dir, `${id}.yaml`);
    writeFileSync(
      file,
      [
        `ami: { mode: live, host: 127.0.0.1, port: ${amiPort}, username: ctibridge, secret: s3cret, reconnect: { minDelayMs: 20, maxDelayMs: 50 } }`,
        "mode: cluster",
        `cluster: { role: pbx, pbxId: bench, workerId: ${id}, leaseTtlMs: ${leaseTtlMs}, nats: { servers: [${url}] } }`,
        `store: { path: ${JSON.stringify(join(dir, `${id}.db`))} }`,
        "server: { host: 127.0.0.1, port: 0 }",
        "log: { level: warn }",
      ].join("\n"),
    );
    return spawn(process.execPath, [main, "start", "--config", file], { stdio: "ignore" });
  };
  let seen = new Map<number, number>(); // term → local time of its first stored event
  const reader = await bus.read((await bus.lastSeq()) + 1, ({ entry }: { entry: BusEntry }) => {
    if (entry.pbxId === "bench" && !seen.has(entry.term)) seen.set(entry.term, performance.now());
  });
  let active = start("w0");
  let standby = start("w1");
  for (let i = 0; i < 200 && seen.size === 0; i++) await sleep(50);
  for (let r = 0; r < runs; r++) {
    await sleep(leaseTtlMs + 500);
    const terms = seen.size;
    const killedAt = performance.now();
    active.kill("SIGKILL");
    for (let i = 0; i < 2000 && seen.size === terms; i++) await sleep(5);
    const first = [...seen.values()][terms];
    if (first !== undefined) times.push(first - killedAt);
    // The survivor is active; a new standby joins for the next run.
    active = standby;
    standby = start(`w${r + 2}`);
  }
  active.kill("SIGKILL");
  standby.kill("SIGKILL");
  await reader.stop();
  await bus.jsm.streams.purge(STREAM).catch(() => undefined);
  await bus.close();
  await pbx.close();
  rmSync(dir, { recursive: true, force: true });
  seen = new Map();
  return { runs: times.length, leaseTtlMs, ms: times.map((t) => Math.round(t)), p50: Math.round(pct(times, 50)), max: Math.round(Math.max(...times)) };
}

async function main() {
  if (spawnSync("nats-server", ["--version"]).status !== 0) {
    console.log("bench/cluster: nats-server is not installed (apt-get install nats-server)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "ctib-bench-nats-"));
  const nats = await startNats(dir);
  try {
    const lat = await busLatency(nats.url, arg("events", 2000), arg("rate", 200));
    console.log(JSON.stringify({ bench: "bus latency (publisher → stream → gateway → ws client)", ...lat }));
    const fo = await failover(nats.url, arg("failovers", 5), arg("lease", 2000));
    console.log(JSON.stringify({ bench: "failover (kill -9 → first event of the new worker)", ...fo }));
  } finally {
    nats.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
