/**
 * Secrets from systemd credentials: the unit's LoadCredential= puts files in
 * $CREDENTIALS_DIRECTORY; loadConfig reads ami-secret, jwt-secret and metrics-token from there.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

function credDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "ctib-creds-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function yaml(text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), "ctib-cfg-")), "c.yaml");
  writeFileSync(p, text);
  return p;
}

function problems(file: string, env: Record<string, string>): string[] {
  try {
    loadConfig({ file, env, requirePbx: true });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("systemd credentials", () => {
  it("fills the AMI secret, the JWT secret and the metrics token, without the trailing newline", () => {
    const dir = credDir({ "ami-secret": "ami-pass\n", "jwt-secret": "jwt-pass\n", "metrics-token": "0123456789abcdef-metrics\n" });
    const c = loadConfig({ file: yaml("ami: { mode: live }"), env: { CREDENTIALS_DIRECTORY: dir } });
    expect(c.ami.secret).toBe("ami-pass");
    expect(c.auth.jwtSecret).toBe("jwt-pass");
    expect(c.server.metricsToken).toBe("0123456789abcdef-metrics");
  });

  it("a credential beats the file (secret and secretFile), the environment beats a credential", () => {
    const dir = credDir({ "ami-secret": "from-credential" });
    const file = yaml(`ami: { mode: live, secret: from-yaml }\nauth: { jwtSecret: jwt-yaml }`);
    expect(loadConfig({ file, env: { CREDENTIALS_DIRECTORY: dir } }).ami.secret).toBe("from-credential");
    const withSecretFile = yaml(`ami: { mode: live, secretFile: ${join(dir, "nowhere")} }`);
    expect(loadConfig({ file: withSecretFile, env: { CREDENTIALS_DIRECTORY: dir } }).ami.secret).toBe("from-credential");
    expect(loadConfig({ file, env: { CREDENTIALS_DIRECTORY: dir, CTIBRIDGE_AMI_SECRET: "from-env" } }).ami.secret).toBe("from-env");
    // A credential that is not there leaves the setting to the other sources.
    expect(loadConfig({ file, env: { CREDENTIALS_DIRECTORY: dir } }).auth.jwtSecret).toBe("jwt-yaml");
  });

  it("no CREDENTIALS_DIRECTORY: nothing is read, live mode still asks for a secret and names the credential", () => {
    expect(problems(yaml("ami: { mode: live }"), {})).toEqual([
      "ami.secret: required in live mode (set CTIBRIDGE_AMI_SECRET, the systemd credential ami-secret, ami.secretFile or ami.secret)",
    ]);
  });

  it("an empty credential is an error naming it, not an empty secret", () => {
    const dir = credDir({ "ami-secret": "\n" });
    expect(problems(yaml("ami: { mode: simulator }"), { CREDENTIALS_DIRECTORY: dir })).toEqual([`credential ami-secret: ${join(dir, "ami-secret")} is empty`]);
  });

  it("an unreadable credential is an error with its cause, listed with the other problems", () => {
    const dir = credDir({});
    mkdirSync(join(dir, "jwt-secret")); // a folder where a file should be: EISDIR, as root too
    expect(problems(yaml("ami: { port: 0 }"), { CREDENTIALS_DIRECTORY: dir })).toEqual([
      `credential jwt-secret: cannot read ${join(dir, "jwt-secret")} (EISDIR)`,
      "ami.port: expected an integer 1..65535",
    ]);
  });

  it("the metrics token from a credential is validated like any other source", () => {
    const dir = credDir({ "metrics-token": "short" });
    chmodSync(join(dir, "metrics-token"), 0o400);
    expect(problems(yaml("{}"), { CREDENTIALS_DIRECTORY: dir })).toEqual(["server.metricsToken: expected at least 16 visible ASCII characters, no spaces"]);
  });
});
