/**
 * Logs under systemd: JSON lines on stdout that carry their syslog priority (`<N>`) only when
 * stdout is the journal's stream (JOURNAL_STREAM = its device:inode), so journald files each
 * line under its level and strips the prefix, and `journalctl -o cat | jq` still reads JSON.
 */
import { type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger, withSyslogPriority } from "../../src/log.js";
import { compileCli, exited, spawn } from "../helpers/builtCli.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";

describe("syslog priorities", () => {
  it("each pino level gets its journald priority, and the rest of the line stays the same JSON", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "trace", syslogPrefix: true, destination: { write: (s: string) => void lines.push(s) } });
    log.trace("t");
    log.debug("d");
    log.info({ callId: "c1" }, "i");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    expect(lines.map((l) => l.slice(0, 3))).toEqual(["<7>", "<7>", "<6>", "<4>", "<3>", "<2>"]);
    const parsed = lines.map((l) => JSON.parse(l.slice(3)) as Record<string, unknown>);
    expect(parsed.map((p) => [p.level, p.msg])).toEqual([["trace", "t"], ["debug", "d"], ["info", "i"], ["warn", "w"], ["error", "e"], ["fatal", "f"]]);
    expect(parsed[2]).toMatchObject({ callId: "c1", name: "ctibridge" });
  });

  it("without the option the lines are unchanged; foreign lines never get a prefix", () => {
    const lines: string[] = [];
    createLogger({ destination: { write: (s: string) => void lines.push(s) } }).info("plain");
    expect(lines[0]!.startsWith('{"level":"info"')).toBe(true);
    expect(withSyslogPriority('{"msg":"no level first"}\n')).toBe('{"msg":"no level first"}\n');
    expect(withSyslogPriority('{"level":"custom"}\n')).toBe('{"level":"custom"}\n');
  });
});

describe("ctibridge start: stdout is the journal or not", () => {
  let main = "";
  let pbx: AmiServer | undefined;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  beforeAll(() => void (main = compileCli()), 120_000);
  afterAll(() => {
    rmSync(dirname(dirname(main)), { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await pbx?.close();
    pbx = undefined;
  });

  /** Run the daemon with stdout to a file until its first lines are there, stop it, return them. */
  async function run(journalStream: (st: { dev: bigint; ino: bigint }) => string): Promise<string[]> {
    pbx = await startFakeAmi();
    const dir = mkdtempSync(join(tmpdir(), "ctib-journal-"));
    dirs.push(dir);
    const cfg = join(dir, "c.yaml");
    writeFileSync(cfg, `ami: { mode: live, port: ${pbx.port}, secret: s3cret-value-0001 }\nserver: { host: 127.0.0.1, port: 0 }\nstore: { path: ${join(dir, "c.db")} }\n`);
    const outPath = join(dir, "stdout");
    const fd = openSync(outPath, "w");
    const st = fstatSync(fd, { bigint: true });
    const child = spawn(process.execPath, [main, "start", "-c", cfg], { stdio: ["ignore", fd, "inherit"], env: { ...process.env, JOURNAL_STREAM: journalStream(st) } });
    closeSync(fd);
    children.push(child);
    const loggedIn = new Promise<void>((done) => pbx!.once("action", () => done()));
    await loggedIn; // the daemon has started and logged its first lines
    child.kill("SIGTERM");
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    return readFileSync(outPath, "utf8").split("\n").filter((l) => l !== "");
  }

  it("JOURNAL_STREAM names stdout: every line is <N> + one JSON object, info lines <6>", async () => {
    const lines = await run((st) => `${st.dev}:${st.ino}`);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) {
      const m = /^<([0-7])>(\{.*\})$/.exec(l);
      expect(m, l).not.toBeNull();
      const level = (JSON.parse(m![2]!) as { level: string }).level;
      expect(m![1]).toBe({ fatal: "2", error: "3", warn: "4", info: "6", debug: "7", trace: "7" }[level]);
    }
    expect(lines.at(-1)).toMatch(/^<6>\{"level":"info".*"msg":"ctibridge stopped"\}$/);
  });

  it("JOURNAL_STREAM inherited but stdout redirected elsewhere: plain JSON lines", async () => {
    const lines = await run((st) => `${st.dev}:${st.ino + 1n}`);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
  });
});
