/**
 * systemd/ctibridge.service, checked by systemd's own tools (systemd-analyze, which works
 * without systemd as PID 1) and against the daemon's own promises. The systemd-analyze part
 * skips, saying so, only where systemd-analyze is not installed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CREDENTIALS } from "../../src/credentials.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const UNIT = readFileSync(join(ROOT, "systemd", "ctibridge.service"), "utf8");

/** Every value of a key in the unit, in order (comments and continuation lines aside). */
function values(key: string): string[] {
  return UNIT.split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}
const seconds = (v: string) => Number(/^(\d+)s$/.exec(v)?.[1] ?? NaN);

describe("the unit keeps the daemon's promises", () => {
  it("runs ctibridge start with the config in /etc/ctibridge as the ctibridge user, Type=notify", () => {
    expect(values("ExecStart")).toEqual(["/opt/ctibridge/bin/ctibridge start --config /etc/ctibridge/ctibridge.yaml"]);
    expect(values("User")).toEqual(["ctibridge"]);
    expect(values("Type")).toEqual(["notify"]);
    // READY=1 comes from a systemd-notify child, not from the main process.
    expect(values("NotifyAccess")).toEqual(["all"]);
    expect(values("ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(values("StateDirectory")).toEqual(["ctibridge"]);
  });

  it("the cluster units reload by SIGHUP too (a PBX worker and a gateway apply the config's reloadable settings)", () => {
    for (const unit of ["ctibridge-gateway.service", "ctibridge-pbx@.service"]) {
      const text = readFileSync(join(ROOT, "systemd", unit), "utf8");
      expect(text.split("\n").filter((l) => l.startsWith("ExecReload=")), unit).toEqual(["ExecReload=/bin/kill -HUP $MAINPID"]);
    }
  });

  it("systemd's SIGKILL comes after the daemon's own 10 s watchdog, never before", () => {
    const stop = seconds(values("TimeoutStopSec")[0]!);
    expect(stop).toBeGreaterThan(10);
    expect(values("Restart")).toEqual(["on-failure"]);
    expect(seconds(values("RestartSec")[0]!)).toBeGreaterThanOrEqual(1);
    expect(Number(values("StartLimitBurst")[0])).toBeGreaterThan(1);
  });

  it("secrets are credentials the code reads, never values in the unit", () => {
    const loaded = values("LoadCredential").map((v) => v.split(":")[0]);
    for (const name of loaded) expect(Object.keys(CREDENTIALS)).toContain(name);
    expect(loaded).toEqual(["ami-secret", "jwt-secret"]);
    expect(UNIT).not.toMatch(/CTIBRIDGE_(AMI|JWT)_SECRET|SetCredential=|EnvironmentFile=/);
  });

  it("no MemoryDenyWriteExecute (V8's JIT needs W+X pages), empty capability set, TCP and local sockets only", () => {
    expect(values("MemoryDenyWriteExecute")).toEqual([]);
    expect(values("CapabilityBoundingSet")).toEqual([""]);
    expect(values("RestrictAddressFamilies")).toEqual(["AF_INET AF_INET6 AF_UNIX"]);
    expect(values("SystemCallFilter")).toEqual(["@system-service", "~@privileged @resources"]);
    // @resources blocks setrlimit: the descriptor limit is set here instead, soft = hard.
    expect(Number(values("LimitNOFILE")[0])).toBeGreaterThanOrEqual(8192);
  });
});

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
if (analyze.error) console.warn("test/systemd/unit.test.ts: systemd-analyze checks skipped, systemd-analyze not installed");

describe.skipIf(analyze.error !== undefined)("systemd-analyze", () => {
  const dir = mkdtempSync(join(tmpdir(), "ctib-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** The unit with ExecStart on a binary that exists here (verify checks that it does). */
  function copy(unit = UNIT): string {
    const p = join(dir, "ctibridge.service");
    writeFileSync(p, unit.replace(/^ExecStart=\/opt\/ctibridge\/bin\/ctibridge /m, `ExecStart=${process.execPath} ${join(ROOT, "dist", "src", "main.js")} `));
    return p;
  }
  function verify(path: string): string {
    const r = spawnSync("systemd-analyze", ["verify", path], { encoding: "utf8" });
    return `${r.status}${r.stdout}${r.stderr}`;
  }

  it("verify: no output at all (it says 'ignoring' and exits 0 on a bad key, so output is the failure)", () => {
    expect(verify(copy())).toBe("0");
    // The check itself catches a typo.
    expect(verify(copy(UNIT.replace("ProtectHome=yes", "ProtectHom=yes")))).toMatch(/Unknown key 'ProtectHom'/);
  });

  it("security --offline=yes: exposure ≤ 2.5 (OK or better)", () => {
    const out = execFileSync("systemd-analyze", ["security", "--offline=yes", copy()], { encoding: "utf8" });
    const m = /Overall exposure level for ctibridge\.service: (\d+\.\d) (\S+)/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.5);
    expect(["OK", "SAFE"]).toContain(m![2]);
  });
});
