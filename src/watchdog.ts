/**
 * The last word on "shutdown always finishes": a worker thread that kills the process
 * (SIGKILL) if it still runs `ms` after shutdown began. It lives on its own thread because
 * what makes a shutdown hang usually blocks the main one (a synchronous write to a terminal
 * nobody reads, a stuck file system), and then no timer there can fire. Used by main.ts only.
 */
import { Worker } from "node:worker_threads";

const SOURCE = `
const { workerData } = require("node:worker_threads");
const cell = new Int32Array(workerData.sab);
// Sleeps on the shared cell; only a "disarm" (the process exits cleanly first) wakes it early.
if (Atomics.wait(cell, 0, 0, workerData.ms) === "timed-out") process.kill(workerData.pid, "SIGKILL");
`;

/** Arm the watchdog; the process is killed `ms` from now unless it has exited by then. */
export function armWatchdog(ms: number, pid: number): Worker {
  const sab = new SharedArrayBuffer(4);
  // execArgv: [] keeps the parent's flags (e.g. --input-type=module) from turning the source into ESM.
  const worker = new Worker(SOURCE, { eval: true, execArgv: [], workerData: { sab, ms, pid } });
  // It must not keep an otherwise finished process alive.
  worker.unref();
  return worker;
}
