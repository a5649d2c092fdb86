// Diagnostics for finding 7 of docs/benchmarks.md (not a benchmark row): pop-1000's paced round with per-pop
// stage stamps (write, daemon read, send, client read), GC entries and run-queue waits in both processes.
// After `npm run build`: node --expose-gc scripts/pop-trace/popTrace.mjs  (env N, ROUNDS, OUT, ALLOC=1 for a heap
// profile of round 1 to /tmp/alloc.heapprofile, TRACE_BUSY=1 for long callbacks); then
// node scripts/pop-trace/analyse.mjs OUT [K] and node scripts/pop-trace/alloc.mjs. wake.mjs: the loopback wake-up floor.
import { fork } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
const session = process.env.ALLOC ? new Session() : null; if (session) session.connect();
import { gcs, busy, startGc, startBusy, nowMs, sched, threads, threadDiff } from "./busy.mjs";
import { clockOffset, linkedDaemon } from "../../dist/bench/popLatency.js";
import { createApiToken } from "../../dist/src/publish/apiTokens.js";
import { AmiServer } from "../../dist/src/sim/amiServer.js";
import { benchUsers } from "../../dist/bench/callMemory.js";
import { benchConfig, percentile } from "../../dist/bench/lab.js";
import { popCall, ringBytes, setupBytes, hangupBytes } from "../../dist/bench/popCalls.js";
import { Connection } from "../../dist/src/publish/connection.js";
import { CallLogWriter } from "../../dist/src/store/callLog.js";

const N = Number(process.env.N ?? 1000), ROUNDS = Number(process.env.ROUNDS ?? 3);
startGc(); if (process.env.TRACE_BUSY) startBusy();
const sends = new Map(); // linkedId → t
const origSend = Connection.prototype.send;
Connection.prototype.send = function (text, type, callId) {
  if (type === "call.ringing") { const i = text.indexOf('"linkedIds":["'); if (i >= 0) { const id = text.slice(i + 14, text.indexOf('"', i + 14)); if (!sends.has(id)) sends.set(id, [nowMs(), sched()]); } }
  return origSend.call(this, text, type, callId);
};
const flushes = [];
const origFlush = CallLogWriter.prototype.flush;
CallLogWriter.prototype.flush = function () { const t = nowMs(); const n = this.pending.size; origFlush.call(this); flushes.push([t, nowMs() - t, n]); };

const users = benchUsers(N, 2000);
const pbx = new AmiServer();
const amiPort = await pbx.listen();
const config = benchConfig(users, { ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000 }, store: { path: ":memory:" }, server: { host: "127.0.0.1", port: 0 } });
const child = fork(fileURLToPath(new URL("./popClientsTrace.mjs", import.meta.url)), [], { stdio: "inherit", execArgv: process.env.CLIENT_ARGS ? process.env.CLIENT_ARGS.split(" ") : [] });
const ask = (msg, reply, ms) => new Promise((resolve) => { const t = setTimeout(() => done(null), ms); const on = (m) => { if (m.type === reply) done(m); }; const done = (r) => { clearTimeout(t); child.off("message", on); resolve(r); }; child.on("message", on); if (Object.keys(msg).length) child.send(msg); });
const { daemon, port, ping, conn } = await linkedDaemon(config, pbx);
const reads = [];
daemon.ami.socket.prependListener("data", (chunk) => { const t = nowMs(); const s = chunk.toString("latin1"); const m = /Linkedid: (\S+)/.exec(s); reads.push([t, m ? m[1] : "", chunk.length, sched()]); });
const tokens = users.map((u) => createApiToken(daemon.db, u.id, "agent").token);
const r = await ask({ type: "open", url: `ws://127.0.0.1:${port}${config.server.wsPath}`, tokens }, "opened", 60_000);
console.log("opened", r?.n);
const offset = Number(await clockOffset(ask)) / 1e6;
const all = [];
for (let round = 0; round <= ROUNDS; round++) {
  const n = round === 0 ? 20 : N;
  const cs = Array.from({ length: n }, (_, i) => popCall(i, round + 10, 2000));
  conn.socket.write(Buffer.concat(cs.map(setupBytes))); await ping(); await sleep(50);
  const before = await ask({ type: "collect" }, "collected", 5000);
  const dth0 = threads();
  gcs.length = 0; busy.length = 0; flushes.length = 0; reads.length = 0; sends.clear();
  const done = ask({ type: "expect", n }, "done", 15000);
  const written = new Map();
  if (session && round === 1) await session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const rings = cs.map(ringBytes);
  for (let i = 0; i < n; i++) { written.set(cs[i].linkedId, nowMs()); conn.socket.write(rings[i]); await sleep(1); }
  await done;
  if (session && round === 1) { const { profile } = await session.post("HeapProfiler.stopSampling"); writeFileSync("/tmp/alloc.heapprofile", JSON.stringify(profile)); }
  const got = await ask({ type: "collect" }, "collected", 5000);
  const dth1 = threads();
  if (round > 0) console.log("  daemon threads:", threadDiff(dth0, dth1), "\n  client threads:", threadDiff(before.threads, got.threads));
  conn.socket.write(Buffer.concat(cs.map(hangupBytes))); await ping(); await sleep(50);
  await ask({ type: "collect" }, "collected", 5000);
  if (round === 0) continue;
  const readBy = new Map(), readSched = new Map(); for (const [t, id, , sc] of reads) if (id && !readBy.has(id)) { readBy.set(id, t); readSched.set(id, sc); }
  const pops = got.ringing.map(([id, t, csc]) => { const w = written.get(id); const s = sends.get(id); return { id, w, r: readBy.get(id), rsc: readSched.get(id), s: s?.[0], ssc: s?.[1], csc, c: Number(t) / 1e6 - offset }; });
  const lat = pops.map((p) => p.c - p.w).sort((a, b) => a - b);
  console.log(`round ${round}: p50 ${percentile(lat, 50).toFixed(3)} p99 ${percentile(lat, 99).toFixed(3)} max ${lat.at(-1).toFixed(3)}; daemon gcs ${gcs.length} (${gcs.reduce((a, g) => a + g[1], 0).toFixed(1)} ms), client gcs ${got.gcs.length} (${got.gcs.reduce((a, g) => a + g[1], 0).toFixed(1)} ms), flushes ${flushes.length} max ${Math.max(...flushes.map((f) => f[1])).toFixed(3)}`);
  all.push({ round, pops, gcs: [...gcs], busy: [...busy], flushes: [...flushes], cgcs: got.gcs.map(([t, d, k]) => [t - offset, d, k]), cbusy: got.busy.map(([t, d, k]) => [t - offset, d, k]), reads: [...reads] });
}
writeFileSync(process.env.OUT ?? "/tmp/poptrace.json", JSON.stringify(all));
child.kill(); await daemon.stop(); await pbx.close();
