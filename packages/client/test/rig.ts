/**
 * The SDK against the real daemon (test/helpers/daemon.ts): a client for a user, recording
 * every event it emits, and a loopback TCP proxy in front of the daemon that a test can cut
 * (every socket destroyed: the client sees an abrupt drop) and hold down (new connections are
 * closed at once) while the PBX goes on.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { connect as tcpConnect } from "node:net";
import { WebSocket } from "ws";
import { stripTracePreamble } from "../../../src/sim/replay.js";
import { traceBytes } from "../../../test/helpers/traces.js";
import { connect, type ClientEvents, type ClientOptions, type CtiClient, type EventName } from "../src/index.js";

export type Recorded = { [K in EventName]: { name: K; payload: ClientEvents[K] } }[EventName];

export interface RecordingClient {
  client: CtiClient;
  events: Recorded[];
  of<K extends EventName>(name: K): ClientEvents[K][];
}

/** A client with `ws` as its WebSocket and every event recorded in order. */
export function recordingClient(o: Omit<ClientOptions, "WebSocket">): RecordingClient {
  const client = connect({ WebSocket, log: () => undefined, reconnect: { minMs: 10, maxMs: 50 }, ...o });
  const events: Recorded[] = [];
  const names: EventName[] = ["pop", "call", "ended", "missed", "claimed", "agent", "snapshot", "connection", "pbx", "error", "message"];
  for (const name of names) client.on(name, (payload: any) => void events.push({ name, payload } as Recorded));
  return { client, events, of: (name) => events.filter((e) => e.name === name).map((e) => e.payload as any) };
}

export interface Proxy {
  port: number;
  /** Destroy every proxied socket now. */
  cut(): void;
  /** While down, a new connection is closed at once. */
  setDown(down: boolean): void;
  /** Stop (true) or go on (false) reading what the daemon sends: a client that reads too slowly. */
  holdDownstream(hold: boolean): void;
  /** Forward new connections to another port (a restarted daemon). */
  setTarget(port: number): void;
  connections(): number;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  let target = targetPort;
  const sockets = new Set<Socket>();
  const pairs: [client: Socket, upstream: Socket][] = [];
  let down = false;
  let count = 0;
  const server: Server = createServer((client) => {
    if (down) return void client.destroy();
    count++;
    const upstream = tcpConnect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    pairs.push([client, upstream]);
    const gone = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", gone).on("close", gone);
    upstream.on("error", gone).on("close", gone);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    setDown: (d) => void (down = d),
    setTarget: (port) => void (target = port),
    holdDownstream: (hold) => {
      for (const [client, upstream] of pairs) {
        if (upstream.destroyed) continue;
        if (hold) {
          upstream.unpipe(client);
          upstream.pause();
        } else upstream.pipe(client);
      }
    },
    connections: () => count,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A trace's body (after the login) split after the first message that matches `cut`. */
export function traceSplit(name: string, cut: (msg: string) => boolean): [Buffer, Buffer] {
  const msgs = stripTracePreamble(traceBytes(name)).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const at = msgs.findIndex(cut) + 1;
  if (at === 0) throw new Error(`no cut point in ${name}`);
  const join = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join(msgs.slice(0, at)), join(msgs.slice(at))];
}
