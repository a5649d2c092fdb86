/**
 * Event-loop lag under a realistic burst (issue 12): the recorded 34-call burst trace
 * (24-burst-30-concurrent.ami: 2,770 messages over ~29.7 s of real time) replayed at 20×
 * into a real daemon while 500 WebSocket clients are connected (the six lab agents with five
 * sessions each, SUPERVISORS supervisors who see every call, the rest idle agents), the
 * clients in a child process.
 *
 * The trace has no per-message times, so the replay spreads its messages evenly over
 * 29.7 s ÷ 20 (one write per ~1 ms timer tick holding the messages due by then); COPIES
 * renumbered copies are played back to back. The lag is `perf_hooks.monitorEventLoopDelay`
 * (resolution 1 ms) in the daemon's process over the replay: p50, p99, max.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Daemon } from "../src/roles/standalone.js";
import { createApiToken } from "../src/publish/apiTokens.js";
import { AmiServer } from "../src/sim/amiServer.js";
import { renumberTrace } from "../src/sim/renumber.js";
import { benchUsers } from "./callMemory.js";
import { BURST_TRACE, benchConfig, LAB_USERS } from "./lab.js";
import { clientProcess, linkedDaemon } from "./popLatency.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const CLIENTS = 500;
const PER_LAB_USER = 5;
const SUPERVISORS = 10;
const SPEED = 20;
const TRACE_SECONDS = 29.7;
const COPIES = 4;

/** The messages of one renumbered copy, each with its CRLF CRLF terminator. */
function messagesOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf("\r\n\r\n", at, "latin1");
    if (end < 0) break;
    out.push(bytes.subarray(at, end + 4));
    at = end + 4;
  }
  return out;
}

export const loopLagBench: Bench = {
  name: "loop-lag",
  title: `event-loop lag, 34-call burst trace at ${SPEED}×, ${CLIENTS} clients`,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const started = process.hrtime.bigint();
    const idle = CLIENTS - LAB_USERS.length * PER_LAB_USER - SUPERVISORS;
    const idleUsers = benchUsers(idle, 3000);
    const sups = Array.from({ length: SUPERVISORS }, (_, i) => ({ id: `s${i}`, name: `Supervisor ${i}`, role: "supervisor", devices: [] }));
    const pbx = new AmiServer({ record: true });
    const amiPort = await pbx.listen();
    const config = benchConfig([...LAB_USERS, ...idleUsers, ...sups], {
      ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000 },
      store: { path: ":memory:" },
      server: { host: "127.0.0.1", port: 0 },
    });
    const trace = readFileSync(join(ctx.traces, BURST_TRACE));
    const copies = Array.from({ length: COPIES }, (_, c) => messagesOf(renumberTrace(trace, c, { stripPreamble: true, dropResponses: true })));
    const { child, ask } = clientProcess();
    let daemon: Daemon | undefined;
    try {
      const linked = await linkedDaemon(config, pbx);
      daemon = linked.daemon;
      const d = daemon;
      const url = `ws://127.0.0.1:${linked.port}${config.server.wsPath}`;
      const tokens: string[] = [];
      const watchers: string[] = [];
      d.db.transaction(() => {
        for (const u of LAB_USERS) for (let k = 0; k < PER_LAB_USER; k++) tokens.push(createApiToken(d.db, u.id, "agent").token);
        for (const u of idleUsers) tokens.push(createApiToken(d.db, u.id, "agent").token);
        for (const u of sups) watchers.push(createApiToken(d.db, u.id, "supervisor").token);
      })();
      const opened = await ask({ type: "open", url, tokens, watchers }, "opened", ctx.timeoutMs / 2);
      if (opened?.n !== CLIENTS) throw new Error(`only ${String(opened?.n ?? 0)} of ${CLIENTS} clients connected`);
      await ask({ type: "collect" }, "collected", 5_000);

      const h = monitorEventLoopDelay({ resolution: 1 });
      const durationMs = (TRACE_SECONDS * 1000) / SPEED;
      let messages = 0;
      const t0 = performance.now();
      h.enable();
      for (const msgs of copies) {
        const start = performance.now();
        let next = 0;
        while (next < msgs.length) {
          const due = Math.min(msgs.length, Math.floor(((performance.now() - start) / durationMs) * msgs.length) + 1);
          if (due > next) {
            linked.conn.socket.write(Buffer.concat(msgs.slice(next, due)));
            messages += due - next;
            next = due;
          }
          await sleep(1);
        }
      }
      await linked.ping();
      h.disable();
      const replaySeconds = (performance.now() - t0) / 1000;
      await sleep(200);
      const got = (await ask({ type: "collect" }, "collected", 5_000))!;
      const ms = (ns: number) => ns / 1e6;
      const p50 = ms(h.percentile(50));
      const p99 = ms(h.percentile(99));
      const max = ms(h.max);
      const notes = [
        `${COPIES} copies × ${copies[0]!.length} messages of ${BURST_TRACE} at ${SPEED}× (${(durationMs / 1000).toFixed(2)} s each), ${messages} written in ${replaySeconds.toFixed(2)} s`,
        `${CLIENTS} clients (${LAB_USERS.length} lab agents × ${PER_LAB_USER}, ${idle} idle agents, ${SUPERVISORS} supervisors): ${Number(got.frames) + Number(got.watched)} frames read`,
        `event-loop delay (monitorEventLoopDelay, 1 ms resolution, ${h.count} samples): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms`,
      ];
      return {
        name: "loop-lag",
        metrics: {
          messages,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          extra: { clients: CLIENTS, lagP50Ms: p50, lagP99Ms: p99, lagMaxMs: max, frames: Number(got.frames) + Number(got.watched), replaySeconds },
        },
        notes,
      };
    } finally {
      child.kill();
      await daemon?.stop().catch(() => undefined);
      await pbx.close();
    }
  },
};
