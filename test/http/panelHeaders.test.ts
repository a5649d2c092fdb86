/** The panel's security headers over real HTTP, and the panel itself fit for its policy. */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { defaultWebDir } from "../../src/http/server.js";
import { get, startHttp, type HttpRig } from "../helpers/httpRig.js";

const WEB = defaultWebDir()!;
let rig: HttpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const csp = (ancestors: string) =>
  `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`;

describe("panel responses", () => {
  it.each(["/", "/index.html", "/panel.js", "/view.js", "/panel.css"])("%s: CSP, nosniff, no referrer; framing only by itself without allowed origins", async (path) => {
    rig = await startHttp({}, WEB);
    const r = await get(rig.port, path);
    expect(r.status).toBe(200);
    expect(r.headers["content-security-policy"]).toBe(csp("'self'"));
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    expect(r.headers["referrer-policy"]).toBe("no-referrer");
  });

  it("lets exactly the configured CRM origins frame the panel", async () => {
    rig = await startHttp({ allowedOrigins: ["https://crm.example.com", "http://10.0.0.5:8080"] }, WEB);
    const r = await get(rig.port, "/");
    expect(r.headers["content-security-policy"]).toBe(csp("'self' https://crm.example.com http://10.0.0.5:8080"));
  });

  it("refuses an allowed origin that is not an origin (it would also be spliced into the policy)", () => {
    for (const bad of ["https://crm.example.com/", "https://crm.example.com; script-src *", "*", "crm.example.com"]) {
      expect(() => loadConfig({ overrides: { "server.allowedOrigins": [bad] } }), bad).toThrow(ConfigError);
    }
    expect(loadConfig({ overrides: { "server.allowedOrigins": ["https://[::1]:8443"] } }).server.allowedOrigins).toEqual(["https://[::1]:8443"]);
  });
});

describe("the panel needs nothing the policy forbids", () => {
  const html = readFileSync(join(WEB, "index.html"), "utf8");
  const scripts = readdirSync(WEB).filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(WEB, f), "utf8"));

  it("no inline script, style or event handler in the page", () => {
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script type="module" src="panel.js">']);
    expect(html).not.toMatch(/<script\b[^>]*>[^<\s]/);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
  });

  it("no eval, HTML injection or inline styles in the scripts", () => {
    for (const js of scripts) {
      expect(js).not.toMatch(/\beval\(|new Function\(|\.innerHTML\s*=|\.style\.|setAttribute\(\s*["']style|insertAdjacentHTML/);
    }
  });
});
