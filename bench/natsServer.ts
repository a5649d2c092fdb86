/** A nats-server with JetStream on 127.0.0.1 (a random port, its store in `dir`) for the cluster benchmarks. */
import { spawn, type ChildProcess } from "node:child_process";

export async function startNats(dir: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn("nats-server", ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", dir], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    proc.stderr!.on("data", (b: Buffer) => {
      log += b.toString();
      const m = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
      if (m && log.includes("Server is ready")) resolve(Number(m[1]));
    });
    proc.once("exit", () => reject(new Error(log)));
  });
  return { url: `nats://127.0.0.1:${port}`, proc };
}
