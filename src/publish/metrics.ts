/** WebSocket metrics; absent registry → no-op counters so the hot path never branches on null. */
import { Counter, Gauge, type Registry } from "prom-client";

/** One counter per name and registry, whichever part asks first (the HTTP socket guard shares one). */
function counter(registry: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** ctibridge_connections_refused_total{reason}: sockets and upgrades refused or closed by a limit. */
export function refusedCounter(registry: Registry | undefined): (reason: RefusalReason) => void {
  if (!registry) return () => {};
  const c = counter(registry, "ctibridge_connections_refused_total", "Sockets and upgrades refused or closed by a connection limit", ["reason"]);
  return (reason) => c.inc({ reason });
}

export interface CtiMetrics {
  clientConnected(): void;
  clientDisconnected(): void;
  messageSent(): void;
  slowClose(): void;
  authFailure(reason: string): void;
  /** A client frame or command refused by its budget (`kind`), or a connection closed 4029. */
  rateLimited(kind: "frame" | "command"): void;
  rateLimitClose(): void;
  /** A socket or upgrade refused or closed by a connection limit. */
  connectionRefused(reason: RefusalReason): void;
}

/** Why a connection was refused or closed by a limit (the `reason` label). */
export type RefusalReason = "handshake_timeout" | "unauthenticated_cap" | "evicted" | "max_clients" | "max_clients_per_user" | "max_connections" | "unsupported_protocol";

const NOOP: CtiMetrics = {
  clientConnected() {},
  clientDisconnected() {},
  messageSent() {},
  slowClose() {},
  authFailure() {},
  rateLimited() {},
  rateLimitClose() {},
  connectionRefused() {},
};

export function createCtiMetrics(registry: Registry | undefined): CtiMetrics {
  if (!registry) return NOOP;
  const registers = [registry];
  const clients = new Gauge({ name: "ctibridge_ws_clients", help: "Connected WebSocket clients", registers });
  const sent = new Counter({ name: "ctibridge_ws_messages_sent_total", help: "Messages written to WebSocket clients", registers });
  const slow = new Counter({ name: "ctibridge_ws_slow_client_closes_total", help: "Clients closed with 4008 (too slow)", registers });
  const authFail = new Counter({ name: "ctibridge_ws_auth_failures_total", help: "Refused upgrades", labelNames: ["reason"], registers });
  const limited = counter(registry, "ctibridge_ws_rate_limited_total", "Client frames and commands refused by their budget", ["kind"]);
  const limitCloses = counter(registry, "ctibridge_ws_rate_limit_closes_total", "Clients closed with 4029 (far past their frame budget)");
  const refused = refusedCounter(registry);
  return {
    clientConnected: () => clients.inc(),
    clientDisconnected: () => clients.dec(),
    messageSent: () => sent.inc(),
    slowClose: () => slow.inc(),
    authFailure: (reason) => authFail.inc({ reason }),
    rateLimited: (kind) => limited.inc({ kind }),
    rateLimitClose: () => limitCloses.inc(),
    connectionRefused: refused,
  };
}
