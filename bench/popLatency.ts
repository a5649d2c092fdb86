/**
 * Screen-pop latency (issue 4): from the moment the bytes that make a leg ring (DialBegin +
 * Newstate Ringing, popCalls.ts) are written to the daemon's AMI socket, to the moment the
 * `call.ringing` frame for that call is read by the WebSocket client of that device.
 *
 * This process runs the fake PBX (src/sim/amiServer.ts, 127.0.0.1) and a real daemon
 * (createDaemon, live AMI mode, SQLite ":memory:", HTTP/WS on port 0, logging off); the
 * clients run in a child process (popClients.ts), so the daemon and the clients each have
 * a core. Both stamp with process.hrtime.bigint() (CLOCK_MONOTONIC, one clock per machine);
 * the offset between the processes is still measured over IPC and subtracted.
 *
 * One agent per client, one device per agent (u0…, PJSIP/2000+i), one call per device.
 * All calls are set up (carrier and device channels created) before any rings, so `calls`
 * calls are open at once. Four rounds, fresh ids each, every call hung up after its round:
 *  - warm-up: WARMUP_RINGS paced rings, not measured (the first pop runs cold code);
 *  - paced: one call's ring bytes per ~1 ms timer tick (1,000 ring edges/s, far above a busy
 *    PBX's rate): latency with nothing queued ahead but the other open calls — the target;
 *  - burst: every call's ring bytes written back to back in one turn: the last pop waits
 *    for all before it (worst case, reported, not the target);
 *  - fan-out: every client reconnects as a supervisor (sees all calls) and FANOUT_CALLS calls
 *    ring at once: delivered frames/s = frames read by all clients ÷ time from the first
 *    write to the last frame read.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { createDaemon, type Daemon } from "../src/roles/standalone.js";
import { Outbox } from "../src/store/outbox.js";
import { WEBHOOK_EVENTS } from "../src/webhooks/config.js";
import { startSink } from "./webhooks.js";
import type { Config } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { createApiToken } from "../src/publish/apiTokens.js";
import { AmiServer, type SimConnection } from "../src/sim/amiServer.js";
import { benchUsers } from "./callMemory.js";
import { benchConfig, percentile } from "./lab.js";
import { hangupBytes, popCall, ringBytes, setupBytes, type PopCall } from "./popCalls.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";
import { populateHistory } from "./storeSave.js";

const FIRST_DEVICE = 2000;
const PACE_MS = 1;
/** Paced rings before the measured rounds (see the warm-up round below). */
const WARMUP_RINGS = 20;
const FANOUT_CALLS = 20;
/** Upper bound on waiting for one round's frames; a round that misses it reports what came. */
const ROUND_WAIT_MS = 15_000;

type Reply = { type: string; [k: string]: unknown };

/** The client process and a request/reply helper over its IPC channel, bounded in time. */
export function clientProcess(): { child: ChildProcess; ask: (msg: object, reply: string, timeoutMs: number) => Promise<Reply | null> } {
  const child = fork(fileURLToPath(new URL("./popClients.js", import.meta.url)), [], { stdio: "inherit", execArgv: [] });
  const ask = (msg: object, reply: string, timeoutMs: number) =>
    new Promise<Reply | null>((resolve, reject) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const onMsg = (m: unknown) => {
        const r = m as Reply;
        if (r.type === "error") return reject(new Error(`clients: ${String(r.error)}`));
        if (r.type === reply) done(r);
      };
      const done = (r: Reply | null) => {
        clearTimeout(timer);
        child.off("message", onMsg);
        resolve(r);
      };
      child.on("message", onMsg);
      if (msg && Object.keys(msg).length > 0) child.send(msg);
    });
  return { child, ask };
}

/** Child clock − our clock, from the IPC round trip with the smallest delay (5 tries). */
export async function clockOffset(ask: ReturnType<typeof clientProcess>["ask"]): Promise<bigint> {
  let best: { rtt: bigint; offset: bigint } | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = await ask({ type: "clock" }, "clock", 5_000);
    const t1 = process.hrtime.bigint();
    if (!r) continue;
    const offset = BigInt(r.t as string) - (t0 + t1) / 2n;
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset };
  }
  return best?.offset ?? 0n;
}

