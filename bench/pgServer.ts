/**
 * A real PostgreSQL on 127.0.0.1 for the store tests and bench/pgArchive.ts: initdb into a fresh temp directory, a free
 * port, the unix socket in that directory, password (SCRAM) auth over TCP for the user
 * `ctibridge`. Run as root (CI), the server runs as the `postgres` user (initdb refuses root).
 * `postgresBin()` finds the binaries (CTIBRIDGE_PG_BIN, else the newest /usr/lib/postgresql/N/bin,
 * else PATH) or says null: the suites skip with one line. `kill()` is kill -9; `stop()` a fast
 * shutdown; `restart()` starts the same data directory again on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export function postgresBin(): string | null {
  const has = (dir: string) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres"));
  const env = process.env.CTIBRIDGE_PG_BIN;
  if (env) return has(env) ? env : null;
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(root, v, "bin"))) return join(root, v, "bin");
  }
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  const found = which.status === 0 ? which.stdout.trim() : "";
  return found && has(join(found, "..")) ? join(found, "..") : null;
}

/** The one line a suite prints when it cannot run. */
export const POSTGRES_MISSING = "PostgreSQL store tests not run: initdb/postgres not found (apt-get install postgresql, or set CTIBRIDGE_PG_BIN)";

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  url: string;
  dir: string;
  proc: ChildProcess;
  kill(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** stop() and remove the data directory. */
  destroy(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** uid/gid to run the server as: ourselves, or `postgres` when we are root. */
function runAs(): { uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  const gid = id("-g");
  if (!Number.isInteger(uid) || uid <= 0) throw new Error("running as root and there is no postgres user to run PostgreSQL as");
  return { uid, gid };
}

export interface PgOptions {
  /** Durable settings (fsync, synchronous_commit on): for benchmarks. Default: off, for speed. */
  durable?: boolean;
}

export async function startPostgres(opts: PgOptions = {}): Promise<PgServer> {
  const bin = postgresBin();
  if (!bin) throw new Error(POSTGRES_MISSING);
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), "ctib-pg-"));
  const data = join(dir, "data");
  const password = "test-password-" + Math.random().toString(36).slice(2);
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, password + "\n", { mode: 0o600 });
  if (as) {
    chownSync(dir, as.uid, as.gid);
    chownSync(pwfile, as.uid, as.gid);
  }
  const init = spawnSync(join(bin, "initdb"), ["-D", data, "-U", "ctibridge", "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], {
    encoding: "utf8",
    ...(as ?? {}),
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const settings = opts.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"];
  const server: PgServer = {
    host: "127.0.0.1",
    port,
    user: "ctibridge",
    password,
    database: "postgres",
    url: `postgres://ctibridge:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    dir,
    proc: null as unknown as ChildProcess,
    async kill() {
      await stopProc(server.proc, "SIGKILL");
    },
    async stop() {
      await stopProc(server.proc, "SIGINT");
    },
    async restart() {
      await stopProc(server.proc, "SIGINT");
      server.proc = await launch();
    },
    async destroy() {
      await stopProc(server.proc, "SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const launch = async (): Promise<ChildProcess> => {
    const proc = spawn(join(bin, "postgres"), ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=60", ...settings], {
      stdio: ["ignore", "ignore", "pipe"],
      ...(as ?? {}),
    });
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres did not start:\n${log}`)), 20_000);
      proc.stderr!.on("data", (b: Buffer) => {
        log += b.toString();
        if (log.includes("database system is ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited ${code}:\n${log}`));
      });
    });
    return proc;
  };
  try {
    server.proc = await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return server;
}

async function stopProc(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once("exit", r));
  proc.kill(signal);
  await gone;
}
