/**
 * A bounded cluster soak (issue 13): `npm run soak:cluster -- --minutes N [--failover-every S]
 * [--speed X]`. One nats-server (JetStream), the PBX simulator replaying the recorded scenarios
 * in a loop (it lists its live channels on CoreShowChannels), two PBX worker processes (the
 * compiled CLI) and two gateways (in this process) with a supervisor client on each. Every
 * `--failover-every` seconds the active worker gets SIGKILL and a new standby is started.
 * Reports, per gateway client: calls seen, calls ended once, calls ended more than once
 * (duplicated), calls never ended (lost, or cut off by the simulator's stop at the end),
 * journaled frames seen twice (same seq), the failovers seen, and the bus latency (worker
 * offer → gateway, failover windows included). With Debian's postgresql installed, the gateways
 * also write the call log (store.kind postgres, the stream archiver): the report compares it
 * with what the clients saw (calls missing from the log, not ended there, another outcome).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { DEMO_USERS } from "../src/cli/demo.js";
import { configSchema } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { SUBPROTOCOL } from "../src/publish/protocol.js";
import { createGateway, type Gateway } from "../src/roles/gateway.js";
import { PbxSimulator } from "../src/sim/pbxSimulator.js";
import { JetStreamBus } from "../src/bus/jetstream.js";
import { LEASE_BUCKET } from "../src/bus/lease.js";
import { Kvm } from "@nats-io/kv";
import { startNats } from "./natsServer.js";
import { postgresBin, startPostgres, type PgServer } from "./pgServer.js";
import { PostgresCallStore } from "../src/store/postgres/store.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SECRET = "soak-cluster-secret-long-enough-for-hs256";
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!);

interface Watch {
  calls: Map<string, { ended: number; types: string[]; outcome: string | null; merged: boolean }>;
  seqs: Set<number>;
  dupSeqs: number;
  failovers: number;
  frames: number;
}

async function watcher(port: number): Promise<{ w: Watch; ws: WebSocket }> {
  const token = await new SignJWT({ role: "supervisor" }).setProtectedHeader({ alg: "HS256" }).setSubject("sam").setExpirationTime("2h").sign(new TextEncoder().encode(SECRET));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${token}`]);
  const w: Watch = { calls: new Map(), seqs: new Set(), dupSeqs: 0, failovers: 0, frames: 0 };
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as { type: string; seq: number; call?: { callId: string; outcome: string | null; mergedInto: string | null } };
    if (m.type === "pong" || m.type === "hello" || m.type === "snapshot" || m.type === "call.claimed") return;
    w.frames++;
    // Journaled frames only: queue.state, command.result … repeat the latest seq by design.
    // (agent.state is also sent on connect with the current seq, like the snapshot.)
    if (m.type.startsWith("call.") || m.type.startsWith("pbx.")) {
      if (w.seqs.has(m.seq)) w.dupSeqs++;
      w.seqs.add(m.seq);
    }
    if (m.type === "pbx.failover") w.failovers++;
    if (!m.call) return;
    const c = w.calls.get(m.call.callId) ?? { ended: 0, types: [], outcome: null, merged: false };
    c.types.push(m.type);
    c.outcome = m.call.outcome;
    // A call merged into another (an attended transfer's consultation) is part of that one in the log.
    if (m.call.mergedInto) c.merged = true;
    if (m.type === "call.ended") c.ended++;
    w.calls.set(m.call.callId, c);
  });
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  return { w, ws };
}

async function main() {
  if (spawnSync("nats-server", ["--version"]).status !== 0) return console.log("soak:cluster: nats-server is not installed (apt-get install nats-server)");
  const minutes = arg("minutes", 2);
  const every = arg("failover-every", 30);
  const dir = mkdtempSync(join(tmpdir(), "ctib-soak-"));
  const log = createLogger({ level: "warn" });
  const { url, proc: nats } = await startNats(join(dir, "nats"));
  const sim = new PbxSimulator({ speed: arg("speed", 4), loop: true, gapMs: 200, log });
  const amiPort = await sim.start();
  // The demo's users: the lab agents and the supervisor sam.
  const users = DEMO_USERS.map((u) => ({ ...u, devices: [...u.devices] }));
  const usersYaml = ["users:", ...users.map((u) => `  - ${JSON.stringify(u)}`)].join("\n");
  const main = join(HERE, "..", "src", "main.js");
  let n = 0;
  const byId = new Map<string, ChildProcess>();
  const worker = (): ChildProcess => {
    const id = `w${n++}`;
    const file = join(dir, `${id}.yaml`);
    writeFileSync(
      file,
      [
        `ami: { mode: live, host: 127.0.0.1, port: ${amiPort}, username: ctibridge, secret: soak, reconnect: { minDelayMs: 20, maxDelayMs: 50 } }`,
        "mode: cluster",
        `cluster: { role: pbx, pbxId: sim, workerId: ${id}, nats: { servers: [${url}] } }`,
        `store: { path: ${JSON.stringify(join(dir, `${id}.db`))} }`,
        "server: { host: 127.0.0.1, port: 0 }",
        "trunks: [PJSIP/carrier]",
        "log: { level: warn }",
        usersYaml,
      ].join("\n"),
    );
    const p = spawn(process.execPath, [main, "start", "--config", file], { stdio: ["ignore", "ignore", "inherit"] });
    byId.set(id, p);
    return p;
  };
  const procs: ChildProcess[] = [worker()];
  await sleep(3000);
  procs.push(worker());
  const observer = await JetStreamBus.connect({ servers: [url], name: "soak-observer", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log });
  const leases = await new Kvm(observer.nc).open(LEASE_BUCKET);
  const gateways: Gateway[] = [];
  const watches: { w: Watch; ws: WebSocket }[] = [];
  const pg: PgServer | null = postgresBin() ? await startPostgres({ durable: true }) : null;
  const pgConn = pg && { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: pg.database };
  for (let g = 0; g < 2; g++) {
    const config = configSchema.parse({
      mode: "cluster",
      cluster: { role: "gateway", workerId: `g${g}`, nats: { servers: [url] } },
      auth: { jwtSecret: SECRET },
      server: { host: "127.0.0.1", port: 0 },
      store: { path: join(dir, `g${g}.db`), ...(pgConn ? { kind: "postgres", postgres: pgConn } : {}) },
      users,
    });
    const gw = createGateway({ config, log, version: "soak", sampleLatency: true });
    const { port } = await gw.start();
    gateways.push(gw);
    watches.push(await watcher(port));
  }
  const end = Date.now() + minutes * 60_000;
  let kills = 0;
  let nextKill = Date.now() + every * 1000;
  while (Date.now() < end) {
    await sleep(500);
    // No kill in the last 10 s: its takeover would meet the simulator's stop.
    if (Date.now() >= nextKill && end - Date.now() > 10_000) {
      // The worker that holds the lease (any standby may have won the last takeover).
      const entry = await leases.get("sim");
      const holder = entry ? (entry.json() as { holder: string }).holder : null;
      const active = holder === null ? undefined : byId.get(holder);
      if (!active || active.exitCode !== null) throw new Error(`no active worker to kill (lease holder ${holder})`);
      active.kill("SIGKILL");
      kills++;
      procs.push(worker());
      nextKill = Date.now() + every * 1000;
    }
  }
  await sim.stop();
  await sleep(5000);
  // The call log: the archiving gateway caught up with the stream (bounded), then read back.
  let callLog: Record<string, number> | null = null;
  if (pgConn) {
    const last = await observer.lastSeq();
    const deadline = Date.now() + 60_000;
    while (!gateways.some((g) => g.archiver?.stats.active && g.archiver.stats.lastSeq >= last) && Date.now() < deadline) await sleep(200);
    const store = new PostgresCallStore({ connection: pgConn });
    const stored = new Map((await store.list({ limit: 10_000 })).map((c) => [c.callId, c]));
    const { rows } = await store.pool.query("SELECT count(*)::int AS n, count(DISTINCT call_id)::int AS d FROM calls");
    await store.close();
    const seen = watches[0]!.w.calls;
    const ended = [...seen].filter(([, c]) => c.ended > 0 && !c.merged).map(([id]) => id);
    callLog = {
      rows: rows[0].n,
      distinctCallIds: rows[0].d,
      endedSeenByClients: ended.length,
      mergedIntoOthers: [...seen.values()].filter((c) => c.merged).length,
      missingFromLog: ended.filter((id) => !stored.has(id)).length,
      notEndedInLog: ended.filter((id) => stored.has(id) && stored.get(id)!.state !== "ended").length,
      otherOutcome: ended.filter((id) => stored.has(id) && stored.get(id)!.outcome !== seen.get(id)!.outcome).length,
      archiveBatches: gateways.reduce((n, g) => n + (g.archiver?.stats.batches ?? 0), 0),
    };
  }
  const report = watches.map(({ w }, i) => {
    const calls = [...w.calls.values()];
    const latencies = gateways[i]!.stats().latencies ?? [];
    return {
      gateway: i,
      frames: w.frames,
      framesSeenTwice: w.dupSeqs,
      calls: calls.length,
      endedOnce: calls.filter((c) => c.ended === 1).length,
      duplicated: calls.filter((c) => c.ended > 1).length,
      neverEnded: calls.filter((c) => c.ended === 0).length,
      // Of those, cut off by the simulator's stop (still active in the gateway's view): not lost.
      stillRunningAtEnd: [...w.calls].filter(([id, c]) => c.ended === 0 && gateways[i]!.view.getCall(id)?.state !== "ended" && gateways[i]!.view.getCall(id) !== undefined).length,
      failoversSeen: w.failovers,
      busLatencyMs: { p50: pct(latencies, 50), p99: pct(latencies, 99), n: latencies.length },
    };
  });
  // What the stream carried, by kind (a call event's user copies and call-level copy apart).
  const streamKinds: Record<string, number> = {};
  {
    const last = await observer.lastSeq();
    let seen = 0;
    const reader = await observer.read(1, ({ entry }) => {
      seen++;
      const ev = entry.ev;
      const kind = ev.kind === "call" ? (ev.event.userId === null ? "call (call-level)" : "call (user copy)") : ev.kind === "calls" ? "calls (one fact, every copy)" : ev.kind;
      streamKinds[kind] = (streamKinds[kind] ?? 0) + 1;
      streamKinds["bytes (JSON)"] = (streamKinds["bytes (JSON)"] ?? 0) + JSON.stringify(entry).length;
    });
    const deadline = Date.now() + 60_000;
    while (seen < last && Date.now() < deadline) await sleep(100);
    await reader.stop();
  }
  console.log(JSON.stringify({ soak: "cluster", minutes, failoverEverySeconds: every, kills, report, callLog: callLog ?? "not run: postgresql is not installed", streamKinds }));
  for (const { ws } of watches) ws.terminate();
  for (const g of gateways) await g.stop();
  await observer.close();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  nats.kill("SIGKILL");
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
}

await main();
