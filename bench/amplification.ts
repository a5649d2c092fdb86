/**
 * The amplification attack (issue 7): while 3,400 calls are active, one agent writes 10,000
 * small frames (claim and resume afterSeq 0, alternating) as fast as its socket takes them;
 * meanwhile the other agents' calls ring. Measured: the other agents' screen-pop latency
 * (the moment a ring is due → its `call.ringing` read), without and with the attack.
 *
 * This process runs the fake PBX and a real daemon with the default limits; the pop clients run
 * in one child process (popClients.ts) and the attacker in another, so neither the attacker's
 * send loop nor the pop clients' parsing competes with the daemon for its core.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Daemon } from "../src/roles/standalone.js";
import { createApiToken } from "../src/publish/apiTokens.js";
import { AmiServer } from "../src/sim/amiServer.js";
import { benchUsers } from "./callMemory.js";
import { benchConfig, percentile } from "./lab.js";
import { clientProcess, clockOffset, linkedDaemon } from "./popLatency.js";
import { hangupBytes, popCall, ringBytes, setupBytes, type PopCall } from "./popCalls.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const ACTIVE_CALLS = 3_400;
const ATTACK_FRAMES = 10_000;
const AGENTS = 100;
const FIRST_DEVICE = 2000;
/** The background calls ring devices nobody is mapped to: active, seen by supervisors only. */
const BACKGROUND_DEVICE = 5000;
const WARMUP_RINGS = 20;
/** Pops spread over ~2 s, so they meet the daemon while it works through the flood. */
const PACE_MS = 20;
/** Upper bound on waiting for one round's pops; a round that misses it reports what came. */
const ROUND_WAIT_MS = 150_000;

