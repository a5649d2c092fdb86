/**
 * One HTTP(S) server for everything a front end or operator reaches: /healthz, /livez, /metrics, the
 * REST API, the static reference panel, and WebSocket upgrades handed to the CTI server.
 * A handler error answers 500 and is logged; it never takes the daemon down.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { refusedCounter } from "../publish/metrics.js";
import type { CtiServer } from "../publish/server.js";
import { operatorAllowed } from "./guard.js";
import { serveMetrics } from "./metrics.js";
import { sendError, sendJson } from "./respond.js";
import { handleRest, restBudget, type RestDeps } from "./rest.js";
import { installSocketGuard } from "./socketGuard.js";
import { panelHeaders, SDK_PATH, serveSdk, serveStatic } from "./static.js";

export type { AnnotateBody, CallFilter, RestResult } from "./rest.js";

export interface HttpDeps extends Omit<RestDeps, "log" | "auth"> {
  config: Config;
  log: Logger;
  /** WebSocket upgrades on config.server.wsPath go here; its authenticator also guards REST. */
  cti: Pick<CtiServer, "attach" | "auth">;
  /** Merged into /healthz; `status` other than "ok" answers 503 (/livez answers 200 regardless). */
  health: () => Record<string, unknown>;
  version: string;
  registry?: Registry;
  /** The reference panel; null: not served. Default: the `web/` folder of the package. */
  webDir?: string | null;
  /** The client SDK's browser build, served at /sdk/ctibridge-client.js; null: not served. Default: packages/client/dist. */
  sdkFile?: string | null;
  now?: () => number;
}

export interface HttpApi {
  readonly server: Server;
  /** Listen on config.server.host:port; resolves with the bound port (port 0 picks one). */
  listen(): Promise<number>;
  close(): Promise<void>;
}

/** `web/` next to package.json, from src/http (tsx/vitest) or dist/src/http (built). */
export function defaultWebDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["../../web", "../../../web"]) {
    const dir = resolve(here, up);
    if (existsSync(resolve(dir, "index.html"))) return dir;
  }
  return null;
}

/** The SDK's browser build (`npm run build`), from src/http or dist/src/http; null when not built. */
export function defaultSdkFile(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["../../packages/client/dist", "../../../packages/client/dist"]) {
    const file = resolve(here, up, "ctibridge-client.js");
    if (existsSync(file)) return file;
  }
  return null;
}

export function createHttpApi(deps: HttpDeps): HttpApi {
  const { config } = deps;
  const log = deps.log.child({ component: "http" });
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const webDir = deps.webDir === undefined ? defaultWebDir() : deps.webDir;
  // Looked up per request when defaulted: a build after the daemon started is served too.
  const sdkFile = () => (deps.sdkFile === undefined ? defaultSdkFile() : deps.sdkFile);
  const limits = config.server.limits;
  const rest: RestDeps = {
    log,
    auth: deps.cti.auth,
    listCalls: deps.listCalls,
    annotate: deps.annotate,
    annotations: deps.annotations,
    ...(deps.markDone ? { markDone: deps.markDone } : {}),
    ...(deps.queues ? { queues: deps.queues } : {}),
    ...(deps.directory ? { directory: deps.directory } : {}),
    budget: restBudget(limits, now),
    listCost: limits.resyncCost,
  };
  const tls = config.server.tls;
  const panel = panelHeaders(config.server.allowedOrigins);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    // Liveness: the process runs and answers; says nothing about the PBX or the store.
    if (url.pathname === "/livez") return sendJson(res, 200, { status: "ok", uptimeSeconds: Math.round((now() - startedAt) / 1000) });
    if (url.pathname === "/healthz") {
      if (!operatorAllowed(config.server.metricsToken, req, res)) return;
      const body = { status: "ok", version: deps.version, uptimeSeconds: Math.round((now() - startedAt) / 1000), ...deps.health() };
      return sendJson(res, body.status === "ok" ? 200 : 503, body);
    }
    if (url.pathname === "/metrics" && deps.registry) {
      if (!operatorAllowed(config.server.metricsToken, req, res)) return;
      return serveMetrics(deps.registry, res);
    }
    if (url.pathname.startsWith("/api/")) {
      if (!(await handleRest(rest, req, res, url))) sendError(res, "not_found", "no such endpoint");
      return;
    }
    if ((req.method === "GET" || req.method === "HEAD") && url.pathname === SDK_PATH) {
      const file = sdkFile();
      if (file !== null && (await serveSdk(file, req, res, panel, config.server.allowedOrigins))) return;
      return sendError(res, "not_found", "the client SDK is not built (npm run build)");
    }
    if ((req.method === "GET" || req.method === "HEAD") && webDir !== null) {
      if (await serveStatic(webDir, req, res, url.pathname, panel)) return;
    }
    sendError(res, "not_found", "not found");
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      log.error({ err, method: req.method, url: req.url }, "http handler failed");
      if (!res.headersSent) sendError(res, "internal", "internal error");
      else res.destroy();
    });
  };

  const server: Server = tls
    ? createHttps({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), handshakeTimeout: limits.handshakeTimeoutMs }, handler)
    : createHttp(handler);
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    socket.destroy();
  });
  const sockets = installSocketGuard(server, { limits, log, refused: refusedCounter(deps.registry), tls: tls !== undefined });
  deps.cti.attach(server, sockets);

  return {
    server,
    listen() {
      return new Promise((resolveListen, reject) => {
        server.once("error", reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off("error", reject);
          const port = (server.address() as AddressInfo).port;
          log.info({ host: config.server.host, port, tls: tls !== undefined, wsPath: config.server.wsPath }, "http listening");
          resolveListen(port);
        });
      });
    },
    close() {
      return new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}
