/**
 * A cluster on 127.0.0.1 for the cluster suite: the real CLI (compiled once per file) started as
 * PBX workers and gateways (`ctibridge start --config`), each a child process that a test can
 * kill -9, against one nats-server and a fake PBX; recording WebSocket clients signed with the
 * gateways' JWT secret.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { collectLogLines } from "./builtCli.js";
import { TestClient } from "./cti.js";
import { waitFor } from "./daemon.js";
import { LAB_USERS } from "./labConfig.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const JWT_SECRET = "cluster-test-secret-long-enough-for-hs256";

export interface RoleProc {
  name: string;
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<void>;
  /** The HTTP port (from its `ctibridge started` line). */
  port(): number | null;
  has(msg: string): boolean;
}

export class ClusterRig {
  readonly dir = mkdtempSync(join(tmpdir(), "ctib-cluster-"));
  private main = "";
  private readonly procs: RoleProc[] = [];
  private readonly clients: TestClient[] = [];

  /** Compile the sources once (inside the project, so the child resolves node_modules). */
  build(): void {
    const out = join(ROOT, ".fuzz", `cluster-${process.pid}`);
    mkdirSync(out, { recursive: true });
    execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", out, "--sourceMap", "false"], { stdio: "pipe" });
    for (const link of ["web", "test"]) {
      try {
        symlinkSync(join(ROOT, link), join(out, link));
      } catch {
        /* exists */
      }
    }
    this.main = join(out, "src", "main.js");
    this.buildDir = out;
  }

  private buildDir = "";

  start(name: string, yaml: string): RoleProc {
    const file = join(this.dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    const proc = spawn(process.execPath, [this.main, "start", "--config", file], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    const lines: Record<string, unknown>[] = [];
    collectLogLines(proc, lines);
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    const p: RoleProc = {
      name,
      proc,
      lines,
      exited,
      port: () => {
        const l = lines.find((x) => x.msg === "ctibridge started" && typeof x.http === "string");
        return l ? Number(/:(\d+)$/.exec(l.http as string)![1]) : null;
      },
      has: (msg) => lines.some((l) => l.msg === msg),
    };
    this.procs.push(p);
    return p;
  }

  /** Run a command of the compiled CLI (`tokens create alice --config …`); its exit code and output. */
  run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const proc = spawn(process.execPath, [this.main, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    let out = "";
    let err = "";
    proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    return new Promise((r) => proc.once("close", (code) => r({ code, out, err })));
  }

  static usersYaml(): string {
    return ["users:", ...LAB_USERS.map((u) => `  - { id: ${u.id}, name: "${u.name}", devices: [${u.devices.join(", ")}] }`), '  - { id: sam, name: "Sam", devices: [], role: supervisor }'].join("\n");
  }

  /** `users`: a users YAML block instead of the lab users; `replicas`: stream and KV replicas; `extra`: more top-level YAML lines. */
  workerYaml(o: { nats: string; pbxId: string; workerId: string; amiPort: number; leaseTtlMs: number; users?: string; replicas?: number; extra?: string[] }): string {
    return [
      `ami: { mode: live, host: 127.0.0.1, port: ${o.amiPort}, username: ctibridge, secret: s3cret, reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0, agentListing: { bootWaitMs: 2000, attempts: 3, minDelayMs: 20, maxDelayMs: 50 } }`,
      "mode: cluster",
      `cluster: { role: pbx, pbxId: ${o.pbxId}, workerId: ${o.workerId}, leaseTtlMs: ${o.leaseTtlMs}, nats: { servers: [${o.nats}], replicas: ${o.replicas ?? 1} } }`,
      `store: { path: ${JSON.stringify(join(this.dir, `${o.workerId}.db`))} }`,
      "server: { host: 127.0.0.1, port: 0 }",
      "trunks: [PJSIP/carrier]",
      "log: { level: info }",
      ...(o.extra ?? []),
      o.users ?? ClusterRig.usersYaml(),
    ].join("\n") + "\n";
  }

  /** `store`: extra store settings (e.g. `kind: postgres, postgres: {…}`); `cluster`: extra cluster settings. */
  gatewayYaml(o: { nats: string; name: string; users?: string; replicas?: number; store?: string; cluster?: string }): string {
    return [
      "mode: cluster",
      `cluster: { role: gateway, workerId: ${o.name}, nats: { servers: [${o.nats}], replicas: ${o.replicas ?? 1} }${o.cluster ? `, ${o.cluster}` : ""} }`,
      `auth: { jwtSecret: ${JWT_SECRET} }`,
      `store: { path: ${JSON.stringify(join(this.dir, `${o.name}.db`))}${o.store ? `, ${o.store}` : ""} }`,
      // Many tabs of one user in the gateway test (default 20 per user).
      "server: { host: 127.0.0.1, port: 0, limits: { maxClientsPerUser: 100 } }",
      "log: { level: info }",
      o.users ?? ClusterRig.usersYaml(),
    ].join("\n") + "\n";
  }

  async token(userId: string): Promise<string> {
    const role = userId === "sam" ? "supervisor" : "agent";
    return new SignJWT({ role }).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(JWT_SECRET));
  }

  async connect(port: number, userId: string): Promise<TestClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await this.token(userId)}`]);
    const c = new TestClient(ws);
    this.clients.push(c);
    await c.opened;
    return c;
  }

  async ready(p: RoleProc, what = "ctibridge started"): Promise<void> {
    await waitFor(() => p.has(what) || p.proc.exitCode !== null, `${p.name}: ${what}`, 3000);
    if (!p.has(what)) throw new Error(`${p.name} exited: ${JSON.stringify(p.lines.slice(-5))}`);
  }

  async kill9(p: RoleProc): Promise<void> {
    p.proc.kill("SIGKILL");
    await p.exited;
  }

  async close(): Promise<void> {
    for (const c of this.clients.splice(0)) c.ws.terminate();
    for (const p of this.procs.splice(0)) {
      if (p.proc.exitCode === null && p.proc.signalCode === null) {
        p.proc.kill("SIGKILL");
        await p.exited;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (this.buildDir) rmSync(this.buildDir, { recursive: true, force: true });
  }
}
