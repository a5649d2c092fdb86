/**
 * The Salesforce Open CTI softphone page (adapters/salesforce-open-cti/) at /adapters/salesforce/:
 * its files, its own security headers, and `config.json`, the page's settings from
 * `salesforce.*` (no secrets: the page fetches its JWT itself). Off unless `salesforce.enabled`.
 */
import { existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.js";
import { sendJson } from "./respond.js";
import { serveStatic } from "./static.js";

export const SALESFORCE_PATH = "/adapters/salesforce/";

/** `adapters/salesforce-open-cti/` next to package.json, from src/http (tsx/vitest) or dist/src/http (built). */
export function defaultSalesforceDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["../../adapters/salesforce-open-cti", "../../../adapters/salesforce-open-cti"]) {
    const dir = resolve(here, up);
    if (existsSync(resolve(dir, "index.html"))) return dir;
  }
  return null;
}

/**
 * The page's CSP. Like the panel's (no inline code, nothing but its own files), plus: the org's
 * origins may frame it and serve it `opencti_min.js` (Salesforce's library is loaded from the
 * org, never copied), and the token endpoint's origin may be fetched. The WebSocket is
 * same-origin (`'self'` covers ws:/wss: of this host).
 */
export function salesforceHeaders(sf: Config["salesforce"]): Record<string, string> {
  const orgs = sf.orgOrigins.join(" ");
  const connect = ["'self'", ...(sf.tokenUrl ? [new URL(sf.tokenUrl).origin] : [])].join(" ");
  return {
    "Content-Security-Policy": [
      "default-src 'none'",
      `script-src 'self'${orgs ? ` ${orgs}` : ""}`,
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src ${connect}`,
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${orgs || "'none'"}`,
    ].join("; "),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
}

/** What the page reads from `config.json`. */
export function salesforcePageConfig(config: Config): Record<string, unknown> {
  const sf = config.salesforce;
  return {
    wsPath: config.server.wsPath,
    orgOrigins: sf.orgOrigins,
    apiVersion: sf.apiVersion,
    tokenUrl: sf.tokenUrl ?? null,
    tokenApex: sf.tokenApex ?? null,
    searchIvrVariables: sf.searchIvrVariables,
    callIdField: sf.callIdField,
  };
}

/** Answer a GET/HEAD under SALESFORCE_PATH; false when there is nothing to serve (the caller answers 404). */
export async function serveSalesforce(config: Config, dir: string | null, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
  if (!config.salesforce.enabled || dir === null) return false;
  const headers = salesforceHeaders(config.salesforce);
  const rest = pathname.slice(SALESFORCE_PATH.length - 1);
  if (rest === "/config.json") {
    res.setHeader("Content-Security-Policy", headers["Content-Security-Policy"]!);
    sendJson(res, 200, salesforcePageConfig(config));
    return true;
  }
  return serveStatic(dir, req, res, rest, headers);
}
