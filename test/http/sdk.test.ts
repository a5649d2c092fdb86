/** The client SDK's browser build served by the daemon at /sdk/ctibridge-client.js, over real HTTP. */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { defaultSdkFile } from "../../src/http/server.js";
import { get, startHttp, type HttpRig } from "../helpers/httpRig.js";

let rig: HttpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("GET /sdk/ctibridge-client.js", () => {
  it("serves the built file as JavaScript with the panel's security headers", async () => {
    rig = await startHttp({}, null);
    const r = await get(rig.port, "/sdk/ctibridge-client.js");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(r.headers["content-security-policy"]).toMatch(/^default-src 'none'; script-src 'self';.* frame-ancestors 'self'$/);
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    expect(r.headers["referrer-policy"]).toBe("no-referrer");
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    expect(r.text).toBe(readFileSync(defaultSdkFile()!, "utf8"));
  });

  it("is one ES module: exports connect, imports nothing, no Node built-in", async () => {
    rig = await startHttp({}, null);
    const { text } = await get(rig.port, "/sdk/ctibridge-client.js");
    expect(text).toMatch(/^export \{[^}]*\bconnect\b[^}]*\};?\s*$/m);
    expect(text).not.toMatch(/^\s*import\b|\bimport\(|\brequire\(|["']node:|\bprocess\.|\bBuffer\b/m);
  });

  it("echoes an allowed origin for module scripts loaded cross-origin, no other", async () => {
    rig = await startHttp({ allowedOrigins: ["https://crm.example.com"] }, null);
    const ok = await get(rig.port, "/sdk/ctibridge-client.js", { Origin: "https://crm.example.com" });
    expect(ok.headers["access-control-allow-origin"]).toBe("https://crm.example.com");
    expect(ok.headers.vary).toBe("Origin");
    const other = await get(rig.port, "/sdk/ctibridge-client.js", { Origin: "https://evil.example" });
    expect(other.status).toBe(200);
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
