/**
 * What a TCP connection may hold before it is a WebSocket session (server.limits, issue 7:
 * 2,000 silent sockets were never closed and, at the descriptor limit, /healthz and logins
 * hung for everyone). A socket is pending from accept until it becomes a session:
 *  - it must have a complete request (headers and body, answered; an upgrade: authenticated)
 *    within `handshakeTimeoutMs`, and an idle keep-alive socket gets the same time for its next one;
 *  - at most `maxUnauthenticated` are pending: a new socket closes the oldest idle one (no
 *    request in progress), so a fresh /healthz or login is always served; when every pending
 *    socket is busy the new one is refused at once instead;
 *  - the server refuses sockets past maxClients + maxUnauthenticated outright (Node's
 *    `maxConnections`), so the descriptor table keeps room for the store, the PBX link and logs.
 * Over TLS the count starts after the TLS handshake (Node's own `handshakeTimeout` covers it).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { RefusalReason } from "../publish/metrics.js";

interface Pending {
  timer: NodeJS.Timeout | null;
  /** A request (or an upgrade) is being handled: not to be evicted. */
  busy: boolean;
}

export interface SocketGuard {
  /** The socket is a WebSocket session now: no longer pending. */
  upgraded(socket: Duplex): void;
  /** Sockets not (yet) sessions. */
  readonly pending: number;
}

export interface SocketGuardDeps {
  limits: Config["server"]["limits"];
  log: Logger;
  refused: (reason: RefusalReason) => void;
  tls: boolean;
}

export function installSocketGuard(server: Server, d: SocketGuardDeps): SocketGuard {
  const { limits, log } = d;
  // Insertion order is age order: the first idle entry is the oldest.
  const pending = new Map<Duplex, Pending>();

  const arm = (socket: Duplex, p: Pending) => {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (!pending.has(socket)) return;
      d.refused("handshake_timeout");
      log.debug({ remote: (socket as Socket).remoteAddress }, "socket closed, no request in time");
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    p.timer.unref();
  };
  const forget = (socket: Duplex) => {
    const p = pending.get(socket);
    if (p?.timer) clearTimeout(p.timer);
    pending.delete(socket);
  };

  const onSocket = (socket: Socket) => {
    if (pending.size >= limits.maxUnauthenticated) {
      let oldest: Duplex | null = null;
      for (const [s, p] of pending) {
        if (!p.busy) {
          oldest = s;
          break;
        }
      }
      if (oldest === null) {
        d.refused("unauthenticated_cap");
        log.warn({ max: limits.maxUnauthenticated }, "socket refused, too many pending connections");
        socket.destroy();
        return;
      }
      d.refused("evicted");
      log.warn({ max: limits.maxUnauthenticated }, "oldest idle socket closed, too many pending connections");
      forget(oldest);
      oldest.destroy();
    }
    const p: Pending = { timer: null, busy: false };
    pending.set(socket, p);
    arm(socket, p);
    socket.once("close", () => forget(socket));
  };
  server.on(d.tls ? "secureConnection" : "connection", onSocket);

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const p = pending.get(socket);
    if (!p) return;
    // The timer keeps running: a request whose body never completes (a slow POST) would
    // otherwise hold a socket that cannot be evicted. Our handlers answer in milliseconds.
    p.busy = true;
    res.once("finish", () => {
      p.busy = false;
      if (pending.has(socket) && !socket.destroyed) arm(socket, p);
    });
  });
  // An upgrade stays pending (and its timer runs) until it is a session or refused.
  server.on("upgrade", (req: IncomingMessage) => {
    const p = pending.get(req.socket);
    if (p) p.busy = true;
  });

  server.maxConnections = limits.maxClients + limits.maxUnauthenticated;
  server.on("drop", () => d.refused("max_connections"));

  return {
    upgraded: forget,
    get pending() {
      return pending.size;
    },
  };
}
