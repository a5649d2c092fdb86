/**
 * The container image's glue without building it (scripts/test-container.sh builds and runs
 * it for real, as root): secrets from *_FILE, the container config, and the Dockerfile,
 * .dockerignore and compose.yaml agreeing on paths.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { applySecretFiles } from "../../container/secretFiles.mjs";
import { loadConfig } from "../../src/config.js";

const root = join(import.meta.dirname, "../..");
const read = (f: string) => readFileSync(join(root, f), "utf8");

describe("applySecretFiles", () => {
  const dir = mkdtempSync(join(tmpdir(), "ctibridge-secrets-"));
  writeFileSync(join(dir, "jwt"), "  jwt-secret-from-a-file\n");
  writeFileSync(join(dir, "metrics"), "metrics-token-0123456789\r\n");

  it("puts each file's trimmed content into its variable and leaves the others alone", () => {
    const env: Record<string, string | undefined> = {
      CTIBRIDGE_JWT_SECRET_FILE: join(dir, "jwt"),
      CTIBRIDGE_METRICS_TOKEN_FILE: join(dir, "metrics"),
      CTIBRIDGE_AMI_SECRET: "from-env",
    };
    expect(applySecretFiles(env)).toEqual([]);
    expect(env.CTIBRIDGE_JWT_SECRET).toBe("jwt-secret-from-a-file");
    expect(env.CTIBRIDGE_METRICS_TOKEN).toBe("metrics-token-0123456789");
    expect(env.CTIBRIDGE_AMI_SECRET).toBe("from-env");
    // What src/config.ts then makes of them.
    const c = loadConfig({ env: { ...env, CTIBRIDGE_AMI_SECRET: "s" } });
    expect(c.auth.jwtSecret).toBe("jwt-secret-from-a-file");
    expect(c.server.metricsToken).toBe("metrics-token-0123456789");
  });

  it("refuses a variable set twice and names an unreadable file, changing nothing", () => {
    const env: Record<string, string | undefined> = {
      CTIBRIDGE_AMI_SECRET: "from-env",
      CTIBRIDGE_AMI_SECRET_FILE: join(dir, "jwt"),
      CTIBRIDGE_JWT_SECRET_FILE: join(dir, "missing"),
    };
    expect(applySecretFiles(env)).toEqual([
      "CTIBRIDGE_AMI_SECRET and CTIBRIDGE_AMI_SECRET_FILE are both set: use one",
      `CTIBRIDGE_JWT_SECRET_FILE: cannot read ${join(dir, "missing")} (ENOENT)`,
    ]);
    expect(env.CTIBRIDGE_AMI_SECRET).toBe("from-env");
    expect(env.CTIBRIDGE_JWT_SECRET).toBeUndefined();
  });
});

describe("Dockerfile, .dockerignore, compose.yaml and the container config", () => {
  const dockerfile = read("Dockerfile");
  const compose = parseYaml(read("compose.yaml")) as {
    services: { ctibridge: { init: boolean; volumes: string[]; ports: string[]; environment: Record<string, string>; secrets: string[] } };
    secrets: Record<string, { file: string }>;
  };
  const svc = compose.services.ctibridge;
  const instruction = (name: string) => [...dockerfile.matchAll(new RegExp(`^${name} (.+)$`, "gm"))].map((m) => m[1]!);

  it("the container config is valid, listens on all interfaces and keeps the database in the state volume", () => {
    const c = loadConfig({ file: join(root, "config/ctibridge.container.yaml"), env: { CTIBRIDGE_AMI_SECRET: "s" } });
    expect(c.server.host).toBe("0.0.0.0");
    expect(c.ami.mode).toBe("live");
    expect(c.store.path).toBeUndefined();
    expect(c.ami.secret).toBe("s");
    expect(instruction("EXPOSE")).toEqual([String(c.server.port)]);
  });

  it("compose mounts the config where CMD reads it and the state where STATE_DIRECTORY points", () => {
    expect(instruction("CMD")).toEqual(['["start", "--config", "/etc/ctibridge/ctibridge.yaml"]']);
    expect(instruction("ENTRYPOINT")).toEqual(['["ctibridge"]']);
    expect(svc.volumes).toContain("./config/ctibridge.container.yaml:/etc/ctibridge/ctibridge.yaml:ro");
    expect(dockerfile).toMatch(/STATE_DIRECTORY=\/var\/lib\/ctibridge\b/);
    expect(instruction("VOLUME")).toEqual(['["/var/lib/ctibridge"]']);
    expect(svc.volumes).toContain("ctibridge-state:/var/lib/ctibridge");
    expect(svc.init).toBe(true);
    for (const s of svc.secrets) expect(compose.secrets[s]).toBeDefined();
    for (const [k, v] of Object.entries(svc.environment)) {
      expect(k).toMatch(/^CTIBRIDGE_(AMI_SECRET|JWT_SECRET|METRICS_TOKEN)_FILE$/);
      expect(svc.secrets.map((s) => `/run/secrets/${s}`)).toContain(v);
    }
  });

  it("every file the Dockerfile copies from the context passes .dockerignore", () => {
    const allowed = read(".dockerignore")
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1).replace(/\/$/, ""));
    expect(read(".dockerignore")).toMatch(/^\*$/m);
    const sources = instruction("COPY")
      .filter((args) => !args.startsWith("--from"))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      const ok = allowed.some((a) => src.replace(/\/$/, "") === a || src.startsWith(a + "/"));
      expect(ok, `${src} is excluded by .dockerignore`).toBe(true);
    }
  });
});
