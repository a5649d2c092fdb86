/**
 * Headroom on one node (issue 12): screen pops and memory with 1,000 to 50,000 WebSocket
 * clients connected to one daemon.
 *
 * This process runs the fake PBX and a real daemon (createDaemon, live AMI mode, SQLite
 * ":memory:", WS on port 0, logging off, heartbeats every HEARTBEAT_MS); the clients run in
 * ceil(clients / PER_PROCESS) child processes (popClients.ts), each from its own loopback
 * source address (127.0.0.2, .3, …: one address has only ~28k ephemeral ports). Every process,
 * this one included, raises its open-file limit first (fdLimit.ts; reported).
 *
 * Clients: `clients − SUPERVISORS` agents (user u_i, device PJSIP/(2000+i)), one connection
 * each, spread round-robin over the processes, and SUPERVISORS supervisors who see every call
 * (in the first process). Memory: the daemon process's RSS and heapUsed after a collection,
 * before the first client and after the last one had its snapshot, divided by the count.
 * Pops: CALLS calls are set up (carrier + device channels), then rung one per ~1 ms timer
 * tick (paced) as in popLatency.ts; latency = the `call.ringing` read by the agent's client −
 * the ring write, the per-process clock offset (IPC) subtracted. Warm-up rings first, then
 * ROUNDS paced rounds; the percentiles are over all measured pops.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeHeapSnapshot } from "node:v8";
import type { Daemon } from "../src/roles/standalone.js";
import { createLogger } from "../src/log.js";
import type { Authenticator } from "../src/publish/auth.js";
import type { Connection } from "../src/publish/connection.js";
import { heartbeatSlices, heartbeatTick } from "../src/publish/liveness.js";
import { createApiToken } from "../src/publish/apiTokens.js";
import { AmiServer } from "../src/sim/amiServer.js";
import { benchUsers } from "./callMemory.js";
import { fdLimit, raiseFdLimit } from "./fdLimit.js";
import { benchConfig, percentile } from "./lab.js";
import { settleHeap } from "./measure.js";
import { hangupBytes, popCall, ringBytes, setupBytes, type PopCall } from "./popCalls.js";
import { clientProcess, clockOffset, linkedDaemon } from "./popLatency.js";
import { SKIPPED, type Bench, type BenchContext, type BenchResult } from "./registry.js";

const FIRST_DEVICE = 2000;
export const SUPERVISORS = 10;
const PER_PROCESS = 10_000;
/** Calls per round (fewer when there are fewer agents: 990 at 1,000 clients). */
const MAX_CALLS = 1_000;
const WARMUP_RINGS = 50;
const ROUNDS = 3;
/**
 * The default (30 s): in 300 slices, one every 100 ms, each pinging a three-hundredth of the
 * clients, so every measured round (~1.2 s) has heartbeats in it. (2 s was tried first: client processes
 * starved of CPU by other work on the machine missed the 2 s pong deadline and were dropped.)
 */
export const HEARTBEAT_MS = 30_000;
const ROUND_WAIT_MS = 20_000;
/** Handshakes in flight across all client processes (the daemon resets past maxUnauthenticated, 256). */
const OPENING_AT_ONCE = 200;

type Proc = ReturnType<typeof clientProcess> & { offset: bigint; agents: number };

