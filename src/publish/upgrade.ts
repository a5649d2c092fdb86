/**
 * The HTTP upgrade gate: path, origin and token are checked before any WebSocket byte is sent;
 * a refusal is a bare HTTP status line (401, 403, 404) and the socket is closed.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../log.js";
import type { Authenticator, AuthedUser, Directory, DirectoryUser } from "./auth.js";
import type { CtiMetrics } from "./metrics.js";

const INSTANCE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface UpgradeDeps {
  wss: WebSocketServer;
  auth: Authenticator;
  directory: Directory;
  wsPath: string;
  log: Logger;
  metrics: CtiMetrics;
  isClosing: () => boolean;
  /** `instance` (from `?instance=`): a tab's stable id; a newer connection supersedes an older one. */
  onConnection: (ws: WebSocket, auth: AuthedUser, user: DirectoryUser, instance: string | null) => void;
}

export function createUpgradeHandler(d: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> {
  return async (req, socket, head) => {
    socket.on("error", (err) => d.log.debug({ err }, "upgrade socket error"));
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== d.wsPath || d.isClosing()) return refuse(socket, 404, "Not Found");
    const result = await d.auth.authenticateRequest(req);
    if (!result.ok) {
      d.metrics.authFailure(result.reason);
      d.log.info({ reason: result.reason, remote: req.socket.remoteAddress }, "upgrade refused");
      return refuse(socket, result.status, result.status === 403 ? "Forbidden" : "Unauthorized");
    }
    const user = d.directory.getUser(result.user.userId);
    if (!user || socket.destroyed || d.isClosing()) return refuse(socket, 401, "Unauthorized");
    const instance = url.searchParams.get("instance");
    d.wss.handleUpgrade(req, socket, head, (ws) => d.onConnection(ws, result.user, user, instance !== null && INSTANCE_RE.test(instance) ? instance : null));
  };
}

function refuse(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return;
  socket.once("finish", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
