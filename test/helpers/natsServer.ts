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

/** A free TCP port on 127.0.0.1 (bound and released; the cluster's route ports must be known up front). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `n` nats-servers in one JetStream cluster (routes on 127.0.0.1); resolves once a meta leader is elected. */
export async function startNatsCluster(n = 3): Promise<NatsServer[]> {
  const routes = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routeList = routes.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const nodes = await Promise.all(
    routes.map((rp, i) => startNats(["--cluster_name", "ctib", "-n", `n${i + 1}`, "--cluster", `nats://127.0.0.1:${rp}`, "--routes", routeList])),
  );
  // JetStream is usable once the nodes agreed on a meta leader.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetchJsz(nodes[0]!).catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error("nats cluster formed no JetStream meta leader");
    await new Promise((r) => setTimeout(r, 200));
  }
  return nodes;
}

/** Whether the node answers a JetStream account info request (meta leader known). */
async function fetchJsz(node: NatsServer): Promise<boolean> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: node.url });
  try {
    const r = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
    return !JSON.parse(new TextDecoder().decode(r.data)).error;
  } finally {
    await nc.close();
  }
}