export async function waitUntil(cond: () => boolean, what: string, limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * `historyRows` > 0: the daemon's store is a file database already holding that many calls
 * (storeSave.ts's history, populated before the clock starts) instead of ":memory:", so every
 * call-log write, commit and WAL checkpoint of the rounds runs on the daemon's event loop as
 * in production.
 */
/**
 * A daemon started on `config` whose AMI link to `pbx` is logged in and resynced, with a Ping
 * round trip (everything written before it has been read) and the fake PBX's socket to it.
 * Without TCP_NODELAY the fake PBX's small writes wait for the daemon's delayed ACK (measured:
 * ~30-40 ms per pop on loopback); pops are measured from the write.
 */
export async function linkedDaemon(config: Config, pbx: AmiServer): Promise<{ daemon: Daemon; port: number; ping: () => Promise<unknown>; conn: SimConnection }> {
  const daemon = createDaemon({ config, log: createLogger({ level: "silent" }) });
  const { port } = await daemon.start();
  await waitUntil(() => daemon.ami?.isConnected === true && pbx.received.some((r) => r.action.get("Action") === "CoreShowChannels"), "AMI login and resync", 10_000);
  const ping = () => daemon.ami!.action("Ping", []);
  await ping();
  const conn = pbx.connections.find((c) => c.loggedIn);
  if (!conn) throw new Error("no logged-in AMI connection");
  conn.socket.setNoDelay(true);
  return { daemon, port, ping, conn };
}

/**
 * `webhook`: the daemon also has a webhook target for every call event: `fast` (a receiver
 * in another process answering 204, bench/webhookSink.ts) or `dead` (a black hole on
 * 127.0.0.1 that accepts connections and never answers; timeout 10 min, so its 4 slots stay
 * busy and every event waits in the outbox).
 */
export function popBench(calls: number, historyRows = 0, webhook?: "fast" | "dead"): Bench {
  const name = historyRows > 0 ? `pop-${calls}-file` : webhook ? `pop-${calls}-webhook-${webhook}` : `pop-${calls}`;
  return {
    name,
    title: `screen pop, ${calls} calls / ${calls} ws clients${historyRows > 0 ? `, file store with ${historyRows.toLocaleString("en-US")} calls` : ""}${webhook ? `, a ${webhook} webhook target` : ""}`,
    async run(ctx: BenchContext): Promise<BenchResult> {
      const dir = historyRows > 0 ? mkdtempSync(join(tmpdir(), "ctib-bench-pop-")) : null;
      try {
        const storePath = dir ? join(dir, "pop.db") : ":memory:";
        if (dir) populateHistory(storePath, historyRows, Date.now() + ctx.timeoutMs / 2);
        return await measure(ctx, storePath);
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    },
  };

  async function measure(ctx: BenchContext, storePath: string): Promise<BenchResult> {
    const started = process.hrtime.bigint();
    const users = benchUsers(calls, FIRST_DEVICE);
    // The fan-out's watchers: supervisors in the directory (a key never gives more than the user's role).
    const supervisors = users.map((_, i) => ({ id: `s${i}`, name: `Supervisor ${i}`, role: "supervisor", devices: [] }));
    const pbx = new AmiServer();
    const amiPort = await pbx.listen();
    const target = webhook ? await webhookTarget(webhook) : null;
    const config = benchConfig([...users, ...supervisors], {
      ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000 },
      store: { path: storePath },
      server: { host: "127.0.0.1", port: 0 },
      ...(target ? { webhooks: [{ name: webhook, url: target.url, events: WEBHOOK_EVENTS, secret: "bench-secret-0123456789", timeoutMs: 600_000, concurrency: 4 }] } : {}),
    });
    let daemon: Daemon | undefined;
    const { child, ask } = clientProcess();
    try {
      const linked = await linkedDaemon(config, pbx);
      daemon = linked.daemon;
      const { port, ping, conn } = linked;
      const d = daemon;
      const url = `ws://127.0.0.1:${port}${config.server.wsPath}`;
      const openClients = async (role: "agent" | "supervisor") => {
        const tokens = (role === "agent" ? users : supervisors).map((u) => createApiToken(d.db, u.id, role).token);
        const r = await ask({ type: "open", url, tokens }, "opened", ctx.timeoutMs / 2);
        if (r?.n !== calls) throw new Error(`only ${String(r?.n ?? 0)} of ${calls} ${role} clients connected`);
      };
      await openClients("agent");
      const offset = await clockOffset(ask);

      // One round: set up every call, let its frames settle, ring them, collect, hang up.
      const round = async (n: number, index: number, paced: boolean, expect: number) => {
        const cs: PopCall[] = Array.from({ length: n }, (_, i) => popCall(i, index, FIRST_DEVICE));
        conn.socket.write(Buffer.concat(cs.map(setupBytes)));
        await ping();
        await sleep(50);
        await ask({ type: "collect" }, "collected", 5_000);
        const done = ask({ type: "expect", n: expect }, "done", ROUND_WAIT_MS);
        // The ring bytes are built before the clock starts: this process is also the daemon's,
        // and building them per ring (~17 KB of garbage each, sampled allocation profile) was
        // about 30 % of the daemon heap's allocation, i.e. of its young-generation pauses.
        const rings = cs.map(ringBytes);
        const written = new Map<string, bigint>();
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < cs.length; i++) {
          written.set(cs[i]!.linkedId, process.hrtime.bigint());
          conn.socket.write(rings[i]!);
          if (paced) await sleep(PACE_MS);
        }
        const complete = (await done) !== null;
        const got = (await ask({ type: "collect" }, "collected", 5_000))!;
        conn.socket.write(Buffer.concat(cs.map(hangupBytes)));
        await ping();
        await sleep(50);
        await ask({ type: "collect" }, "collected", 5_000);
        const lat: number[] = [];
        for (const [id, t] of got.ringing as [string, string][]) {
          const w = written.get(id);
          if (w !== undefined) lat.push(Number(BigInt(t) - offset - w) / 1e6);
        }
        lat.sort((a, b) => a - b);
        const seconds = Number(BigInt(got.last as string) - offset - t0) / 1e9;
        return { lat, complete, frames: got.frames as number, seconds };
      };

      // Warm-up, not measured: the first pop runs the ringing and publish paths cold (V8 has
      // not compiled them yet; measured ~2.5 ms inside the daemon for ring #0 against
      // ≤0.6 ms after), which a daemon that has been up for more than a few calls never sees.
      const warm = Math.min(calls, WARMUP_RINGS);
      await round(warm, 3, true, warm);
      const paced = await round(calls, 0, true, calls);
      const burst = await round(calls, 1, false, calls);
      await ask({ type: "close" }, "closed", 10_000);
      await openClients("supervisor");
      const fan = await round(FANOUT_CALLS, 2, false, FANOUT_CALLS * calls);

      const stats = (l: number[]) => ({ p50: percentile(l, 50), p99: percentile(l, 99), max: l[l.length - 1] ?? NaN });
      const p = stats(paced.lat);
      const b = stats(burst.lat);
      const ms = (x: number) => x.toFixed(2);
      const notes = [
        `paced (1 ring/${PACE_MS} ms timer): ${paced.lat.length}/${calls} pops, p50 ${ms(p.p50)} ms, p99 ${ms(p.p99)} ms, max ${ms(p.max)} ms`,
        `burst (all ${calls} rings in one turn): ${burst.lat.length}/${calls} pops, p50 ${ms(b.p50)} ms, p99 ${ms(b.p99)} ms, max ${ms(b.max)} ms; ${burst.frames} frames`,
        `fan-out: ${calls} supervisor clients, ${FANOUT_CALLS} calls ring at once: ${fan.frames} frames (${fan.lat.length} call.ringing) in ${ms(fan.seconds * 1000)} ms = ${Math.round(fan.frames / fan.seconds)} frames/s${fan.complete ? "" : " (not every call.ringing arrived within the bound)"}`,
        `clock offset clients − daemon process ${Number(offset) / 1e3} µs (subtracted)`,
      ];
      if (!paced.complete || !burst.complete) notes.push("some call.ringing frames did not arrive within the bound");
      if (target) {
        const c = new Outbox(d.db).counts();
        notes.push(`webhook ${webhook}: outbox pending ${c.pending + c.failed}, delivered ${c.delivered}, requests in flight ${d.webhooks.inFlight(webhook!)} at the end`);
      }
      return {
        name,
        metrics: {
          messages: calls,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          extra: {
            calls,
            clients: calls,
            p50Ms: p.p50,
            p99Ms: p.p99,
            maxMs: p.max,
            pops: paced.lat.length,
            burstP50Ms: b.p50,
            burstP99Ms: b.p99,
            burstMaxMs: b.max,
            fanoutFramesPerSec: fan.frames / fan.seconds,
            fanoutFrames: fan.frames,
          },
        },
        notes,
      };
    } finally {
      child.kill();
      await daemon?.stop().catch(() => undefined);
      await pbx.close();
      target?.stop();
    }
  }
}

/** A webhook target for the pop rounds: the fast receiver process, or a black hole here. */
async function webhookTarget(kind: "fast" | "dead"): Promise<{ url: string; stop: () => void }> {
  if (kind === "fast") {
    const sink = await startSink();
    return { url: `http://127.0.0.1:${sink.port}/hook`, stop: sink.stop };
  }
  const sockets: Socket[] = [];
  const hole = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => hole.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(hole.address() as AddressInfo).port}/hook`,
    stop: () => {
      for (const s of sockets) s.destroy();
      hole.close();
    },
  };
}
