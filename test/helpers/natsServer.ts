/**
 * A real nats-server (JetStream) on 127.0.0.1, a random port and a fresh store directory, for the
 * cluster suite. `natsAvailable()` says whether the binary is installed (the suite skips with one
 * line when it is not); `kill()` is kill -9.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_BIN = process.env.NATS_SERVER_BIN ?? "nats-server";

export function natsAvailable(): boolean {
  return spawnSync(NATS_BIN, ["--version"], { stdio: "ignore" }).status === 0;
}

export interface NatsServer {
  url: string;
  port: number;
  proc: ChildProcess;
  /** SIGKILL, then remove the store directory. */
  kill(): Promise<void>;
}

export async function startNats(extra: string[] = []): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "ctib-nats-"));
  const proc = spawn(NATS_BIN, ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", dir, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${log}`)), 10_000);
    proc.stderr!.on("data", (b: Buffer) => {
      log += b.toString();
      const m = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
      if (m && log.includes("Server is ready")) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited ${code}:\n${log}`));
    });
  });
  proc.stderr!.resume();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    proc,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
