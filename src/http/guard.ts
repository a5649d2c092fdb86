/**
 * The operator endpoints (/metrics, /healthz) behind an optional bearer token
 * (`server.metricsToken`, env CTIBRIDGE_METRICS_TOKEN). They name the PBX link state, call
 * counts and store backlog: worth hiding when the port is reachable beyond the host.
 * /livez and the panel stay open; the API has its own user authentication.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "./respond.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * True when the request may proceed: no token configured, or `Authorization: Bearer <token>`
 * matches (compared in constant time). Otherwise answers 401 itself and returns false.
 */
export function operatorAllowed(token: string | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (token === undefined || token === "") return true;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "");
  if (m && timingSafeEqual(digest(m[1]!), digest(token))) return true;
  res.setHeader("WWW-Authenticate", 'Bearer realm="ctibridge-operator"');
  sendJson(res, 401, { error: { code: "unauthorized", message: "this endpoint needs server.metricsToken as a bearer token" } });
  return false;
}
