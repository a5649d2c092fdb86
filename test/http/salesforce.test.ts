/**
 * The Salesforce softphone page over real HTTP: served only when enabled, with its own CSP (the
 * org may frame it and serve opencti_min.js; the token endpoint may be fetched), its settings
 * in config.json, and the panel's headers untouched.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { defaultWebDir } from "../../src/http/server.js";
import { get, startHttp, type HttpRig } from "../helpers/httpRig.js";

const ORG = "https://acme.lightning.force.com";
const SF = { enabled: true, orgOrigins: [ORG, "https://acme.my.salesforce.com"], tokenUrl: "https://crm.example.com/ctibridge/token?x=1" };
const PAGE_CSP =
  "default-src 'none'; script-src 'self' https://acme.lightning.force.com https://acme.my.salesforce.com; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self' https://crm.example.com; base-uri 'none'; form-action 'none'; frame-ancestors https://acme.lightning.force.com https://acme.my.salesforce.com";

let rig: HttpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("/adapters/salesforce/", () => {
  it.each(["/adapters/salesforce/", "/adapters/salesforce/index.html", "/adapters/salesforce/softphone.js", "/adapters/salesforce/logic.js", "/adapters/salesforce/softphone.css", "/adapters/salesforce/callcenter.xml"])(
    "%s: the page's CSP, nosniff, no referrer",
    async (path) => {
      rig = await startHttp({ allowedOrigins: ["https://crm.example.com"] }, defaultWebDir(), { salesforce: SF });
      const r = await get(rig.port, `${path}?sfdcIframeOrigin=${encodeURIComponent(ORG)}&mode=Lightning`);
      expect(r.status).toBe(200);
      expect(r.headers["content-security-policy"]).toBe(PAGE_CSP);
      expect(r.headers["x-content-type-options"]).toBe("nosniff");
      expect(r.headers["referrer-policy"]).toBe("no-referrer");
    },
  );

  it("config.json carries the page's settings and no secret", async () => {
    rig = await startHttp({}, defaultWebDir(), { salesforce: { ...SF, tokenUrl: undefined, tokenApex: "CtibridgeToken.issue" } });
    const r = await get(rig.port, "/adapters/salesforce/config.json");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({
      wsPath: "/ws",
      orgOrigins: SF.orgOrigins,
      apiVersion: "62.0",
      tokenUrl: null,
      tokenApex: "CtibridgeToken.issue",
      searchIvrVariables: ["CRM_ACCOUNT", "TICKET"],
      callIdField: "CallObject",
    });
    expect(r.headers["content-security-policy"]).toContain("connect-src 'self';");
  });

  it("answers 404 when salesforce.enabled is false (the default), and the panel keeps its own policy", async () => {
    rig = await startHttp({ allowedOrigins: ["https://crm.example.com"] }, defaultWebDir(), { salesforce: { ...SF, enabled: false } });
    for (const path of ["/adapters/salesforce/", "/adapters/salesforce/config.json", "/adapters/salesforce/softphone.js"]) {
      expect((await get(rig.port, path)).status, path).toBe(404);
    }
    const panel = await get(rig.port, "/");
    expect(panel.headers["content-security-policy"]).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self' https://crm.example.com",
    );
  });

  it("no path leaves the adapter's folder", async () => {
    rig = await startHttp({}, defaultWebDir(), { salesforce: SF });
    for (const path of ["/adapters/salesforce/../../package.json", "/adapters/salesforce/%2e%2e/%2e%2e/package.json", "/adapters/salesforce/..%2f..%2fpackage.json"]) {
      expect((await get(rig.port, path)).status, path).toBe(404);
    }
  });

  it("refuses org origins and token URLs that would be spliced into the policy", () => {
    for (const bad of ["http://acme.lightning.force.com", "https://acme.lightning.force.com/", "https://a.example; script-src *", "*"]) {
      expect(() => loadConfig({ overrides: { "salesforce.orgOrigins": [bad] } }), bad).toThrow(ConfigError);
    }
    for (const bad of ["https://crm.example.com/t; script-src *", "https://crm.example.com/a b", "javascript:alert(1)"]) {
      expect(() => loadConfig({ overrides: { "salesforce.tokenUrl": bad } }), bad).toThrow(ConfigError);
    }
  });
});
