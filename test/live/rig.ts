/**
 * The pieces of a live fault test: the built CLI (`npm run build`, dist/) as a real child
 * process on a file database, WebSocket clients with API keys made by the CLI, the lab's
 * phones driven line by line (test/live/phones.py) and the lab PBX's CLI.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { WebSocket } from "ws";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { collectLogLines } from "../helpers/builtCli.js";
import { TestClient } from "../helpers/cti.js";
import { waitFor } from "../helpers/daemon.js";
import { LAB_USERS } from "../helpers/labConfig.js";
import { LAB_AMI, LAB_DIR } from "./lab.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAIN = join(ROOT, "dist", "src", "main.js");

/** Seconds-bounded wait: `waitFor` polls every 10 ms. */
export const within = <T>(fn: () => T | undefined | null | false, what: string, seconds: number) => waitFor(fn, what, seconds * 100);

export function astcli(cmd: string): string {
  return execFileSync(join(LAB_DIR, "astcli.sh"), [cmd], { encoding: "utf8", timeout: 20_000 });
}

/** Asterisk's pid (the lab's pid file). */
export function asteriskPid(): number {
  return Number(execFileSync("cat", [join(LAB_DIR, "run", "asterisk.pid")], { encoding: "utf8" }).trim());
}

export function labUp(): string {
  return execFileSync(join(LAB_DIR, "lab-up.sh"), [], { encoding: "utf8", timeout: 60_000 });
}

export class Daemon {
  readonly lines: Record<string, any>[] = [];
  proc!: ChildProcess;
  exited!: Promise<void>;
  port = 0;
  readonly dir = mkdtempSync(join(tmpdir(), "ctib-live-faults-"));
  readonly dbPath = join(this.dir, "ctibridge.db");
  readonly configPath = join(this.dir, "ctibridge.yaml");

  constructor(ami: Record<string, unknown> = {}) {
    const users = [...LAB_USERS, { id: "sam", name: "Sam Supervisor", devices: [], role: "supervisor" }];
    const config = {
      ami: { mode: "live", ...LAB_AMI, reconnect: { minDelayMs: 200, maxDelayMs: 2000 }, ...ami },
      store: { path: this.dbPath },
      server: { host: "127.0.0.1", port: 0 },
      trunks: ["PJSIP/carrier"],
      log: { level: "debug" },
      users,
    };
    writeFileSync(this.configPath, JSON.stringify(config, null, 1) + "\n");
  }

  /** Start the CLI; resolves after its first resync at the lab PBX. */
  async start(): Promise<void> {
    const proc = spawn(process.execPath, [MAIN, "start", "--config", this.configPath], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    const from = this.lines.length;
    collectLogLines(proc, this.lines);
    this.proc = proc;
    this.exited = new Promise<void>((r) => proc.once("exit", () => r()));
    const started = await within(() => this.lines.slice(from).find((l) => l.msg === "ctibridge started"), "ctibridge started", 20);
    this.port = Number(String(started.http).split(":").pop());
    await within(() => this.lines.slice(from).some((l) => l.msg === "pbx resynced"), "first resync", 20);
  }

  count(msg: string, from = 0): number {
    return this.lines.slice(from).filter((l) => l.msg === msg).length;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    await this.exited;
  }

  token(user: string): string {
    return execFileSync(process.execPath, [MAIN, "tokens", "create", user, "--config", this.configPath], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  }

  async client(token: string): Promise<TestClient> {
    const c = new TestClient(new WebSocket(`ws://127.0.0.1:${this.port}/ws`, [SUBPROTOCOL, `bearer.${token}`]));
    await c.ready();
    return c;
  }

  /** The stored calls and legs, read from the file (another process's database). */
  read() {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      const calls = db.prepare("SELECT * FROM calls ORDER BY started_at").all() as Record<string, any>[];
      const legs = db.prepare("SELECT * FROM legs ORDER BY call_id, user_id").all() as Record<string, any>[];
      return { calls, legs };
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    if (this.proc) await this.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** test/live/phones.py: one command, one answer (`ok <epoch s> [detail]`). */
export class Phones {
  private readonly proc: ChildProcess;
  private readonly answers: string[] = [];
  readonly output: string[] = [];

  constructor() {
    this.proc = spawn("python3", [join(ROOT, "test", "live", "phones.py")], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, CTIBRIDGE_LAB: LAB_DIR } });
    let buf = "";
    this.proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("ok") || line.startsWith("err")) this.answers.push(line);
        else this.output.push(line);
      }
    });
    this.proc.stderr!.on("data", (d: Buffer) => this.output.push(d.toString("utf8")));
  }

  /** Run one command; returns the phone-side time (ms since the epoch) it completed at. */
  async do(cmd: string, seconds = 30): Promise<{ at: number; detail: string }> {
    this.proc.stdin!.write(cmd + "\n");
    const line = await within(() => this.answers.shift(), `phones: ${cmd}`, seconds);
    if (!line.startsWith("ok")) throw new Error(`phones: ${cmd}: ${line}\n${this.output.slice(-20).join("\n")}`);
    const [, at, ...rest] = line.split(" ");
    return { at: Math.round(Number(at) * 1000), detail: rest.join(" ") };
  }

  async quit(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.stdin!.write("quit\n");
    await new Promise<void>((r) => {
      const t = setTimeout(() => (this.proc.kill("SIGKILL"), r()), 20_000);
      this.proc.once("exit", () => (clearTimeout(t), r()));
    });
  }
}
