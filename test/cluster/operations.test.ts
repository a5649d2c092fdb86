/**
 * Operating a cluster, through real processes (the compiled CLI as PBX workers and gateways, a
 * nats-server, a fake PBX): SIGHUP reloads a worker (its engine maps a new device; a standby
 * keeps the new users for its takeover) and a gateway (a new user may connect, a removed one is
 * closed at the next heartbeat, the new pop template); a running wrap-up survives kill -9 of its
 * worker (the same until, the dead worker's QueuePause undone by the new one at the end);
 * `POST /api/calls/:id/done` on a gateway goes to the owning worker with the standalone rules.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { ClusterRig, JWT_SECRET, type RoleProc } from "../helpers/clusterRig.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { waitFor } from "../helpers/daemon.js";
import { trace25Listing as listing } from "../helpers/listing.js";
import { traceBytes } from "../helpers/traces.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { JetStreamBus } from "../../src/bus/jetstream.js";
import { CALLS_BUCKET } from "../../src/bus/openCalls.js";
import { KvWrapUps } from "../../src/bus/wrapUpRows.js";
import { memoryLogger } from "../../src/log.js";
import { WebSocket } from "ws";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { TestClient } from "../helpers/cti.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

const live = (c: TestClient) => c.messages.filter((m) => m.type !== "hello" && m.type !== "snapshot" && m.type !== "agent.state" && m.type !== "pong");
const states = (c: TestClient, agent = "alice") => c.messages.filter((m) => m.type === "agent.state" && m.agent === agent).map((m) => m.state);
/** Trace 01 with its channel ids renamed: the same call again, a new call. */
const trace01 = (n = 0) => {
  const t = stripTracePreamble(traceBytes("01-inbound-answered")).toString("latin1");
  return Buffer.from(n === 0 ? t : t.replaceAll("1795305921", `179530${5921 + n}`), "latin1");
};

async function rest(port: number, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: await r.json() };
}

