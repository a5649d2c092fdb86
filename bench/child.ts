/**
 * Running one benchmark in a fresh process. The parent (run.ts) forks this file with the
 * benchmark's name and context; the child measures, sends back one result message and exits.
 * A fresh process per measurement keeps RSS, heap and JIT state of one from skewing another.
 */
import { fork } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { findBench, type BenchContext, type BenchResult } from "./registry.js";

type ChildReply = { ok: true; result: BenchResult } | { ok: false; error: string };

/** Forks a child for `name`; kills it if it outlives the context's budget plus a grace period. */
export function runIsolated(name: string, ctx: BenchContext): Promise<BenchResult> {
  // The child inherits --expose-gc from process.execArgv (fork's default).
  const child = fork(fileURLToPath(import.meta.url), [name, JSON.stringify(ctx)], { stdio: "inherit" });
  return new Promise((resolve, reject) => {
    let reply: ChildReply | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name}: no result within ${ctx.timeoutMs + 10_000} ms, killed`));
    }, ctx.timeoutMs + 10_000);
    child.on("message", (msg) => {
      reply = msg as ChildReply;
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok) resolve(reply.result);
      else reject(new Error(`${name}: ${reply ? reply.error : `exited with ${signal ?? code} and no result`}`));
    });
  });
}

async function childMain(name: string, ctxJson: string): Promise<void> {
  const bench = await findBench(name);
  let reply: ChildReply;
  try {
    if (!bench) throw new Error(`unknown benchmark ${name}`);
    reply = { ok: true, result: await bench.run(JSON.parse(ctxJson) as BenchContext) };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  process.send?.(reply, () => process.exit(0));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [name, ctxJson] = process.argv.slice(2);
  if (name === undefined || ctxJson === undefined || !process.send) {
    console.error("child.js is started by run.js, not by hand");
    process.exit(2);
  }
  void childMain(name, ctxJson);
}
