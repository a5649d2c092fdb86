/**
 * main.ts through real child processes: shutdown always finishes (a stdout nobody reads, a
 * second signal, a wedged main thread) and printing commands end quietly when their reader
 * goes away (`| head`). Each wait for an exit is bounded only by the test's own timeout.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { constants, mkdtempSync, openSync, closeSync, writeFileSync, writeSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AmiMessage } from "../src/ami/codec.js";
import { replayFiles } from "../src/replay.js";
import { CallLog } from "../src/store/callLog.js";
import { openDb } from "../src/store/db.js";
import { compileCli, exited, spawn } from "./helpers/builtCli.js";
import { next, startFakeAmi, type AmiServer } from "./helpers/fakeAmiServer.js";
import { labConfig } from "./helpers/labConfig.js";
import { FIXTURES } from "./helpers/traces.js";

let main = "";
beforeAll(() => void (main = compileCli()), 120_000);
afterAll(() => rmSync(dirname(dirname(main)), { recursive: true, force: true }));

const children: ChildProcess[] = [];
const fds: number[] = [];
let pbx: AmiServer | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const fd of fds.splice(0)) closeSync(fd);
  await pbx?.close();
  pbx = undefined;
});

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "ctib-main-"));
}

/**
 * A pipe whose reader never reads, already full: every write to it would block (or EAGAIN).
 * Returns the write end for the child's stdout; the test keeps the other ends open.
 */
function stuckPipe(): number {
  const fifo = join(tmp(), "stdout");
  execFileSync("mkfifo", [fifo]);
  fds.push(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
  const filler = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  fds.push(filler);
  const block = Buffer.alloc(4096, 0x20);
  try {
    for (let i = 0; i < 1024; i++) writeSync(filler, block); // bounded: a pipe holds 64 KiB by default
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
  }
  const out = openSync(fifo, constants.O_WRONLY);
  fds.push(out);
  return out;
}

/** A daemon against a fake PBX on loopback; resolves once its AMI link is up and resyncing (signal handlers long in place). */
async function startDaemon(stdout: number | "pipe", pbxOpts: { answerLogoff?: boolean } = {}) {
  pbx = await startFakeAmi();
  if (pbxOpts.answerLogoff === false) pbx.handle("Logoff", () => undefined);
  const dir = tmp();
  const cfg = join(dir, "c.yaml");
  writeFileSync(
    cfg,
    `ami: { mode: live, port: ${pbx.port}, secret: s3cret-value-0001 }\nserver: { host: 127.0.0.1, port: 0 }\nstore: { path: ${join(dir, "c.db")} }\nlog: { level: debug }\n`,
  );
  const up = next<[AmiMessage]>(pbx, "action", (m) => m.get("Action") === "CoreShowChannels");
  const child = spawn(process.execPath, [main, "start", "-c", cfg], { stdio: ["ignore", stdout, "pipe"] });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  await up;
  return { child, stderr: () => stderr };
}

describe("shutdown always finishes", () => {
  it("SIGTERM ends a daemon whose stdout nobody reads, by its own exit", async () => {
    const { child } = await startDaemon(stuckPipe());
    child.kill("SIGTERM");
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  it("a second signal ends a wedged shutdown at once", async () => {
    // The PBX never answers Logoff (the stop would wait for it) and stdout is stuck.
    const { child } = await startDaemon(stuckPipe(), { answerLogoff: false });
    const loggingOff = next<[AmiMessage]>(pbx!, "action", (m) => m.get("Action") === "Logoff");
    child.kill("SIGTERM");
    await loggingOff; // the first signal is being handled
    child.kill("SIGTERM");
    expect(await exited(child)).toEqual({ code: null, signal: "SIGTERM" });
  }, 5_000);

  it("with stdout gone (EPIPE) the daemon keeps running, says so once on stderr, and stops on SIGINT", async () => {
    const { child, stderr } = await startDaemon("pipe");
    child.stdout!.destroy(); // the `| jq` went away; the daemon's next log line meets EPIPE
    await new Promise<void>((done) => child.stderr!.once("data", () => done()));
    child.kill("SIGINT");
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    expect(stderr()).toBe("ctibridge: stdout is closed (EPIPE); log lines are dropped from now on\n");
  });

  it("the watchdog kills a process whose main thread is stuck", async () => {
    const watchdog = join(dirname(main), "watchdog.js");
    const code = `import { armWatchdog } from ${JSON.stringify(watchdog)}; armWatchdog(200, process.pid); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: "ignore" });
    children.push(child);
    expect(await exited(child)).toEqual({ code: null, signal: "SIGKILL" });
  });
});

describe("printing commands end quietly when the reader goes away (| head)", () => {
  async function runClosed(args: string[]) {
    const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    child.stdout!.destroy(); // the reader is gone before the first line is written
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exit = await exited(child);
    return { ...exit, stderr };
  }

  it("decode", async () => {
    expect(await runClosed(["decode", join(FIXTURES, "24-burst-30-concurrent.ami")])).toEqual({ code: 0, signal: null, stderr: "" });
  });

  it("calls", async () => {
    const dir = tmp();
    const db = openDb(join(dir, "c.db"));
    const log = new CallLog(db);
    const { events } = await replayFiles([join(FIXTURES, "24-burst-30-concurrent.ami")], labConfig());
    for (const e of events) if (e.userId === null) log.save(e.call, new Date(e.at).toISOString());
    db.close();
    writeFileSync(join(dir, "c.yaml"), `store: { path: ${join(dir, "c.db")} }\nlog: { level: silent }\n`);
    expect(await runClosed(["calls", "--config", join(dir, "c.yaml")])).toEqual({ code: 0, signal: null, stderr: "" });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("the demo", () => {
  /** A port that was free a moment ago (the demo prints URLs, so it cannot take port 0). */
  function freePort(): Promise<number> {
    return new Promise((done, fail) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => done(port));
      });
      srv.on("error", fail);
    });
  }
  function getCalls(port: number, token: string): Promise<number> {
    return new Promise((done, fail) => {
      const req = request({ host: "127.0.0.1", port, path: "/api/calls", headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
      });
      req.on("error", fail);
      req.end();
    });
  }

  it("prints tokens that work: Alice's and Sam's keys open the REST API", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [main, "demo", "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    const tokens = await new Promise<string[]>((done, fail) => {
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const found = [...out.matchAll(/panel \((?:Alice|Sam)[^)]*\): +http:\/\/\S+\?token=(ctb_\S+)/g)].map((m) => m[1]!);
        if (found.length === 2) done(found);
      });
      child.once("exit", () => fail(new Error(`demo exited: ${out}`)));
    });
    expect(await getCalls(port, tokens[0]!)).toBe(200);
    expect(await getCalls(port, tokens[1]!)).toBe(200);
    child.kill("SIGTERM");
    expect((await exited(child)).code).toBe(0);
  });
});
