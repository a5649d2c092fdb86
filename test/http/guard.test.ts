/** /metrics and /healthz behind server.metricsToken, over real HTTP on loopback. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../../src/config.js";
import { get, startHttp, type HttpRig } from "../helpers/httpRig.js";

const TOKEN = "m3trics-0123456789abcdef";
let rig: HttpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

function panelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ctb-guard-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>panel</title>");
  return dir;
}

describe("server.metricsToken", () => {
  it("refuses /metrics and /healthz without the token, with a wrong one, or another scheme", async () => {
    rig = await startHttp({ metricsToken: TOKEN }, panelDir());
    for (const path of ["/metrics", "/healthz"]) {
      for (const headers of [{} as Record<string, string>, { Authorization: "Bearer wrong-token-0123456789" }, { Authorization: `Basic ${TOKEN}` }, { Authorization: `Bearer ${TOKEN}x` }]) {
        const r = await get(rig.port, path, headers);
        expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.headers["www-authenticate"]).toBe('Bearer realm="ctibridge-operator"');
        expect(JSON.parse(r.text)).toEqual({ error: { code: "unauthorized", message: "this endpoint needs server.metricsToken as a bearer token" } });
        expect(r.text).not.toMatch(/ctibridge_|uptime/);
      }
    }
  });

  it("answers /metrics and /healthz with the token", async () => {
    rig = await startHttp({ metricsToken: TOKEN }, panelDir());
    const metrics = await get(rig.port, "/metrics", { Authorization: `Bearer ${TOKEN}` });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain("ctibridge_");
    const health = await get(rig.port, "/healthz", { Authorization: `bearer  ${TOKEN}` });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: "ok", version: "9.9.9" });
  });

  it("leaves the panel open when a token is set", async () => {
    rig = await startHttp({ metricsToken: TOKEN }, panelDir());
    expect((await get(rig.port, "/")).status).toBe(200);
  });

  it("leaves both open when no token is set (the default)", async () => {
    rig = await startHttp({}, panelDir());
    expect((await get(rig.port, "/metrics")).status).toBe(200);
    expect((await get(rig.port, "/healthz")).status).toBe(200);
  });

  it("comes from CTIBRIDGE_METRICS_TOKEN over the file, is redacted, and must be long enough", () => {
    const file = join(mkdtempSync(join(tmpdir(), "ctb-guard-")), "c.yaml");
    writeFileSync(file, "server: { metricsToken: from-the-file-0123456789 }\n");
    const c = loadConfig({ file, env: { CTIBRIDGE_METRICS_TOKEN: TOKEN } });
    expect(c.server.metricsToken).toBe(TOKEN);
    expect(JSON.stringify(redactConfig(c))).not.toContain(TOKEN);
    expect(() => loadConfig({ env: { CTIBRIDGE_METRICS_TOKEN: "short" } })).toThrow(ConfigError);
    const err = (() => {
      try {
        loadConfig({ env: { CTIBRIDGE_METRICS_TOKEN: "has a space in it 0123" } });
      } catch (e) {
        return e;
      }
    })();
    expect((err as ConfigError).problems).toEqual(["server.metricsToken: expected at least 16 visible ASCII characters, no spaces"]);
  });
});