describe.skipIf(!have)("cluster operations", () => {
  const rig = new ClusterRig();
  let nats: NatsServer;
  const pbxs: AmiServer[] = [];
  const procs: RoleProc[] = [];
  beforeAll(() => rig.build(), 120_000);
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.proc.exitCode === null && p.proc.signalCode === null) await rig.kill9(p);
    for (const p of pbxs.splice(0)) await p.close();
    await nats?.kill();
  });
  afterAll(() => rig.close());

  async function setup(): Promise<AmiServer> {
    nats = await startNats();
    const pbx = await startFakeAmi({ fullyBooted: true });
    pbxs.push(pbx);
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []).setList("CoreShowChannels", []);
    return pbx;
  }
  function start(name: string, yaml: string): RoleProc {
    const p = rig.start(name, yaml);
    procs.push(p);
    return p;
  }
  const worker = (pbx: AmiServer, pbxId: string, id: string) => rig.workerYaml({ nats: nats.url, pbxId, workerId: id, amiPort: pbx.port, leaseTtlMs: 1000 });
  /** The HTTP status an upgrade of this user is refused with. */
  const refused = async (port: number, userId: string) => new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${await rig.token(userId)}`])).refused;
  const reloaded = (p: RoleProc) => p.lines.filter((l) => l.msg === "configuration reloaded");

  it("SIGHUP on PBX workers: the active one's engine maps a device added to the users; a standby keeps the new users for its takeover", async () => {
    const pbx = await setup();
    // alice has no phone at first: trace 01 rings PJSIP/1001, nobody's.
    const without = (y: string) => y.replace(/devices: \[PJSIP\/1001\]/, "devices: []");
    const a = start("reload-a", without(worker(pbx, "berlin", "RA")));
    await rig.ready(a);
    await waitFor(() => a.has("pbx resynced"), "worker A resynced", 1000);
    const b = start("reload-b", without(worker(pbx, "berlin", "RB")));
    await rig.ready(b);
    const g = start("reload-gw", rig.gatewayYaml({ nats: nats.url, name: "reload-gw" }));
    await rig.ready(g);
    const alice = await rig.connect(g.port()!, "alice");
    const sam = await rig.connect(g.port()!, "sam");
    await alice.nextOf("snapshot", 5000);
    await sam.nextOf("snapshot", 5000);

    await pbx.replay(trace01(0), { raw: true });
    await waitFor(() => live(sam).some((m) => m.type === "call.ended"), "first call ended (sam)", 1000);
    expect(live(sam).find((m) => m.type === "call.ended").call.legs.some((l: { userId: string }) => l.userId === "alice")).toBe(false);
    expect(live(alice).some((m) => m.type === "call.ringing")).toBe(false);

    // The file gets alice's phone back (and a setting a running worker cannot change); SIGHUP to both.
    writeFileSync(join(rig.dir, "reload-a.yaml"), worker(pbx, "berlin", "RA").replace("log: { level: info }", "log: { level: info }\ncalls: { maxCallAgeMs: 7200000 }"));
    writeFileSync(join(rig.dir, "reload-b.yaml"), worker(pbx, "berlin", "RB"));
    a.proc.kill("SIGHUP");
    b.proc.kill("SIGHUP");
    await waitFor(() => reloaded(a).length === 1 && reloaded(b).length === 1, "both reloaded", 1000);
    expect(reloaded(a)).toEqual([expect.objectContaining({ applied: ["users"], restartNeeded: ["calls.maxCallAgeMs"], users: 7 })]);
    expect(reloaded(b)).toEqual([expect.objectContaining({ applied: ["users"], restartNeeded: [], users: 7 })]);
    expect(a.has("SIGHUP: reload is not supported in cluster mode yet, nothing changed")).toBe(false);

    await pbx.replay(trace01(1), { raw: true });
    const ringing = await waitFor(() => live(alice).find((m) => m.type === "call.ringing"), "alice rings (worker A)", 1000);
    expect(ringing.call.legs).toEqual([expect.objectContaining({ userId: "alice", device: "PJSIP/1001" })]);
    await waitFor(() => live(alice).some((m) => m.type === "call.ended"), "alice's call ended", 1000);

    // The standby, reloaded while it stood by, takes over with alice's phone.
    await rig.kill9(a);
    await waitFor(() => live(alice).some((m) => m.type === "pbx.failover"), "pbx.failover", 2000);
    await pbx.replay(trace01(2), { raw: true });
    await waitFor(() => live(alice).filter((m) => m.type === "call.ended").length === 2, "alice's second call (worker B)", 1000);
    const calls = live(alice).filter((m) => m.type === "call.ringing");
    expect(calls).toHaveLength(2);
    expect(calls[1].call.legs).toEqual([expect.objectContaining({ userId: "alice", device: "PJSIP/1001" })]);
    expect(b.has("taking over the PBX")).toBe(true);
  });

  it("SIGHUP on a gateway: a new user may connect, a removed one is closed (4001) at the next heartbeat, the new pop template; a new JWT secret and session cap for new sessions; an unreadable key or a broken file changes nothing", async () => {
    const pbx = await setup();
    const w = start("gw-reload-w", worker(pbx, "berlin", "GW1"));
    await rig.ready(w);
    await waitFor(() => w.has("pbx resynced"), "worker resynced", 1000);
    const base = rig.gatewayYaml({ nats: nats.url, name: "gw-r" }).replace("maxClientsPerUser: 100 } }", "maxClientsPerUser: 100 }, heartbeatMs: 200 }");
    const g = start("gw-r", base);
    await rig.ready(g);
    const port = g.port()!;
    expect(await refused(port, "zoe")).toBe(401);
    const dave = await rig.connect(port, "dave");
    await dave.nextOf("snapshot", 5000);

    // Users (zoe in, dave out), pop, and cluster.gatewayReplayMinutes (a restart).
    const next =
      base.replace("cluster: { role: gateway,", "cluster: { role: gateway, gatewayReplayMinutes: 30,").replace(/\n {2}- \{ id: dave[^\n]*/, "") +
      '  - { id: zoe, name: "Zoe", devices: [PJSIP/1009] }\n' +
      "pop: { urlTemplate: 'https://crm.example/?n={e164}' }\n";
    expect(next).not.toContain("dave");
    writeFileSync(join(rig.dir, "gw-r.yaml"), next);
    g.proc.kill("SIGHUP");
    await waitFor(() => reloaded(g).length === 1 || g.has("reload failed, keeping the running configuration"), "gateway reloaded", 1000);
    expect(reloaded(g)).toEqual([expect.objectContaining({ applied: ["users", "pop.urlTemplate"], restartNeeded: ["cluster.gatewayReplayMinutes"], users: 7 })]);
    expect(await dave.closed).toEqual({ code: 4001, reason: "unauthorized" });
    expect(await refused(port, "dave")).toBe(401);
    const zoe = await rig.connect(port, "zoe");
    await zoe.nextOf("snapshot", 5000);
    const alice = await rig.connect(port, "alice");
    await alice.nextOf("snapshot", 5000);
    await pbx.replay(trace01(0), { raw: true });
    const ringing = await alice.nextOf("call.ringing", 5000);
    expect(ringing.call.popUrl).toBe("https://crm.example/?n=%2B4930123456");

    // A new JWT secret and one session per user: new sessions need the new secret, open ones stay.
    const secret2 = "another-cluster-secret-long-enough-for-hs256";
    writeFileSync(join(rig.dir, "gw-r.yaml"), next.replace(`jwtSecret: ${JWT_SECRET}`, `jwtSecret: ${secret2}`).replace("maxClientsPerUser: 100", "maxClientsPerUser: 1"));
    g.proc.kill("SIGHUP");
    await waitFor(() => reloaded(g).length === 2, "gateway reloaded again", 1000);
    // gatewayReplayMinutes still differs from the running value: named again.
    expect(reloaded(g)[1]).toMatchObject({ applied: ["server.limits.maxClientsPerUser", "auth.jwtSecret"], restartNeeded: ["cluster.gatewayReplayMinutes"] });
    const signed = (userId: string, key: string) =>
      new SignJWT({ role: "agent" }).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(key));
    const upgrade = (token: string) => new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${token}`]));
    expect(await upgrade(await signed("bob", JWT_SECRET)).refused).toBe(401);
    expect((await rest(port, await signed("bob", JWT_SECRET), "GET", "/api/calls")).status).toBe(401);
    const bob = upgrade(await signed("bob", secret2));
    await bob.opened;
    await bob.nextOf("snapshot", 5000);
    bob.ws.terminate();
    expect(await upgrade(await signed("alice", secret2)).refused).toBe(429);
    alice.send({ type: "ping" });
    await alice.nextOf("pong", 5000);

    // A public key file that cannot be read, then a file that is no config: nothing changes.
    const failed = () => g.lines.filter((l) => l.msg === "reload failed, keeping the running configuration");
    const missing = join(rig.dir, "no-such-key.pem");
    writeFileSync(join(rig.dir, "gw-r.yaml"), next.replace(`jwtSecret: ${JWT_SECRET}`, `jwtSecret: ${secret2}, jwtPublicKeyFile: ${missing}`));
    g.proc.kill("SIGHUP");
    await waitFor(() => failed().length === 1, "reload refused (key)", 1000);
    expect(failed()[0]).toMatchObject({ level: "error", problems: [`auth.jwtPublicKeyFile: cannot read ${missing}`] });
    writeFileSync(join(rig.dir, "gw-r.yaml"), "server: { port: 70000 }\n");
    g.proc.kill("SIGHUP");
    await waitFor(() => failed().length === 2, "reload refused (file)", 1000);
    expect(failed()[1]).toMatchObject({ level: "error", problems: expect.arrayContaining([expect.stringMatching(/^server\.port/)]) });
    expect(reloaded(g)).toHaveLength(2);
    const bob2 = upgrade(await signed("bob", secret2));
    await bob2.opened;
    await bob2.nextOf("snapshot", 5000);
  });

  it("kill -9 the worker mid wrap-up: the new worker continues it (same until, agent.state wrap_up) and undoes the dead worker's QueuePause at its end", async () => {
    const pbx = await setup();
    // Trace 25's members and device states; alice's phone idle after the call.
    const members = (aliceReason?: string) =>
      listing("resync-QueueStatus", "QueueMember").map((m) => {
        const mine = m.some(([k, v]) => k === "Queue" && v === "support") && m.some(([k, v]) => k === "Location" && v === "PJSIP/1001");
        if (!mine || aliceReason === undefined) return m;
        return m.map(([k, v]) => (k === "Paused" ? [k, "1"] : k === "PausedReason" ? [k, aliceReason] : [k, v]) as [string, string]);
      });
    const devices = listing("resync-DeviceStateList", "DeviceStateChange").map((m) =>
      m.some(([k, v]) => k === "Device" && v === "PJSIP/1001") ? m.map(([k, v]) => (k === "State" ? [k, "NOT_INUSE"] : [k, v]) as [string, string]) : m,
    );
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...members()]);
    pbx.setList("DeviceStateList", devices);
    pbx.handle("QueuePause", () => [["Response", "Success"], ["Message", "Interface paused successfully"]]);
    const wrapUp = "agents: { wrapUp: { mode: seconds, seconds: 5, pauseInQueue: true } }\n";
    const a = start("wrap-a", worker(pbx, "berlin", "WA") + wrapUp);
    await rig.ready(a);
    await waitFor(() => a.has("agent state resynced"), "worker A agent listing", 1000);
    const b = start("wrap-b", worker(pbx, "berlin", "WB") + wrapUp);
    await rig.ready(b);
    const g = start("wrap-gw", rig.gatewayYaml({ nats: nats.url, name: "wrap-gw" }));
    await rig.ready(g);
    const alice = await rig.connect(g.port()!, "alice");
    await alice.nextOf("snapshot", 5000);

    await pbx.replay(stripTracePreamble(traceBytes("07-queue-support-answered")), { raw: true });
    const callId = (await alice.nextOf("call.ended", 5000)).call.callId;
    const pauses = () => pbx.received.filter((r) => r.action.headers.Action === "QueuePause");
    await waitFor(() => pauses().length === 1, "the wrap-up pause", 1000);
    const wrap = (await waitFor(() => states(alice).find((s) => s.wrapUp !== null), "alice in wrap-up", 1000)).wrapUp;
    expect(wrap).toMatchObject({ callId });
    // The row with its paused member is in KV before the kill (what the new worker will read).
    const bus = await JetStreamBus.connect({ servers: [nats.url], name: "probe", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
    try {
      const kv = await bus.kv(CALLS_BUCKET, 0);
      await waitFor(async () => (await new KvWrapUps(kv, "berlin", memoryLogger("silent").log).load()).some((r) => r.paused.length === 1), "the wrap-up row in KV", 1000);
      expect(await new KvWrapUps(kv, "berlin", memoryLogger("silent").log).load()).toEqual([{ callId, userId: "alice", since: wrap.since, until: wrap.until, paused: [["support", "PJSIP/1001"]] }]);
    } finally {
      await bus.close();
    }
    // The PBX now lists alice paused for wrap-up (the pause the dead worker made).
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...members("wrap-up")]);
    const before = states(alice).length;
    await rig.kill9(a);
    await waitFor(() => live(alice).some((m) => m.type === "pbx.failover"), "pbx.failover", 2000);
    await waitFor(() => b.has("wrap-up ended"), "the wrap-up ended by worker B", 1000);
    await waitFor(() => states(alice).at(-1)?.wrapUp === null, "alice idle", 1000);
    await waitFor(() => pauses().length === 2, "the unpause", 1000);

    expect(b.lines.find((l) => l.msg === "taking over the PBX")).toMatchObject({ wrapUps: 1 });
    // From B: wrap_up with the same wrap-up (callId, since, until) until it ended, then idle.
    const after = states(alice).slice(before);
    expect(after.at(-1)).toMatchObject({ activity: "idle", wrapUp: null });
    const running = after.slice(0, -1);
    expect(running.length).toBeGreaterThan(0);
    for (const s of running) expect(s).toMatchObject({ activity: "wrap_up", wrapUp: wrap });
    expect(b.lines.filter((l) => l.msg === "wrap-up ended").map((l) => ({ userId: l.userId, callId: l.callId, seconds: l.seconds, reason: l.reason }))).toEqual([
      { userId: "alice", callId, seconds: 5, reason: "timeout" },
    ]);
    // The pause by the dead worker's link, the unpause by the new worker's, once.
    const [pause, unpause] = pauses();
    expect(pause!.action.headers).toMatchObject({ Interface: "PJSIP/1001", Queue: "support", Paused: "true", Reason: "wrap-up" });
    expect(unpause!.action.headers).toMatchObject({ Interface: "PJSIP/1001", Queue: "support", Paused: "false" });
    expect(unpause!.connId).not.toBe(pause!.connId);
    expect(b.has("unpausing a member left paused for wrap-up")).toBe(false);
  });

  it("POST /api/calls/:id/done on a gateway: the owning worker's rule and result; every tab gets call.done", async () => {
    const pbx = await setup();
    const w = start("done-w", worker(pbx, "berlin", "D1"));
    await rig.ready(w);
    await waitFor(() => w.has("pbx resynced"), "worker resynced", 1000);
    const g = start("done-gw", rig.gatewayYaml({ nats: nats.url, name: "done-gw" }));
    await rig.ready(g);
    const port = g.port()!;
    const alice = await rig.connect(port, "alice");
    const sam = await rig.connect(port, "sam");
    await alice.nextOf("snapshot", 5000);
    await sam.nextOf("snapshot", 5000);
    await pbx.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")), { raw: true });
    const callId = (await alice.nextOf("call.ended", 5000)).call.callId;

    expect(await rest(port, await rig.token("bob"), "POST", `/api/calls/${callId}/done`, {})).toEqual({ status: 403, json: { error: { code: "forbidden", message: "not a call of this user" } } });
    expect(await rest(port, await rig.token("alice"), "POST", `/api/calls/${callId}/done`, { user: "bob" })).toEqual({
      status: 403,
      json: { error: { code: "forbidden", message: "agents may mark only their own missed calls" } },
    });
    const r = await rest(port, await rig.token("alice"), "POST", `/api/calls/${callId}/done`, {});
    expect(r).toEqual({ status: 200, json: { ok: true, data: { callId, users: ["alice"], doneAt: expect.any(String) } } });
    const frame = { v: 1, seq: expect.any(Number), ts: expect.any(String), type: "call.done", callId, user: "alice", doneAt: r.json.data.doneAt, by: "alice", reason: "marked" };
    expect(await alice.nextOf("call.done", 5000)).toEqual({ ...frame, userId: "alice" });
    expect(await sam.nextOf("call.done", 5000)).toEqual({ ...frame, userId: "sam" });
    expect(await rest(port, await rig.token("alice"), "POST", `/api/calls/${callId}/done`, {})).toEqual({ status: 409, json: { error: { code: "invalid_state", message: "no open missed call to mark done" } } });
    expect(await rest(port, await rig.token("alice"), "POST", "/api/calls/no-such-call/done", {})).toEqual({ status: 404, json: { error: { code: "not_found", message: "no such call" } } });
    expect(await rest(port, await rig.token("alice"), "POST", `/api/calls/${callId}/done`, { user: 5 })).toMatchObject({ status: 400, json: { error: { code: "invalid_argument" } } });
  });
});
