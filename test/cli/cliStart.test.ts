/**
 * `ctibridge start` as an operator runs it (in-process, fake `io`): one info line at start that
 * says what runs where, one at stop; SIGHUP reloads what can change at run time and says in one
 * line what it applied and what needs a restart.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildCli, type CliIo } from "../../src/cli/cli.js";
import { VERSION } from "../../src/roles/standalone.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { waitFor } from "../helpers/daemon.js";

type Line = Record<string, unknown>;

let pbx: AmiServer | undefined;
let stopDaemon: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stopDaemon?.();
  stopDaemon = undefined;
  await pbx?.close();
});

/** Run `start` with a fake io that records log lines and signal handlers; resolves once listening. */
async function start(yaml: (amiPort: number, dbPath: string) => string) {
  pbx = await startFakeAmi();
  const dir = mkdtempSync(join(tmpdir(), "ctib-start-"));
  const dbPath = join(dir, "c.db");
  const file = join(dir, "ctibridge.yaml");
  writeFileSync(file, yaml(pbx.port, dbPath));
  const lines: Line[] = [];
  const signals = new Map<string, (() => void)[]>();
  let exited: (code: number) => void = () => undefined;
  const exit = new Promise<number>((r) => (exited = r));
  const io: CliIo = {
    env: { CTIBRIDGE_AMI_SECRET: "s3cret" },
    out: () => undefined,
    err: () => undefined,
    isTTY: false,
    logTo: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
    onSignal: (sig, fn) => void signals.set(sig, [...(signals.get(sig) ?? []), fn]),
    exit: (code) => exited(code),
  };
  await buildCli(io).parseAsync(["node", "ctibridge", "start", "--config", file]);
  const signal = (sig: string) => signals.get(sig)?.forEach((fn) => fn());
  stopDaemon = async () => {
    signal("SIGTERM");
    await exit;
  };
  return { lines, file, dbPath, signal, exit, rewrite: (text: string) => writeFileSync(file, text) };
}

const USERS = `users:
  - { id: alice, name: Alice, devices: [PJSIP/1001] }
  - { id: bob, name: Bob, devices: [PJSIP/1002] }
`;

describe("ctibridge start: the operator's log lines", () => {
  it("says at start what runs where (version, config, database, AMI, HTTP, users) and at stop that it stopped", async () => {
    const s = await start((amiPort, dbPath) => `ami: { host: 127.0.0.1, port: ${amiPort} }\nstore: { path: ${dbPath} }\nserver: { port: 0 }\n${USERS}`);
    const started = s.lines.filter((l) => l.msg === "ctibridge started");
    expect(started).toEqual([
      expect.objectContaining({
        level: "info",
        version: VERSION,
        config: s.file,
        db: s.dbPath,
        ami: `127.0.0.1:${pbx!.port}`,
        amiMode: "live",
        http: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        users: 2,
      }),
    ]);
    await stopDaemon!();
    stopDaemon = undefined;
    expect(await s.exit).toBe(0);
    expect(s.lines.filter((l) => l.msg === "ctibridge stopped")).toEqual([expect.objectContaining({ level: "info", version: VERSION, signal: "SIGTERM" })]);
  });
});

describe("ctibridge start: SIGHUP", () => {
  it("applies what can change at run time and says in one line what it applied and what needs a restart", async () => {
    const base = (amiPort: number, dbPath: string) => `ami: { host: 127.0.0.1, port: ${amiPort} }\nstore: { path: ${dbPath} }\nserver: { port: 0 }\n`;
    const s = await start((amiPort, dbPath) => base(amiPort, dbPath) + USERS);
    s.rewrite(
      base(pbx!.port + 1, s.dbPath) +
        USERS +
        "  - { id: carol, name: Carol, devices: [PJSIP/1003] }\npop: { urlTemplate: 'https://crm.example/?n={e164}' }\ncontrol: { limits: { originatePerMinute: 5 } }\nlog: { level: debug }\n",
    );
    s.signal("SIGHUP");
    expect(s.lines.filter((l) => l.msg === "configuration reloaded")).toEqual([
      expect.objectContaining({
        level: "info",
        applied: ["users", "pop.urlTemplate", "control.limits.originatePerMinute", "log.level"],
        restartNeeded: ["ami.port"],
        users: 3,
      }),
    ]);
    // A broken file changes nothing and says why.
    s.rewrite("ami: { port: 70000 }\n");
    s.signal("SIGHUP");
    expect(s.lines.filter((l) => l.msg === "reload failed, keeping the running configuration")).toEqual([
      expect.objectContaining({ level: "error", file: s.file, problems: ["ami.port: expected an integer 1..65535"] }),
    ]);
    await waitFor(() => s.lines.some((l) => l.msg === "pbx resynced"), "the daemon still running");
  });
});

describe("ctibridge start: the simulator only when asked", () => {
  it("runs the PBX simulator with an explicit ami.mode: simulator", async () => {
    const s = await start((_amiPort, dbPath) => `ami: { mode: simulator, simulator: { speed: 100 } }\nstore: { path: ${dbPath} }\nserver: { port: 0 }\n${USERS}`);
    expect(s.lines.find((l) => l.msg === "ctibridge started")).toMatchObject({ amiMode: "simulator", ami: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(s.lines.some((l) => l.msg === "pbx simulator listening")).toBe(true);
  });
});
