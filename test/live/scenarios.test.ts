/**
 * Live: the daemon (createDaemon, live AMI mode) logged in to the real lab PBX while the lab's
 * scenario runner makes the calls with real SIP phones; then the stored calls must say what the
 * scenario's expected outcomes say, and each user's WebSocket frames must be the sequence the
 * replay of the recorded trace gives (test/e2e/scenarios.test.ts). `npm run test:live`; skipped
 * when no lab AMI answers (see test/live/lab.ts for the settings).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { createDaemon, type Daemon } from "../../src/roles/standalone.js";
import { createApiToken } from "../../src/publish/apiTokens.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { TestClient } from "../helpers/cti.js";
import { waitFor } from "../helpers/daemon.js";
import { memoryLogger } from "../helpers/fakeAmiServer.js";
import { EXT_USER, LAB_USERS } from "../helpers/labConfig.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { scenarioJson } from "../helpers/traces.js";
import { expectOutcomes, LAB_AMI, labUnavailable, runScenario } from "./lab.js";

const unavailable = await labUnavailable();
if (unavailable) console.warn(`test:live skipped: ${unavailable}`);

const AGENTS = ["alice", "bob", "carol", "dave", "eve", "frank"];
/** `CTIBRIDGE_LIVE_FRAMES=0`: compare only the stored calls of the added scenarios. */
const RECORDED = process.env.CTIBRIDGE_LIVE_FRAMES !== "0";
const R = "call.ringing";
const A = "call.answered";
const E = "call.ended";
const stopped = (reason: string) => `call.ringing_stopped(${reason})`;

/**
 * Each user's expected frames after hello + snapshot (as for the recorded traces); null: only
 * the stored calls are compared. `CTIBRIDGE_LIVE_SCENARIOS=26-blind-transfer-ami-redirect,…`
 * adds lab scenarios by name (those of lab/ need lab/install.sh first); the agents' frames of
 * those are compared with the replay of their recorded trace (RECORDED_FRAMES) when it has them.
 */
const SCENARIOS: [string, Record<string, string[]> | null][] = [
  ["01-inbound-answered", { alice: [R, A, E] }],
  ["06-ringgroup-answered", { alice: [R, stopped("answered_elsewhere"), E], bob: [R, A, E], carol: [R, stopped("answered_elsewhere"), E] }],
  ["07-queue-support-answered", { alice: [R, A, E], bob: [R, stopped("answered_elsewhere"), E] }],
  ...(process.env.CTIBRIDGE_LIVE_SCENARIOS ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "")
    .map((n): [string, Record<string, string[]> | null] => [n, RECORDED ? (RECORDED_FRAMES.find(([r]) => r === n)?.[1] ?? null) : null]),
];

/**
 * The recorded trace's frames with the members in this run's ring order (37: queue sales rings
 * round-robin with memory, so which member rings out first depends on the queue's last call).
 */
function inRunOrder(name: string, frames: Record<string, string[]>, json: any): Record<string, string[]> {
  const recorded: unknown = scenarioJson(name).observed_ring_order;
  const live: unknown = json.observed_ring_order;
  if (!Array.isArray(recorded) || !Array.isArray(live) || recorded.length !== live.length) return frames;
  const user = new Map(recorded.map((ext, i) => [EXT_USER[ext], EXT_USER[live[i]]]));
  return Object.fromEntries(Object.entries(frames).map(([u, f]) => [user.get(u) ?? u, f]));
}

let running: { daemon: Daemon; clients: TestClient[]; dir: string } | null = null;
afterEach(async () => {
  if (!running) return;
  for (const c of running.clients) c.ws.terminate();
  await running.daemon.stop();
  rmSync(running.dir, { recursive: true, force: true });
  running = null;
});

async function startDaemon() {
  const dir = mkdtempSync(join(tmpdir(), "ctib-live-"));
  const dbPath = join(dir, "live.db");
  const config = configSchema.parse({
    ami: { mode: "live", ...LAB_AMI, reconnect: { minDelayMs: 200, maxDelayMs: 1000 } },
    users: LAB_USERS,
    trunks: ["PJSIP/carrier"],
    store: { path: dbPath },
    server: { port: 0 },
  });
  const { log, lines } = memoryLogger("info");
  const daemon = createDaemon({ config, log });
  const { port } = await daemon.start();
  running = { daemon, clients: [], dir };
  await waitFor(() => daemon.ami?.isConnected && lines.some((l) => l.msg === "pbx resynced"), "login and first resync at the lab PBX", 1000);
  const clients = new Map(
    AGENTS.map((u) => {
      const token = createApiToken(daemon.db, u, "agent").token;
      const c = new TestClient(new WebSocket(`ws://127.0.0.1:${port}${config.server.wsPath}`, [SUBPROTOCOL, `bearer.${token}`]));
      running!.clients.push(c);
      return [u, c] as const;
    }),
  );
  for (const c of clients.values()) await c.ready();
  return { daemon, clients };
}

describe.skipIf(unavailable !== null)("live against the lab PBX", () => {
  it.each(SCENARIOS)("%s: stored calls and each user's frames", async (name, frames) => {
    const { daemon, clients } = await startDaemon();
    const json = await runScenario(name);
    // The runner returns after every channel is gone and 3 s more: the daemon has seen the
    // hangups; a ping round trip per client then means every frame sent has arrived.
    for (const c of clients.values()) await c.sync();
    // A scenario may have no call at all (42: a queue pause across a PBX restart).
    const wanted = Math.min(1, json.expected_outcomes.calls.length);
    await waitFor(() => daemon.callLog.list({}).every((c) => c.state === "ended") && daemon.callLog.list({}).length >= wanted, "stored calls ended");
    const seqs = AGENTS.map((u) => [
      u,
      clients
        .get(u)!
        .messages.filter((m) => m.type !== "pong" && m.type !== "agent.state" && m.type !== "queue.state" && !m.type.startsWith("pbx."))
        .map((m) => m.type + (m.reason ? `(${m.reason})` : "")),
    ] as const);
    console.log(`${name} frames: ${seqs.filter(([, q]) => q.length > 2).map(([u, q]) => `${u}: ${q.slice(2).join(", ")}`).join("; ")}`);
    expectOutcomes(json, daemon.callLog.list({}));
    if (frames === null) return;
    const want = inRunOrder(name, frames, json);
    for (const [u, seq] of seqs) expect(seq, u).toEqual(["hello", "snapshot", ...(want[u] ?? [])]);
  });
});
