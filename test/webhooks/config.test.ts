/** The `webhooks:` settings: each problem with its path, secrets from env, credential, file. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../../src/config.js";

function file(text: string, name = "c.yaml"): string {
  const p = join(mkdtempSync(join(tmpdir(), "ctib-whcfg-")), name);
  writeFileSync(p, text);
  return p;
}

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig({ file: file(text), env, requirePbx: true });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const AMI = "ami: { mode: live, secret: s }\n";

describe("webhooks config", () => {
  it("reports each bad field with its path: scheme, event names, numbers, names, unknown settings", () => {
    expect(
      problems(`${AMI}webhooks:
  - { name: crm, url: "ftp://crm.example.com/x", events: [call.ringing, call.exploded], secret: "0123456789abcdef" }
  - { name: "Bad Name", url: "https://user:pw@crm.example.com/", events: [], timeoutMs: 0, concurrency: 0, retryForHours: -1, colour: red }
  - { name: ok, url: "not a url", events: [call.ended], secret: short }
`),
    ).toEqual([
      "webhooks.0.url: expected an http:// or https:// URL without user:password (put credentials in the signature secret)",
      expect.stringMatching(/^webhooks\.0\.events\.1: expected one of call\.dialing, call\.ringing, /),
      expect.stringMatching(/^webhooks\.1\.name: expected 1-40 of a-z 0-9/),
      "webhooks.1.url: expected an http:// or https:// URL without user:password (put credentials in the signature secret)",
      "webhooks.1.events: name at least one event",
      expect.stringMatching(/^webhooks\.1\.timeoutMs: /),
      expect.stringMatching(/^webhooks\.1\.retryForHours: /),
      expect.stringMatching(/^webhooks\.1\.concurrency: /),
      "webhooks.1.colour: unknown setting",
      "webhooks.2.url: expected an http:// or https:// URL without user:password (put credentials in the signature secret)",
      "webhooks.2.secret: expected at least 16 characters",
    ]);
  });

  it("defaults: 24 h of capped exponential backoff, 10 s timeout, concurrency 4, every user", () => {
    const c = loadConfig({ file: file(`webhooks: [{ name: crm, url: "https://crm.example.com/hook", events: [call.ended], secret: "0123456789abcdef" }]`) });
    expect(c.webhooks[0]).toEqual({
      name: "crm",
      url: "https://crm.example.com/hook",
      events: ["call.ended"],
      secret: "0123456789abcdef",
      timeoutMs: 10_000,
      maxAttempts: 100,
      retryForHours: 24,
      minDelayMs: 1_000,
      maxDelayMs: 3_600_000,
      concurrency: 4,
    });
    expect(c.store.webhookRetentionDays).toBe(7);
  });

  it("a secret is required to run the daemon: from CTIBRIDGE_WEBHOOK_SECRET_<NAME>, the credential webhook-<name>, secretFile or the file; duplicates refused", () => {
    const hook = (extra = "") => `${AMI}webhooks: [{ name: crm-main, url: "http://127.0.0.1:9/x", events: [call.ended]${extra} }]\n`;
    expect(problems(hook())).toEqual([expect.stringMatching(/^webhooks\.0\.secret: required, at least 16 characters \(set CTIBRIDGE_WEBHOOK_SECRET_CRM_MAIN, the credential webhook-crm-main/)]);
    // Admin commands (webhooks list …) need no secret.
    expect(loadConfig({ file: file(hook()) }).webhooks[0]!.secret).toBeUndefined();
    expect(loadConfig({ file: file(hook()), env: { CTIBRIDGE_WEBHOOK_SECRET_CRM_MAIN: "from-the-environment" }, requirePbx: true }).webhooks[0]!.secret).toBe("from-the-environment");
    const creds = mkdtempSync(join(tmpdir(), "ctib-whcred-"));
    writeFileSync(join(creds, "webhook-crm-main"), "from-a-credential-file\n");
    expect(loadConfig({ file: file(hook()), env: { CREDENTIALS_DIRECTORY: creds }, requirePbx: true }).webhooks[0]!.secret).toBe("from-a-credential-file");
    const secretFile = file("from-the-secret-file\n", "s");
    expect(loadConfig({ file: file(hook(`, secretFile: ${secretFile}`)), requirePbx: true }).webhooks[0]!.secret).toBe("from-the-secret-file");
    expect(problems(hook(", secretFile: /nonexistent/secret"))).toEqual(["webhooks.0.secretFile: cannot read /nonexistent/secret (ENOENT)"]);
    expect(problems(`${AMI}webhooks:\n  - { name: a, url: "http://x/", events: [call.ended], secret: "0123456789abcdef" }\n  - { name: a, url: "http://y/", events: [call.ended], secret: "0123456789abcdef" }\n`)).toEqual([
      "webhooks.1.name: duplicate webhook name a",
    ]);
  });

  it("check-config prints the secret redacted", () => {
    const c = loadConfig({ file: file(`webhooks: [{ name: crm, url: "https://crm.example.com/hook", events: [call.ended], secret: "0123456789abcdef" }]`) });
    expect((redactConfig(c) as typeof c).webhooks[0]!.secret).toBe("[redacted]");
  });
});
