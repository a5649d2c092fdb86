/**
 * The image's HEALTHCHECK: GET /healthz of the daemon in this container; exit 0 on 200, else 1.
 * /healthz is 200 only while the PBX link is logged in and the store takes writes, so
 * `docker ps` shows "unhealthy" when ctibridge is not doing its job (plain Docker restarts
 * nothing on it). Address, TLS and bearer token come from the config file and environment
 * the daemon reads ($CTIBRIDGE_CONFIG, default /etc/ctibridge/ctibridge.yaml);
 * CTIBRIDGE_HEALTHCHECK_URL overrides the URL (e.g. …/livez where "unhealthy" restarts).
 */
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { applySecretFiles } from "./secretFiles.mjs";
import { loadConfig } from "../dist/src/config.js";

const TIMEOUT_MS = 4000;

function fail(why) {
  process.stderr.write(`healthcheck: ${why}\n`);
  process.exit(1);
}

let url = process.env.CTIBRIDGE_HEALTHCHECK_URL;
let token;
try {
  const problems = applySecretFiles(process.env);
  if (problems.length > 0) fail(problems.join("; "));
  const c = loadConfig({ file: process.env.CTIBRIDGE_CONFIG ?? "/etc/ctibridge/ctibridge.yaml", env: process.env });
  token = c.server.metricsToken;
  if (!url) {
    // A wildcard address is reached on loopback; a specific one on itself.
    const host = ["0.0.0.0", "", "::"].includes(c.server.host) ? (c.server.host === "::" ? "[::1]" : "127.0.0.1") : c.server.host.includes(":") ? `[${c.server.host}]` : c.server.host;
    url = `${c.server.tls ? "https" : "http"}://${host}:${c.server.port}/healthz`;
  }
} catch (err) {
  if (!url) fail(err.problems ? `config: ${err.problems.join("; ")}` : err.message);
}

const get = url.startsWith("https:") ? httpsGet : httpGet;
// Our own daemon over loopback: its certificate names the public host, not this address.
const req = get(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, rejectUnauthorized: false, timeout: TIMEOUT_MS }, (res) => {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (d) => (body += d.slice(0, 2000)));
  res.on("end", () => {
    process.stdout.write(`${res.statusCode} ${body.slice(0, 500)}\n`);
    process.exit(res.statusCode === 200 ? 0 : 1);
  });
});
req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
req.on("error", (err) => fail(`${url}: ${err.message}`));
