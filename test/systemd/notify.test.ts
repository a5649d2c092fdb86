/**
 * Type=notify through `systemd-notify`: the real command, against a datagram socket that stands
 * in for systemd's (test/helpers/notifySocket.py; it closes the barrier fd as PID 1 does).
 * Skips, saying why, only where systemd-notify or python3 is missing.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { notifyArgs, sdNotifier } from "../../src/sdNotify.js";
import { compileCli, exited, spawn } from "../helpers/builtCli.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";

const RECEIVER = join(dirname(fileURLToPath(import.meta.url)), "..", "helpers", "notifySocket.py");

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const missing = [has("systemd-notify", ["--version"]) ? null : "systemd-notify", has("python3", ["--version"]) ? null : "python3"].filter(Boolean);
if (missing.length > 0) console.warn(`test/systemd/notify.test.ts: skipped, ${missing.join(" and ")} not installed`);

const children: ChildProcess[] = [];
let pbx: AmiServer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await pbx?.close();
  pbx = undefined;
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "ctib-notify-"));
  dirs.push(d);
  return d;
}

/** Lines of a child's stream, one at a time. */
function lines(stream: NodeJS.ReadableStream): () => Promise<string> {
  const it = createInterface({ input: stream })[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    if (r.done) throw new Error("stream ended");
    return r.value;
  };
}

function livez(port: number): Promise<number> {
  return new Promise((done, fail) => get({ host: "127.0.0.1", port, path: "/livez" }, (res) => (res.resume(), done(res.statusCode!))).on("error", fail));
}

describe("sdNotify", () => {
  it("nothing to notify without NOTIFY_SOCKET", () => {
    expect(sdNotifier({ env: { PATH: "/usr/bin" } })).toBeNull();
  });

  it("one KEY=VALUE argument per field, each on one line", () => {
    expect(notifyArgs({ READY: "1", STATUS: "serving on\n127.0.0.1:8088" })).toEqual(["READY=1", "STATUS=serving on 127.0.0.1:8088"]);
  });

  it("a command that cannot run rejects with a one-line reason", async () => {
    const notify = sdNotifier({ env: { NOTIFY_SOCKET: "/nowhere" }, command: join(tmp(), "no-such-command") })!;
    await expect(notify({ READY: "1" })).rejects.toThrow(/no-such-command: ENOENT$/);
  });
});

describe.skipIf(missing.length > 0)("ctibridge start under Type=notify", () => {
  let main = "";
  beforeAll(() => void (main = compileCli()), 120_000);
  afterAll(() => rmSync(dirname(dirname(main)), { recursive: true, force: true }));

  async function receiver(path: string) {
    const child = spawn("python3", [RECEIVER, path, "30"], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    const next = lines(child.stdout!);
    expect(await next()).toBe("bound");
    return { child, next: async () => JSON.parse(await next()) as Record<string, string> };
  }

  async function daemon(notifySocket: string) {
    pbx = await startFakeAmi();
    const dir = tmp();
    const cfg = join(dir, "c.yaml");
    writeFileSync(cfg, `ami: { mode: live, port: ${pbx.port}, secret: s3cret-value-0001 }\nserver: { host: 127.0.0.1, port: 0 }\nstore: { path: ${join(dir, "c.db")} }\n`);
    const child = spawn(process.execPath, [main, "start", "-c", cfg], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NOTIFY_SOCKET: notifySocket } });
    children.push(child);
    return child;
  }

  it("READY=1 once the listener is up (STATUS names it), STOPPING=1 on SIGTERM, exit 0", async () => {
    const socket = join(tmp(), "notify.sock");
    const sd = await receiver(socket);
    const child = await daemon(socket);
    const ready = await sd.next();
    expect(ready).toEqual({ READY: "1", STATUS: expect.stringMatching(/^serving on 127\.0\.0\.1:\d+$/) });
    expect(await sd.next()).toEqual({ BARRIER: "1" }); // systemd-notify waited for "processed"
    // The port named in STATUS answers: READY came after the listener was up.
    expect(await livez(Number(ready.STATUS!.split(":")[1]))).toBe(200);
    child.kill("SIGTERM");
    expect(await sd.next()).toEqual({ STOPPING: "1", STATUS: "stopping" });
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  it("a notification that fails is one warning; the daemon runs on", async () => {
    const child = await daemon(join(tmp(), "no-manager-here.sock"));
    const out = lines(child.stdout!);
    let warning: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !warning; i++) {
      const line = JSON.parse(await out()) as Record<string, unknown>;
      if (line.msg === "systemd notification failed") warning = line;
    }
    expect(warning).toMatchObject({ level: "warn", reason: expect.stringMatching(/^systemd-notify exited 1/) });
    child.kill("SIGTERM");
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });
});
