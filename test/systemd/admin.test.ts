/**
 * Admin commands on an installed service: they run as the service user (`runuser -u ctibridge
 * -- ctibridge users add …`), who does not hold the AMI secret (only the service gets it, as a
 * systemd credential). Commands that only use the database must work without it; those that
 * talk to the PBX still insist.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cliRun.js";

const run = runCli;

/** The installed config: live mode, the secret in a file the service user cannot read (here: absent). */
function installedConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), "ctib-admin-"));
  const p = join(dir, "ctibridge.yaml");
  writeFileSync(p, `ami: { mode: live, host: 127.0.0.1, secretFile: ${join(dir, "root-only", "ami.secret")} }\nstore: { path: ${join(dir, "ctibridge.db")} }\nlog: { level: silent }\n`);
  return p;
}

describe("admin commands without the AMI secret", () => {
  it("users add / list, tokens create, calls: work", async () => {
    const cfg = installedConfig();
    expect(await run(["users", "add", "alice", "Alice", "--device", "PJSIP/1001", "--config", cfg])).toEqual({ out: "user alice added\n", err: "", code: 0 });
    expect(await run(["users", "list", "--config", cfg])).toEqual({ out: "alice\tAlice\tagent\tPJSIP/1001\n", err: "", code: 0 });
    const token = await run(["tokens", "create", "alice", "--config", cfg]);
    expect(token.code).toBe(0);
    expect(token.out).toMatch(/^ctb_\S+\n$/);
    expect(await run(["calls", "--config", cfg])).toEqual({ out: "", err: "", code: 0 });
  });

  it("check-config and start still require it", async () => {
    const cfg = installedConfig();
    for (const cmd of ["check-config", "start"]) {
      const r = await run([cmd, "--config", cfg]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`ami.secretFile: cannot read ${join(cfg, "..", "root-only", "ami.secret")} (ENOENT)`);
    }
  });
});
