/**
 * Webhook delivery throughput (issue 10): the outbox of a file database holds EVENTS events
 * (CALLS calls × EVENTS_PER_CALL, a ~2 KB body each, written before the clock starts); the
 * real `Webhooks` deliverer (src/webhooks/deliver.ts: outbox query, HMAC signature, POST over
 * keep-alive, the row updated per answer) sends them to a fast receiver in another process
 * (bench/webhookSink.ts) that answers 204. Reported: deliveries/s from start() to the last row
 * delivered, at the given concurrency. Pop latency with a dead target: bench/popLatency.ts.
 */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { createLogger } from "../src/log.js";
import { openDb } from "../src/store/db.js";
import { Outbox, type NewOutboxRow } from "../src/store/outbox.js";
import { Webhooks } from "../src/webhooks/deliver.js";
import { waitUntil } from "./popLatency.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const CALLS = 1_000;
const EVENTS_PER_CALL = 5;
const EVENTS = CALLS * EVENTS_PER_CALL;

/** The fast receiver's process and its port. */
export async function startSink(): Promise<{ port: number; count: () => Promise<number>; stop: () => void }> {
  const child = fork(fileURLToPath(new URL("./webhookSink.js", import.meta.url)), [], { stdio: "inherit", execArgv: [] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve((m as { port: number }).port));
    child.once("error", reject);
  });
  const count = () =>
    new Promise<number>((resolve) => {
      child.once("message", (m) => resolve((m as { n: number }).n));
      child.send({ type: "count" });
    });
  return { port, count, stop: () => child.kill() };
}

function body(i: number, callId: string): string {
  const call = { callId, direction: "inbound", state: "ended", from: { raw: "0049891234567", e164: "+49891234567", display: "+49 89 1234567", name: null }, pad: "x".repeat(1_700) };
  return JSON.stringify({ id: `evt-${i}`, type: "call.ended", ts: new Date().toISOString(), webhook: "bench", call });
}

/**
 * Resolves when the deliverer's own counter (`ctibridge_webhook_delivered_total`) reaches
 * `events` (polled every 10 ms: an outbox count per poll would cost more than the deliveries).
 */
export async function deliveredAll(registry: Registry, events: number, timeoutMs: number): Promise<void> {
  const delivered = registry.getSingleMetric("ctibridge_webhook_delivered_total")!;
  let n = 0;
  const poll = setInterval(() => void delivered.get().then((m) => (n = m.values.reduce((a, v) => a + v.value, 0))), 10);
  try {
    await waitUntil(() => n === events, "every event delivered", timeoutMs);
  } finally {
    clearInterval(poll);
  }
}

export function webhookBench(concurrency: number): Bench {
  const name = `webhooks-c${concurrency}`;
  return {
    name,
    title: `webhook deliveries to a local receiver, ${EVENTS.toLocaleString("en-US")} events, concurrency ${concurrency}`,
    async run(ctx: BenchContext): Promise<BenchResult> {
      const dir = mkdtempSync(join(tmpdir(), "ctib-bench-wh-"));
      const sink = await startSink();
      const db = openDb(join(dir, "wh.db"));
      let webhooks: Webhooks | undefined;
      try {
        const box = new Outbox(db);
        const at = new Date().toISOString();
        const rows: NewOutboxRow[] = [];
        for (let i = 0; i < EVENTS; i++) {
          const callId = `call-${i % CALLS}`;
          rows.push({ eventId: `evt-${i}`, target: "bench", type: "call.ended", callId, payload: body(i, callId), at });
        }
        db.transaction(() => box.add(rows))();
        const registry = new Registry();
        webhooks = new Webhooks({
          targets: [{ name: "bench", url: `http://127.0.0.1:${sink.port}/hook`, events: ["call.ended"], secret: "bench-secret-0123456789", timeoutMs: 10_000, maxAttempts: 100, retryForHours: 24, minDelayMs: 1_000, maxDelayMs: 3_600_000, concurrency }],
          outbox: box,
          log: createLogger({ level: "silent" }),
          registry,
          version: "bench",
          popTemplate: () => undefined,
        });
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        webhooks.start();
        await deliveredAll(registry, EVENTS, ctx.timeoutMs);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        const received = await sink.count();
        if (box.counts().delivered !== EVENTS) throw new Error("the outbox does not say every event was delivered");
        const perSec = EVENTS / seconds;
        return {
          name,
          metrics: { messages: EVENTS, seconds, cpuMicros: cpu.user + cpu.system, extra: { deliveriesPerSec: perSec, concurrency, received } },
          notes: [
            `${EVENTS} events (${CALLS} calls × ${EVENTS_PER_CALL}, in order per call), concurrency ${concurrency}: ${seconds.toFixed(2)} s = ${Math.round(perSec)} deliveries/s; daemon-side CPU ${((cpu.user + cpu.system) / EVENTS).toFixed(0)} µs per delivery; receiver answered ${received}`,
          ],
        };
      } finally {
        webhooks?.stop();
        db.close();
        sink.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
