/**
 * The CLI as a real process: the sources compiled once (per test file) into a temporary
 * folder laid out like the package (node_modules, web/ and test/fixtures reached through
 * symlinks), so a test can run `node <dir>/src/main.js …` with real signals, pipes and exit codes.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function compileCli(): string {
  const out = mkdtempSync(join(tmpdir(), "ctib-built-"));
  execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", out, "--sourceMap", "false"], { stdio: "pipe" });
  for (const link of ["node_modules", "web", "test"]) symlinkSync(join(ROOT, link), join(out, link));
  return join(out, "src", "main.js");
}

/** The exit of a child: its code or the signal that ended it. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
}

export { spawn };

/** The daemon child's JSON log lines (a line that is not JSON as `{ msg: line }`), and stderr, appended to `lines`. */
export function collectLogLines(proc: ChildProcess, lines: Record<string, unknown>[]): void {
  let buf = "";
  proc.stdout!.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  proc.stderr!.on("data", (d: Buffer) => lines.push({ msg: "stderr", text: d.toString("utf8") }));
}
