/**
 * `npm run fuzz`: the long run of the AMI fault suite (not part of `npm test`). Cases come
 * from the same fast-check generator as test/fuzz/ami.test.ts and run in worker threads
 * under a watchdog, so a case that never returns is reported as a hang (and its worker
 * replaced) instead of stalling the run. Bounded by a message count and by time.
 *
 *   FUZZ_MESSAGES (1000000)  mutated messages to run at least
 *   FUZZ_SECONDS  (900)      stop after this many seconds whatever the count
 *   FUZZ_SEED     (random)   base seed; batch b of worker w uses seed + w * 1e6 + b
 *   FUZZ_WORKERS  (1)        worker threads (two cores are shared: one by default)
 *   FUZZ_CASE     seed:index replay one case and print it with its error
 *
 * Prints cases, messages, exceptions, invariant violations, hangs, slow cases, the seed
 * and the time; exits 1 when anything failed.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import fc from "fast-check";
import { caseArb, InvariantError, runCase, type Case } from "./harness.js";

const BATCH = 100;
const SLOW_MS = 250;
const HANG_MS = 20_000;

interface Failure {
  kind: "exception" | "invariant" | "hang";
  where: string;
  message: string;
}

function batch(seed: number): Case[] {
  return fc.sample(caseArb, { seed, numRuns: BATCH });
}

function worker(): void {
  const { seed, progress } = workerData as { seed: number; progress: Int32Array };
  // progress[0]: batch seed offset, progress[1]: case index in it, progress[2]: cases done
  for (let b = progress[0]!; ; b++) {
    Atomics.store(progress, 0, b);
    const cases = batch(seed + b);
    let messages = 0;
    const failures: Failure[] = [];
    const slow: string[] = [];
    for (let i = 0; i < cases.length; i++) {
      Atomics.store(progress, 1, i);
      Atomics.add(progress, 2, 1);
      const where = `${seed + b}:${i}`;
      try {
        const r = runCase(cases[i]!);
        messages += r.messages;
        if (r.ms > SLOW_MS) slow.push(`${where} (${Math.round(r.ms)} ms)`);
      } catch (err) {
        failures.push({ kind: err instanceof InvariantError ? "invariant" : "exception", where, message: String((err as Error)?.stack ?? err).slice(0, 800) });
      }
    }
    parentPort!.postMessage({ cases: cases.length, messages, failures, slow });
  }
}

async function main(): Promise<void> {
  const env = process.env;
  if (env.FUZZ_CASE) {
    const [seed, index] = env.FUZZ_CASE.split(":").map(Number);
    const c = batch(seed!)[index!]!;
    console.log(JSON.stringify(c));
    runCase(c);
    console.log("case passed");
    return;
  }
  const target = Number(env.FUZZ_MESSAGES ?? 1_000_000);
  const seconds = Number(env.FUZZ_SECONDS ?? 900);
  const seed = Number(env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const workers = Math.max(1, Number(env.FUZZ_WORKERS ?? 1));
  const began = Date.now();
  const totals = { cases: 0, messages: 0, slow: [] as string[], failures: [] as Failure[] };
  console.log(`fuzz: seed ${seed}, ${workers} worker(s), until ${target} mutated messages or ${seconds} s`);

  await new Promise<void>((done) => {
    let running = 0;
    const finished = () => totals.messages >= target || Date.now() - began > seconds * 1000;
    const start = (w: number, fromBatch: number): void => {
      const progress = new Int32Array(new SharedArrayBuffer(12));
      progress[0] = fromBatch;
      const th = new Worker(new URL(import.meta.url), { workerData: { seed: seed + w * 1_000_000, progress } });
      running++;
      let hung = false;
      let lastDone = 0;
      let lastMove = Date.now();
      const dog = setInterval(() => {
        const done = Atomics.load(progress, 2);
        if (done !== lastDone) {
          lastDone = done;
          lastMove = Date.now();
        } else if (Date.now() - lastMove > HANG_MS) {
          hung = true;
          totals.failures.push({ kind: "hang", where: `${seed + w * 1_000_000 + Atomics.load(progress, 0)}:${Atomics.load(progress, 1)}`, message: `no progress for ${HANG_MS} ms` });
        }
        if (hung || finished()) void th.terminate();
      }, 500);
      th.on("message", (r: { cases: number; messages: number; failures: Failure[]; slow: string[] }) => {
        totals.cases += r.cases;
        totals.messages += r.messages;
        totals.failures.push(...r.failures);
        totals.slow.push(...r.slow);
        if (finished()) void th.terminate();
      });
      th.on("error", (err) => totals.failures.push({ kind: "exception", where: `worker ${w}`, message: String(err) }));
      th.on("exit", () => {
        clearInterval(dog);
        running--;
        // A hung worker is replaced, resuming after the batch that hung.
        if (hung && !finished()) start(w, Atomics.load(progress, 0) + 1);
        if (running <= 0) done();
      });
    };
    for (let w = 0; w < workers; w++) start(w, 0);
  });

  const secs = (Date.now() - began) / 1000;
  const count = (k: Failure["kind"]) => totals.failures.filter((f) => f.kind === k).length;
  console.log(
    [
      `cases: ${totals.cases}`,
      `mutated messages: ${totals.messages}`,
      `exceptions: ${count("exception")}`,
      `invariant violations: ${count("invariant")}`,
      `hangs (> ${HANG_MS / 1000} s): ${count("hang")}`,
      `slow cases (> ${SLOW_MS} ms): ${totals.slow.length}${totals.slow.length ? " " + totals.slow.slice(0, 10).join(", ") : ""}`,
      `seed: ${seed}`,
      `time: ${secs.toFixed(1)} s (${Math.round(totals.messages / secs)} messages/s)`,
    ].join("\n"),
  );
  for (const f of totals.failures.slice(0, 10)) console.log(`\n${f.kind} at FUZZ_CASE=${f.where}\n${f.message}`);
  if (totals.failures.length > 0) process.exitCode = 1;
}

if (isMainThread) await main();
else worker();
