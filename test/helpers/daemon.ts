/**
 * The whole daemon on loopback for daemon and end-to-end tests: a fake PBX (src/sim/amiServer.ts)
 * on 127.0.0.1 port 0, createDaemon() in live AMI mode pointed at it, HTTP/WebSocket on port 0,
 * and recording ws clients authenticated with per-user API keys. A rig owns what it started.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { configSchema, type Config } from "../../src/config.js";
import { createDaemon, type Daemon } from "../../src/roles/standalone.js";
import { createApiToken } from "../../src/publish/apiTokens.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { TestClient } from "./cti.js";
import { memoryLogger, startFakeAmi, type LogLine } from "./fakeAmiServer.js";
import { LAB_USERS } from "./labConfig.js";
import { traceBytes } from "./traces.js";

/** Poll a condition without asserting on time; gives up after `limit` turns of 10 ms (~5 s). */
export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, limit = 500): Promise<T> {
  for (let i = 0; i < limit; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Trace 01 split after the carrier channel entered the bridge (alice's call is connected). */
export function trace01Halves(): [Buffer, Buffer] {
  const body = stripTracePreamble(traceBytes("01-inbound-answered")).toString("utf8");
  const msgs = body.split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = msgs.findIndex((m) => m.startsWith("Event: BridgeEnter") && m.includes("Channel: PJSIP/carrier-00000000")) + 1;
  const join2 = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join2(msgs.slice(0, cut)), join2(msgs.slice(cut))];
}

/** The lab users plus a supervisor without a phone. */
export const E2E_USERS = [...LAB_USERS, { id: "sam", name: "Sam", devices: [] as string[], role: "supervisor" as const }];

export interface DaemonOptions {
  dbPath?: string;
  /** Reuse a running fake PBX (a daemon restart); the rig does not close it. */
  pbx?: AmiServer;
  users?: unknown[];
  server?: Record<string, unknown>;
  calls?: Record<string, unknown>;
  ami?: Record<string, unknown>;
  pop?: Record<string, unknown>;
  control?: Record<string, unknown>;
  auth?: Record<string, unknown>;
  salesforce?: Record<string, unknown>;
  agents?: Record<string, unknown>;
  webhooks?: unknown[];
  store?: Record<string, unknown>;
  /** The engine inside a cluster PBX worker (`mode: cluster`, `cluster.role: pbx`): nothing connects to NATS here. */
  cluster?: Record<string, unknown>;
  /** The daemon's clock (AMI arrival times, journal, store); default Date.now. */
  now?: () => number;
  /** Return before the first resync (the PBX may be down). */
  noWait?: boolean;
  /** The rig's log level (default info; `debug` shows each AMI event acted on). */
  logLevel?: string;
}

export interface RunningDaemon {
  pbx: AmiServer;
  daemon: Daemon;
  dbPath: string;
  /** HTTP/WebSocket port. */
  port: number;
  /** How many CoreShowChannels listings the PBX answered so far. */
  listings(): number;
  /** How many resyncs the daemon has applied (its "pbx resynced" log line). */
  resyncs(): number;
  /** The daemon's log lines (level info and up, or DaemonOptions.logLevel). */
  logs: LogLine[];
  /**
   * Write trace bytes to the daemon's AMI link and resolve once it has handled all of them: a
   * Ping round trip on the same connection, since the client hands events over synchronously
   * in arrival order (an event counter would not do: unused events may be skipped unread).
   */
  replay(bytes: Buffer): Promise<void>;
  /** A recording ws client for `userId`, token in the subprotocol list as browsers send it. */
  connect(userId: string, query?: string): TestClient;
  /** The API key the rig uses for `userId` (created on first use; `sam` is a supervisor). */
  token(userId: string): string;
  readonly config: Config;
}

export class DaemonRig {
  private readonly daemons: Daemon[] = [];
  private readonly servers: AmiServer[] = [];
  private readonly clients: TestClient[] = [];

  async start(o: DaemonOptions = {}): Promise<RunningDaemon> {
    const dbPath = o.dbPath ?? join(mkdtempSync(join(tmpdir(), "ctib-test-")), "t.db");
    const pbx = o.pbx ?? (await startFakeAmi({ fullyBooted: true }));
    if (!o.pbx) {
      this.servers.push(pbx);
      // A PBX with app_queue and no queues: the agent listings succeed at once (no retries).
      pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
    }
    const config = configSchema.parse({
      ami: {
        mode: "live",
        host: "127.0.0.1",
        port: pbx.port,
        secret: "s3cret",
        reconnect: { minDelayMs: 20, maxDelayMs: 50 },
        agentListing: { bootWaitMs: 2_000, attempts: 3, minDelayMs: 20, maxDelayMs: 50 },
        // Agent changes at the end of each read, as the tests write them (test/e2e/agentSettle.test.ts sets a window).
        agentStateSettleMs: 0,
        ...o.ami,
      },
      users: o.users ?? LAB_USERS,
      trunks: ["PJSIP/carrier"],
      store: { path: dbPath, ...o.store },
      server: { port: 0, ...o.server },
      ...(o.calls ? { calls: o.calls } : {}),
      ...(o.pop ? { pop: o.pop } : {}),
      ...(o.control ? { control: o.control } : {}),
      ...(o.auth ? { auth: o.auth } : {}),
      ...(o.salesforce ? { salesforce: o.salesforce } : {}),
      ...(o.agents ? { agents: o.agents } : {}),
      ...(o.webhooks ? { webhooks: o.webhooks } : {}),
      ...(o.cluster ? { mode: "cluster", cluster: o.cluster } : {}),
    });
    const { log, lines } = memoryLogger(o.logLevel ?? "info");
    const daemon = createDaemon({ config, log, ...(o.now ? { now: o.now } : {}) });
    this.daemons.push(daemon);
    const { port } = await daemon.start();
    const listings = () => pbx.received.filter((r) => r.action.headers.Action === "CoreShowChannels").length;
    const resyncs = () => lines.filter((l) => l.msg === "pbx resynced").length;
    // Until the first resync is applied, `pbx.resynced` may still reach a client that connects;
    // the agent listings follow it (their agent.state frames would land in the test).
    if (!o.noWait) {
      await waitFor(() => resyncs() > 0 && daemon.ami?.isConnected && lines.some((l) => l.msg === "agent state resynced"), "first resync");
      await waitFor(() => pbx.connections.length > 0, "connection");
    }
    const tokens = new Map<string, string>();
    const tokenOf = (userId: string): string => {
      let token = tokens.get(userId);
      if (!token) {
        const role = userId === "sam" ? "supervisor" : "agent";
        token = createApiToken(daemon.db, userId, role).token;
        tokens.set(userId, token);
      }
      return token;
    };
    const rig = this;
    return {
      pbx,
      daemon,
      dbPath,
      port,
      listings,
      resyncs,
      logs: lines,
      async replay(bytes) {
        await pbx.replay(bytes, { raw: true });
        const ami = daemon.ami;
        if (!ami) throw new Error("no AMI client");
        await ami.action("Ping", []);
      },
      config,
      token: tokenOf,
      connect(userId, query = "") {
        const token = tokenOf(userId);
        const ws = new WebSocket(`ws://127.0.0.1:${port}${config.server.wsPath}${query}`, [SUBPROTOCOL, `bearer.${token}`]);
        const c = new TestClient(ws);
        rig.clients.push(c);
        return c;
      },
    };
  }

  /** Stop one daemon now (a restart); close() will not stop it again. */
  async stop(daemon: Daemon): Promise<void> {
    const i = this.daemons.indexOf(daemon);
    if (i >= 0) this.daemons.splice(i, 1);
    await daemon.stop();
  }

  async close(): Promise<void> {
    for (const c of this.clients.splice(0)) c.ws.terminate();
    for (const d of this.daemons.splice(0)) await d.stop().catch(() => undefined);
    for (const s of this.servers.splice(0)) await s.close();
  }
}

/** One REST request to a rig's daemon as `who` (their rig key, or a literal `ctb_` key): status and parsed JSON (null when none). */
export async function rest(d: RunningDaemon, who: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = who.startsWith("ctb_") ? who : d.token(who);
  const res = await fetch(`http://127.0.0.1:${d.port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}
