/** WebSocket metrics; absent registry → no-op counters so the hot path never branches on null. */
import { Counter, Gauge, type Registry } from "prom-client";

export interface CtiMetrics {
  clientConnected(): void;
  clientDisconnected(): void;
  messageSent(): void;
  slowClose(): void;
  authFailure(reason: string): void;
}

const NOOP: CtiMetrics = {
  clientConnected() {},
  clientDisconnected() {},
  messageSent() {},
  slowClose() {},
  authFailure() {},
};

export function createCtiMetrics(registry: Registry | undefined): CtiMetrics {
  if (!registry) return NOOP;
  const registers = [registry];
  const clients = new Gauge({ name: "ctibridge_ws_clients", help: "Connected WebSocket clients", registers });
  const sent = new Counter({ name: "ctibridge_ws_messages_sent_total", help: "Messages written to WebSocket clients", registers });
  const slow = new Counter({ name: "ctibridge_ws_slow_client_closes_total", help: "Clients closed with 4008 (too slow)", registers });
  const authFail = new Counter({ name: "ctibridge_ws_auth_failures_total", help: "Refused upgrades", labelNames: ["reason"], registers });
  return {
    clientConnected: () => clients.inc(),
    clientDisconnected: () => clients.dec(),
    messageSent: () => sent.inc(),
    slowClose: () => slow.inc(),
    authFailure: (reason) => authFail.inc({ reason }),
  };
}