export function scaleBench(clients: number, label: string): Bench {
  const name = `clients-${label}`;
  return {
    name,
    title: `${clients.toLocaleString("en-US")} ws clients (${SUPERVISORS} supervisors), paced pops, heartbeat ${HEARTBEAT_MS} ms`,
    async run(ctx: BenchContext): Promise<BenchResult> {
      const started = process.hrtime.bigint();
      const fds = raiseFdLimit(clients + 2_000);
      // One descriptor per client in the daemon's process; without room for all of them accept()
      // fails (EMFILE) and libuv resets the connection: say so instead of timing out.
      if (fds < clients + 200) {
        throw new Error(
          `${SKIPPED}needs ${clients + 200} open files in the daemon process, the limit here is ${fds} (hard ${fdLimit().hard}; raising the hard limit needs CAP_SYS_RESOURCE)`,
        );
      }
      const agentCount = clients - SUPERVISORS;
      const CALLS = Math.min(MAX_CALLS, agentCount);
      const users = benchUsers(agentCount, FIRST_DEVICE);
      const sups = Array.from({ length: SUPERVISORS }, (_, i) => ({ id: `s${i}`, name: `Supervisor ${i}`, role: "supervisor", devices: [] }));
      const pbx = new AmiServer();
      const amiPort = await pbx.listen();
      const config = benchConfig([...users, ...sups], {
        ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000 },
        store: { path: ":memory:" },
        server: { host: "127.0.0.1", port: 0, heartbeatMs: HEARTBEAT_MS, limits: { maxClients: clients + 100 } },
      });
      const nProc = Math.ceil(clients / PER_PROCESS);
      const procs: Proc[] = Array.from({ length: nProc }, () => ({ ...clientProcess(), offset: 0n, agents: 0 }));
      let daemon: Daemon | undefined;
      try {
        const linked = await linkedDaemon(config, pbx);
        daemon = linked.daemon;
        const { port, ping, conn } = linked;
        const d = daemon;
        const url = `ws://127.0.0.1:${port}${config.server.wsPath}`;
        const agentTokens: string[] = [];
        const supTokens: string[] = [];
        d.db.transaction(() => {
          for (const u of users) agentTokens.push(createApiToken(d.db, u.id, "agent").token);
          for (const u of sups) supTokens.push(createApiToken(d.db, u.id, "supervisor").token);
        })();

        settleHeap();
        // BENCH_HEAP_SNAPSHOT=DIR: heap snapshots before and after the clients (what a connection holds).
        const snapDir = process.env.BENCH_HEAP_SNAPSHOT;
        if (snapDir) writeHeapSnapshot(join(snapDir, `${name}-before.heapsnapshot`));
        settleHeap();
        const before = process.memoryUsage();
        const tOpen = process.hrtime.bigint();
        const per: string[][] = procs.map(() => []);
        agentTokens.forEach((t, i) => per[i % nProc]!.push(t));
        const clientFds = Math.ceil(clients / nProc) + 1_000;
        const opened = await Promise.all(
          procs.map((p, k) => {
            p.agents = per[k]!.length;
            const watchers = k === 0 ? supTokens : [];
            // All processes together stay under server.limits.maxUnauthenticated (256) handshakes at once.
            const batch = Math.floor(OPENING_AT_ONCE / nProc);
            return p.ask({ type: "open", url, tokens: per[k], watchers, localAddress: `127.0.0.${2 + k}`, fds: clientFds, batch }, "opened", ctx.timeoutMs * 0.6);
          }),
        );
        const connected = opened.reduce((n, r) => n + Number(r?.n ?? 0), 0);
        if (connected !== clients) throw new Error(`only ${connected} of ${clients} clients connected (${d.cti.clientCount} on the server)`);
        const openSeconds = Number(process.hrtime.bigint() - tOpen) / 1e9;
        await sleep(200);
        settleHeap();
        const after = process.memoryUsage();
        if (snapDir) writeHeapSnapshot(join(snapDir, `${name}-after.heapsnapshot`));
        for (const p of procs) p.offset = await clockOffset(p.ask);

        // One paced round; call i rings agent i, whose client is in process i % nProc.
        const collectAll = () => Promise.all(procs.map((p) => p.ask({ type: "collect" }, "collected", 10_000)));
        const round = async (n: number, index: number) => {
          const cs: PopCall[] = Array.from({ length: n }, (_, i) => popCall(i, index, FIRST_DEVICE));
          conn.socket.write(Buffer.concat(cs.map(setupBytes)));
          await ping();
          await sleep(100);
          await collectAll();
          const done = Promise.all(procs.map((p, k) => p.ask({ type: "expect", n: cs.filter((_, i) => i % nProc === k).length }, "done", ROUND_WAIT_MS)));
          // Built before the clock, as in popLatency.ts: this process is also the daemon's.
          const rings = cs.map(ringBytes);
          const written = new Map<string, bigint>();
          for (let i = 0; i < cs.length; i++) {
            written.set(cs[i]!.linkedId, process.hrtime.bigint());
            conn.socket.write(rings[i]!);
            await sleep(1);
          }
          const complete = (await done).every((r) => r !== null);
          const got = await collectAll();
          conn.socket.write(Buffer.concat(cs.map(hangupBytes)));
          await ping();
          await sleep(100);
          await collectAll();
          const lat: number[] = [];
          let watched = 0;
          got.forEach((g, k) => {
            watched += Number(g?.watched ?? 0);
            for (const [id, t] of (g?.ringing ?? []) as [string, string][]) {
              const w = written.get(id);
              if (w !== undefined) lat.push(Number(BigInt(t) - procs[k]!.offset - w) / 1e6);
            }
          });
          return { lat, complete, watched };
        };

        await round(WARMUP_RINGS, 9);
        const lat: number[] = [];
        const roundP99: number[] = [];
        let complete = true;
        let watched = 0;
        for (let r = 0; r < ROUNDS; r++) {
          const res = await round(CALLS, r);
          const sorted = [...res.lat].sort((a, b) => a - b);
          roundP99.push(percentile(sorted, 99));
          lat.push(...res.lat);
          complete &&= res.complete;
          watched += res.watched;
        }
        lat.sort((a, b) => a - b);
        // One heartbeat over every client at once (the old round) against one slice of it
        // (now), after the measured rounds: 19,500 pongs coming back would disturb them.
        const cti = d.cti as unknown as { router: { connections(): Set<Connection> }; auth: Authenticator };
        const silent = createLogger({ level: "silent" });
        const timeTick = (slices: number) => {
          const t = process.hrtime.bigint();
          heartbeatTick(cti.router.connections(), cti.auth, silent, slices, 0);
          return Number(process.hrtime.bigint() - t) / 1e6;
        };
        const heartbeatRoundMs = timeTick(1);
        await sleep(500);
        const heartbeatSliceMs = timeTick(heartbeatSlices(HEARTBEAT_MS));
        for (const c of cti.router.connections()) c.alive = true;
        const rssPer = (after.rss - before.rss) / clients;
        const heapPer = (after.heapUsed - before.heapUsed) / clients;
        const clientRss = opened.map((r) => Number(r?.rss ?? 0));
        const fdsClient = opened.map((r) => Number(r?.fds ?? NaN));
        const ms = (x: number) => x.toFixed(2);
        const notes = [
          `${clients} clients (${agentCount} agents, ${SUPERVISORS} supervisors) in ${nProc} client process(es), connected in ${openSeconds.toFixed(1)} s`,
          `open-file limit: daemon process ${fds} (hard ${fdLimit().hard}), client processes ${fdsClient.join(", ")}`,
          `daemon RSS ${(before.rss / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} MiB: ${Math.round(rssPer)} B RSS / ${Math.round(heapPer)} B heap per client; client processes RSS ${clientRss.map((x) => (x / 2 ** 20).toFixed(0)).join(", ")} MiB`,
          `paced pops (${ROUNDS} rounds × ${CALLS}, heartbeat every ${HEARTBEAT_MS} ms): ${lat.length} pops, p50 ${ms(percentile(lat, 50))} ms, p90 ${ms(percentile(lat, 90))}, p99 ${ms(percentile(lat, 99))} ms, max ${ms(lat[lat.length - 1] ?? NaN)} ms; per-round p99 ${roundP99.map(ms).join(" / ")} ms`,
          `supervisor frames read: ${watched} (${SUPERVISORS} supervisors)`,
          `one heartbeat over all ${clients} clients at once: ${heartbeatRoundMs.toFixed(1)} ms; one slice (1/${heartbeatSlices(HEARTBEAT_MS)}): ${heartbeatSliceMs.toFixed(1)} ms`,
        ];
        if (!complete) notes.push("some call.ringing frames did not arrive within the bound");
        return {
          name,
          metrics: {
            messages: lat.length,
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
            peakRssBytes: after.rss,
            baseRssBytes: before.rss,
            extra: {
              clients,
              calls: CALLS,
              processes: nProc,
              fdLimit: fds,
              openSeconds,
              rssPerClient: rssPer,
              heapPerClient: heapPer,
              daemonRssBefore: before.rss,
              daemonRssAfter: after.rss,
              pops: lat.length,
              p50Ms: percentile(lat, 50),
              p90Ms: percentile(lat, 90),
              p99Ms: percentile(lat, 99),
              p999Ms: percentile(lat, 99.9),
              maxMs: lat[lat.length - 1] ?? NaN,
              roundP99MinMs: Math.min(...roundP99),
              roundP99MaxMs: Math.max(...roundP99),
              supervisorFrames: watched,
              heartbeatRoundMs,
              heartbeatSliceMs,
              complete: complete ? 1 : 0,
            },
          },
          notes,
        };
      } finally {
        for (const p of procs) p.child.kill();
        await daemon?.stop().catch(() => undefined);
        await pbx.close();
      }
    },
  };
}
