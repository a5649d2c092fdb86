/**
 * The HTTP upgrade gate: path, origin and token are checked before any WebSocket byte is sent;
 * a refusal is a bare HTTP status line (400 when the offered subprotocols name no version we
 * speak, with a one-line text body; 401, 403, 404; 503 past server.limits.maxClients, 429 past
 * maxClientsPerUser) and the socket is closed.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Authenticator, AuthedUser, Directory, DirectoryUser } from "./auth.js";
import type { CtiMetrics } from "./metrics.js";
import { SUBPROTOCOLS } from "./schema.js";

export type Subprotocol = (typeof SUBPROTOCOLS)[number];

/** The names in a `Sec-WebSocket-Protocol` header (several headers are joined by Node). */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  return text.split(",").map((p) => p.trim()).filter((p) => p !== "");
}

/**
 * The highest protocol version this server speaks among those offered; null when none is (an
 * offer of only `bearer.<token>` has no version either). Other names (the token) are ignored.
 */
export function selectSubprotocol(offered: Iterable<string>): Subprotocol | null {
  const set = new Set(offered);
  for (let i = SUBPROTOCOLS.length - 1; i >= 0; i--) if (set.has(SUBPROTOCOLS[i]!)) return SUBPROTOCOLS[i]!;
  return null;
}

const INSTANCE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The HTTP server's socket guard (http/socketGuard.ts): a socket that became a session is no longer pending. */
export interface SocketHooks {
  upgraded(socket: Duplex): void;
}

export interface UpgradeDeps {
  wss: WebSocketServer;
  auth: Authenticator;
  directory: Directory;
  wsPath: string;
  log: Logger;
  metrics: CtiMetrics;
  limits: Config["server"]["limits"];
  clientCount: () => number;
  clientsOf: (userId: string) => number;
  sockets?: SocketHooks;
  isClosing: () => boolean;
  /** `instance` (from `?instance=`): a tab's stable id; a newer connection supersedes an older one. */
  /** `subprotocol`: the version selected from the client's offer; null when it offered none. */
  onConnection: (ws: WebSocket, auth: AuthedUser, user: DirectoryUser, instance: string | null, subprotocol: Subprotocol | null) => void;
}

export function createUpgradeHandler(d: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> {
  return async (req, socket, head) => {
    socket.on("error", (err) => d.log.debug({ err }, "upgrade socket error"));
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== d.wsPath || d.isClosing()) return refuse(socket, 404, "Not Found");
    // A client that offers subprotocols must offer a version we speak, or its handshake would
    // fail anyway (a browser rejects an answer that selects none): say so in plain words.
    const offered = offeredProtocols(req.headers["sec-websocket-protocol"]);
    const subprotocol = selectSubprotocol(offered);
    if (offered.length > 0 && subprotocol === null) {
      d.metrics.connectionRefused("unsupported_protocol");
      // Never the token (`bearer.…`); the rest cut short, it is client text.
      const shown = offered.filter((p) => !p.toLowerCase().startsWith("bearer.")).slice(0, 8).map((p) => p.slice(0, 32));
      d.log.info({ offered: shown }, "upgrade refused, no protocol version we speak");
      return refuse(socket, 400, "Bad Request", `no supported protocol version offered; this server speaks ${SUBPROTOCOLS.join(", ")}\n`);
    }
    // Before any token work: a full server answers at once, and cheaply.
    if (d.clientCount() >= d.limits.maxClients) {
      d.metrics.connectionRefused("max_clients");
      d.log.warn({ max: d.limits.maxClients }, "upgrade refused, too many clients");
      return refuse(socket, 503, "Service Unavailable");
    }
    const result = await d.auth.authenticateRequest(req);
    if (!result.ok) {
      d.metrics.authFailure(result.reason);
      d.log.info({ reason: result.reason, remote: req.socket.remoteAddress }, "upgrade refused");
      return refuse(socket, result.status, result.status === 403 ? "Forbidden" : "Unauthorized");
    }
    const user = d.directory.getUser(result.user.userId);
    if (!user || socket.destroyed || d.isClosing()) return refuse(socket, 401, "Unauthorized");
    const instance = url.searchParams.get("instance");
    const tab = instance !== null && INSTANCE_RE.test(instance) ? instance : null;
    if (d.clientsOf(user.id) >= d.limits.maxClientsPerUser) {
      d.metrics.connectionRefused("max_clients_per_user");
      d.log.warn({ userId: user.id, max: d.limits.maxClientsPerUser }, "upgrade refused, too many sessions of this user");
      return refuse(socket, 429, "Too Many Requests");
    }
    d.wss.handleUpgrade(req, socket, head, (ws) => {
      d.sockets?.upgraded(socket);
      d.onConnection(ws, result.user, user, tab, subprotocol);
    });
  };
}

function refuse(socket: Duplex, status: number, text: string, body = ""): void {
  if (socket.destroyed) return;
  socket.once("finish", () => socket.destroy());
  const type = body === "" ? "" : "Content-Type: text/plain; charset=utf-8\r\n";
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
