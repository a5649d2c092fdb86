import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../../src/config.js";

function file(text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), "ctib-cfg-")), "c.yaml");
  writeFileSync(p, text);
  return p;
}

function problems(text: string, env: Record<string, string> = {}, requirePbx = false): string[] {
  try {
    loadConfig({ file: file(text), env, requirePbx });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("loadConfig", () => {
  it("reports every problem with its path", () => {
    expect(
      problems(`
ami:
  mode: live
  port: 99999
  pingIntervalMs: -5
users:
  - id: alice
    name: Alice
    devices: [1001]
  - id: alice
    name: Bob
trunks: [carrier]
calls:
  missedPolicy: sometimes
colour: blue
`),
    ).toEqual([
      "ami.port: expected an integer 1..65535",
      expect.stringMatching(/^ami\.pingIntervalMs: /),
      "users.0.devices.0: expected a device like PJSIP/1001",
      "trunks.0: expected a device like PJSIP/1001",
      expect.stringMatching(/^calls\.missedPolicy: /),
      "colour: unknown setting",
    ]);
  });

  it("requires the AMI secret in live mode, from the environment or a file", () => {
    expect(problems("ami: { mode: live }", {}, true)).toEqual([expect.stringMatching(/^ami\.secret: required/)]);
    expect(problems("ami: { mode: live }", { CTIBRIDGE_AMI_SECRET: "s" }, true)).toEqual([]);
    const secretFile = file("from-file\n");
    expect(loadConfig({ file: file(`ami: { mode: live, secretFile: ${secretFile} }`) }).ami.secret).toBe("from-file");
  });

  it("applies defaults ← file ← environment ← flags", () => {
    const c = loadConfig({ file: file("ami: { port: 5039, secret: file }\nserver: { port: 9000 }"), env: { CTIBRIDGE_AMI_SECRET: "env" }, overrides: { "server.port": 9100 } });
    expect(c.ami).toMatchObject({ port: 5039, secret: "env", host: "127.0.0.1", pingIntervalMs: 20_000 });
    expect(c.server.port).toBe(9100);
  });

  it("refuses a device owned by two users, duplicate ids, unreadable files and bad YAML", () => {
    expect(problems("users: [{ id: a, name: A, devices: [PJSIP/1] }, { id: b, name: B, devices: [PJSIP/1] }]")).toEqual([
      "users.1.devices: PJSIP/1 already belongs to user a",
    ]);
    expect(problems("ami: [unclosed")[0]).toMatch(/not valid YAML/);
    expect(() => loadConfig({ file: "/nonexistent/c.yaml" })).toThrowError(/cannot read \(ENOENT\)/);
  });

  it("redacts secrets when printed", () => {
    const c = loadConfig({ env: { CTIBRIDGE_AMI_SECRET: "hunter2", CTIBRIDGE_JWT_SECRET: "jwt" } });
    expect(JSON.stringify(redactConfig(c))).not.toMatch(/hunter2|"jwt"/);
  });
});
