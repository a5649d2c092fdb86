/** store.kind and store.postgres: validated field by field; the password from env, credential or file, never printed. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../../src/config.js";
import { describeStore, pgPoolConfig } from "../../src/store/open.js";

function load(yaml: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ctib-storecfg-"));
  const file = join(dir, "c.yaml");
  writeFileSync(file, yaml);
  return loadConfig({ file, env, requirePbx: false });
}

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    load(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("store config", () => {
  it("defaults to SQLite; the PostgreSQL settings have defaults of their own", () => {
    const c = load("log: { level: silent }\n");
    expect(c.store.kind).toBe("sqlite");
    expect(c.store.postgres).toEqual({ host: "127.0.0.1", port: 5432, database: "ctibridge", user: "ctibridge", ssl: "off", poolSize: 10, connectTimeoutMs: 5000 });
    expect(describeStore(c, "/var/lib/ctibridge/ctibridge.db")).toBe("sqlite /var/lib/ctibridge/ctibridge.db");
  });

  it("names each bad field", () => {
    expect(problems("store: { kind: mysql, postgres: { port: 0, ssl: maybe, poolSize: 0, user: '' } }\n").sort()).toEqual([
      "store.kind: expected sqlite or postgres",
      "store.postgres.poolSize: Too small: expected number to be >=1",
      "store.postgres.port: expected an integer 1..65535",
      "store.postgres.ssl: expected off, require or verify-full",
      "store.postgres.user: Too small: expected string to have >=1 characters",
    ].sort());
    expect(problems("store: { postgres: { url: 'postgres://u:hunter2@db/x' } }\n")).toEqual([
      "store.postgres.url: no password in the url: set CTIBRIDGE_STORE_PASSWORD, the credential store-password or passwordFile",
    ]);
    expect(problems("store: { postgres: { url: 'mysql://db/x' } }\n")).toEqual(["store.postgres.url: expected postgres://user@host:port/database"]);
    expect(problems("store: { postgres: { sslmode: on } }\n")).toEqual(["store.postgres.sslmode: unknown setting"]);
  });

  it("takes the password from CTIBRIDGE_STORE_PASSWORD, the credential store-password or passwordFile, and never prints it", () => {
    const creds = mkdtempSync(join(tmpdir(), "ctib-creds-"));
    writeFileSync(join(creds, "store-password"), "from-credential\n");
    const pwFile = join(creds, "pw");
    writeFileSync(pwFile, "from-file\n");
    const yaml = `store: { kind: postgres, postgres: { host: db.example.com, passwordFile: ${pwFile} } }\n`;
    expect(load(yaml).store.postgres.password).toBe("from-file");
    expect(load(yaml, { CREDENTIALS_DIRECTORY: creds }).store.postgres.password).toBe("from-credential");
    const c = load(yaml, { CREDENTIALS_DIRECTORY: creds, CTIBRIDGE_STORE_PASSWORD: "from-env" });
    expect(c.store.postgres.password).toBe("from-env");
    expect(pgPoolConfig(c.store.postgres)).toMatchObject({ host: "db.example.com", port: 5432, database: "ctibridge", user: "ctibridge", password: "from-env", ssl: false, max: 10 });
    expect(JSON.stringify(redactConfig(c))).not.toContain("from-env");
    expect(describeStore(c, "")).toBe("postgres ctibridge@db.example.com:5432/ctibridge (ssl off)");
  });

  it("an unreadable passwordFile is a problem only when PostgreSQL is the store", () => {
    expect(problems("store: { kind: postgres, postgres: { passwordFile: /nonexistent/pw } }\n")).toEqual(["store.postgres.passwordFile: cannot read /nonexistent/pw (ENOENT)"]);
    expect(problems("store: { kind: sqlite, postgres: { passwordFile: /nonexistent/pw } }\n")).toEqual([]);
  });
});