export const amplificationBench: Bench = {
  name: "dos-amplification",
  title: `amplification attack: ${ATTACK_FRAMES.toLocaleString("en-US")} claim/resume frames, ${ACTIVE_CALLS.toLocaleString("en-US")} active calls, ${AGENTS} other agents`,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const started = process.hrtime.bigint();
    const users = [...benchUsers(AGENTS, FIRST_DEVICE), { id: "mallory", name: "Mallory", devices: ["PJSIP/1999"] }];
    const pbx = new AmiServer();
    const amiPort = await pbx.listen();
    const config = benchConfig(users, {
      ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000, actionTimeoutMs: 120_000 },
      store: { path: ":memory:" },
      server: { host: "127.0.0.1", port: 0 },
    });
    let daemon: Daemon | undefined;
    const pops = clientProcess();
    const attacker = clientProcess();
    try {
      const linked = await linkedDaemon(config, pbx);
      daemon = linked.daemon;
      const { port, ping, conn } = linked;
      const d = daemon;

      const background = Array.from({ length: ACTIVE_CALLS }, (_, i) => popCall(i, 9, BACKGROUND_DEVICE));
      for (let i = 0; i < background.length; i += 500) {
        conn.socket.write(Buffer.concat(background.slice(i, i + 500).map(setupBytes)));
        await ping();
      }
      const active = d.tracker.activeCalls().length;
      if (active < ACTIVE_CALLS) throw new Error(`only ${active} of ${ACTIVE_CALLS} background calls are active`);

      const url = `ws://127.0.0.1:${port}${config.server.wsPath}`;
      const tokens = users.slice(0, AGENTS).map((u) => createApiToken(d.db, u.id, "agent").token);
      const opened = await pops.ask({ type: "open", url, tokens }, "opened", ctx.timeoutMs / 2);
      if (opened?.n !== AGENTS) throw new Error(`only ${String(opened?.n ?? 0)} of ${AGENTS} clients connected`);
      const offset = await clockOffset(pops.ask);

      /** `start`: fired (not awaited) just before the first ring is due. */
      const round = async (n: number, index: number, start?: () => void) => {
        const cs: PopCall[] = Array.from({ length: n }, (_, i) => popCall(i, index, FIRST_DEVICE));
        conn.socket.write(Buffer.concat(cs.map(setupBytes)));
        await ping();
        await sleep(50);
        await pops.ask({ type: "collect" }, "collected", 5_000);
        const done = pops.ask({ type: "expect", n }, "done", ROUND_WAIT_MS);
        start?.();
        // Each ring is due at t0 + i × PACE_MS and latency counts from then: the fake PBX shares
        // the daemon's process, so while the daemon is blocked the rings cannot even be written,
        // where a real PBX would have sent them on time (no coordinated omission).
        // Built before the clock, as in popLatency.ts: this process is also the daemon's.
        const rings = cs.map(ringBytes);
        const due = new Map<string, bigint>();
        const t0 = process.hrtime.bigint();
        for (const [i, c] of cs.entries()) {
          const at = t0 + BigInt(i * PACE_MS) * 1_000_000n;
          const wait = Number(at - process.hrtime.bigint()) / 1e6;
          if (wait > 0) await sleep(wait);
          due.set(c.linkedId, at);
          conn.socket.write(rings[i]!);
        }
        const complete = (await done) !== null;
        const got = (await pops.ask({ type: "collect" }, "collected", 5_000))!;
        conn.socket.write(Buffer.concat(cs.map(hangupBytes)));
        await ping();
        await sleep(50);
        await pops.ask({ type: "collect" }, "collected", 5_000);
        const lat: number[] = [];
        for (const [id, t] of got.ringing as [string, string][]) {
          const w = due.get(id);
          if (w !== undefined) lat.push(Number(BigInt(t) - offset - w) / 1e6);
        }
        lat.sort((a, b) => a - b);
        return { lat, complete };
      };

      await round(WARMUP_RINGS, 3);
      // The same pacing with and without the attack, so the two rounds compare.
      const quiet = await round(AGENTS, 0);
      const malloryToken = createApiToken(d.db, "mallory", "agent").token;
      if (!(await attacker.ask({ type: "attack", url, token: malloryToken }, "attackReady", 10_000))) throw new Error("the attacker did not connect");
      // The flood and the rings start together; while the daemon works through the flood, the
      // rings fall due (and, in this process, wait to be written).
      const attack = await round(AGENTS, 1, () => attacker.child.send({ type: "flood", frames: ATTACK_FRAMES, callId: "no-such-call" }));
      // Let the daemon finish the attacker's frames (or have closed it) before reading its tally.
      await ping();
      const stats = (await attacker.ask({ type: "attackStats" }, "attackStats", 5_000)) ?? { sent: 0, replies: {}, closeCode: null };
      const replies = stats.replies as Record<string, number>;
      const sent = Number(stats.sent);

      const s = (l: number[]) => ({ p50: percentile(l, 50), p99: percentile(l, 99), max: l[l.length - 1] ?? NaN });
      const q = s(quiet.lat);
      const a = s(attack.lat);
      const ms = (x: number) => x.toFixed(2);
      const answered = Object.values(replies).reduce((x, y) => x + y, 0);
      const notes = [
        `${active} active calls; ${AGENTS} agents; pops paced 1 per ${PACE_MS} ms`,
        `quiet: ${quiet.lat.length}/${AGENTS} pops, p50 ${ms(q.p50)} ms, p99 ${ms(q.p99)} ms, max ${ms(q.max)} ms`,
        `under attack: ${attack.lat.length}/${AGENTS} pops, p50 ${ms(a.p50)} ms, p99 ${ms(a.p99)} ms, max ${ms(a.max)} ms${attack.complete ? "" : " (not every pop arrived within the bound)"}`,
        `attacker: ${sent} frames written, ${answered} replies (${Object.entries(replies).map(([k, v]) => `${k} ${v}`).join(", ")}), closed with ${String(stats.closeCode ?? "none")}`,
      ];
      return {
        name: "dos-amplification",
        metrics: {
          messages: sent,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          extra: {
            activeCalls: active,
            quietP50Ms: q.p50,
            quietP99Ms: q.p99,
            quietMaxMs: q.max,
            attackP50Ms: a.p50,
            attackP99Ms: a.p99,
            attackMaxMs: a.max,
            attackPops: attack.lat.length,
            attackerReplies: answered,
            attackerCloseCode: Number(stats.closeCode ?? 0),
          },
        },
        notes,
      };
    } finally {
      pops.child.kill();
      attacker.child.kill();
      await daemon?.stop().catch(() => undefined);
      await pbx.close();
    }
  },
};
