// Floor: one-way latency of a small loopback TCP write to an idle Node process, 1 write per ms.
import { fork } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
const N = Number(process.env.N ?? 3000);
if (process.argv[2] === "child") {
  const lat = [];
  const srv = net.createServer((s) => { s.setNoDelay(true); let buf = Buffer.alloc(0);
    s.on("data", (d) => { const t = process.hrtime.bigint(); buf = Buffer.concat([buf, d]); while (buf.length >= 8) { lat.push(Number(t - buf.readBigUInt64LE(0)) / 1e6); buf = buf.subarray(8); }
      if (lat.length >= N) { lat.sort((a, b) => a - b); const p = (q) => lat[Math.ceil(q / 100 * lat.length) - 1].toFixed(3); process.send({ p50: p(50), p99: p(99), p999: p(99.9), max: lat.at(-1).toFixed(3), over1: lat.filter(x => x > 1).length }); } });
  }).listen(0, "127.0.0.1", () => process.send({ port: srv.address().port }));
} else {
  const c = fork(new URL(import.meta.url).pathname, ["child"]);
  const port = await new Promise((r) => c.once("message", (m) => r(m.port)));
  const s = net.connect(port, "127.0.0.1"); s.setNoDelay(true); await new Promise((r) => s.once("connect", r));
  c.once("message", (m) => { console.log(JSON.stringify(m)); c.kill(); s.destroy(); });
  for (let i = 0; i < N; i++) { const b = Buffer.alloc(8); b.writeBigUInt64LE(process.hrtime.bigint()); s.write(b); await sleep(1); }
}
