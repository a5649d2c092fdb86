/**
 * Raising this process's open-file limit for the client-count benchmarks: 50,000 loopback
 * WebSockets are 100,000 descriptors across both ends. `prlimit --pid` on our own pid (root,
 * or a soft limit up to the hard one otherwise) changes it for the running process; Node has
 * no API for setrlimit. Returns the soft limit in force afterwards, read back from /proc.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function fdLimit(): { soft: number; hard: number } {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files")) ?? "";
  const [soft, hard] = line.replace("Max open files", "").trim().split(/\s+/).map((s) => (s === "unlimited" ? Infinity : Number(s)));
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

/** Asks for at least `want` descriptors (capped by /proc/sys/fs/nr_open); never lowers the limit. */
export function raiseFdLimit(want: number): number {
  const now = fdLimit();
  if (now.soft >= want) return now.soft;
  const nrOpen = Number(readFileSync("/proc/sys/fs/nr_open", "utf8").trim());
  const n = Math.min(want, nrOpen);
  for (const spec of [`${n}:${Math.max(n, now.hard)}`, `${Math.min(n, now.hard)}:${now.hard}`]) {
    try {
      execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${spec}`], { stdio: "ignore", timeout: 5_000 });
      break;
    } catch {
      // not root: the second spec stays within the hard limit
    }
  }
  return fdLimit().soft;
}
