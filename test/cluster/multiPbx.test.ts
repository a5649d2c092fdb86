/**
 * Two PBXs in one cluster (issue 13: "users may have devices on several PBXs"): two fake PBXs,
 * hamburg and berlin, each with one in-process PBX worker, one nats-server, one gateway. Both
 * sites have a PJSIP/1001, for different users (alice in hamburg, xavier in berlin); bob has a
 * PJSIP/1002 on each; carol's plain PJSIP/1003 is hers on every PBX. Recorded traces replay on
 * both PBXs at once. Every user gets exactly their recorded frames, of their own PBX's calls
 * with its pbxId; bob's agent.state is the merge of both PBXs (on connect, live and on resume);
 * a click-to-dial reaches the PBX of the device it names and no other.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamBus } from "../../src/bus/jetstream.js";
import { configSchema } from "../../src/config.js";
import { memoryLogger } from "../../src/log.js";
import { createGateway, type Gateway } from "../../src/roles/gateway.js";
import { createPbxWorker, type PbxWorker } from "../../src/roles/pbxWorker.js";
import { createDaemon } from "../../src/roles/standalone.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import type { Fields } from "../../src/sim/amiServer.js";
import { ClusterRig, JWT_SECRET } from "../helpers/clusterRig.js";
import type { TestClient } from "../helpers/cti.js";
import { waitFor } from "../helpers/daemon.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { RECORDED_FRAMES } from "../helpers/scenarioFrames.js";
import { traceBytes } from "../helpers/traces.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

const USERS = [
  { id: "alice", name: "Alice Hamburg", devices: ["hamburg:PJSIP/1001"] },
  { id: "xavier", name: "Xavier Berlin", devices: ["berlin:PJSIP/1001"] },
  { id: "bob", name: "Bob Both", devices: ["hamburg:PJSIP/1002", "berlin:PJSIP/1002"] },
  { id: "carol", name: "Carol Everywhere", devices: ["PJSIP/1003"] },
  { id: "sam", name: "Sam", devices: [], role: "supervisor" },
];
const PBXS = ["hamburg", "berlin"] as const;
type Pbx = (typeof PBXS)[number];
const frame = (m: any) => m.type + (m.reason ? `(${m.reason})` : "");
const recorded = (trace: string) => RECORDED_FRAMES.find(([n]) => n === trace)![1];

describe.skipIf(!have)("two PBXs in one cluster", () => {
  let nats: NatsServer;
  const pbx = {} as Record<Pbx, AmiServer>;
  const workers = {} as Record<Pbx, PbxWorker>;
  let gateway: Gateway;
  let port = 0;
  const rig = new ClusterRig();
  const clients = new Map<string, TestClient>();

  async function caughtUp(): Promise<void> {
    for (const p of PBXS) {
      await workers[p].daemon!.ami!.action("Ping", []); // the worker handled everything sent before
      await workers[p].flushed();
    }
    const probe = await JetStreamBus.connect({ servers: [nats.url], name: "probe", replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000, log: memoryLogger("silent").log });
    const last = await probe.lastSeq().finally(() => probe.close());
    await waitFor(() => gateway.stats().lastSeq >= last, "gateway caught up", 2000);
    for (const c of clients.values()) await c.sync();
  }

  beforeAll(async () => {
    nats = await startNats();
    const dir = mkdtempSync(join(tmpdir(), "ctib-multipbx-"));
    const base = { users: USERS, trunks: ["PJSIP/carrier"], mode: "cluster", server: { host: "127.0.0.1", port: 0 }, auth: { jwtSecret: JWT_SECRET }, log: { level: "info" } };
    for (const p of PBXS) {
      pbx[p] = await startFakeAmi({ fullyBooted: true });
      pbx[p].setList("QueueStatus", []).setList("DeviceStateList", []);
      const { log, lines } = memoryLogger("info");
      const config = configSchema.parse({
        ...base,
        ami: { mode: "live", host: "127.0.0.1", port: pbx[p].port, secret: "s3cret", reconnect: { minDelayMs: 20, maxDelayMs: 50 }, agentStateSettleMs: 0, agentListing: { bootWaitMs: 2_000, attempts: 3, minDelayMs: 20, maxDelayMs: 50 } },
        cluster: { role: "pbx", pbxId: p, workerId: `w-${p}`, nats: { servers: [nats.url] } },
        store: { path: join(dir, `${p}.db`) },
      });
      workers[p] = createPbxWorker({ config, log, createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, ...hooks }) });
      await workers[p].start();
      // Agent states only after the first listing, which would reset them.
      await waitFor(() => lines.some((l) => l.msg === "agent state resynced"), `${p}: agent state resynced`, 3000);
    }
    const gatewayConfig = configSchema.parse({ ...base, cluster: { role: "gateway", nats: { servers: [nats.url] } }, store: { path: join(dir, "gateway.db") } });
    gateway = createGateway({ config: gatewayConfig, log: memoryLogger("warn").log, version: "test" });
    port = (await gateway.start()).port;
    for (const u of USERS) {
      const c = await rig.connect(port, u.id);
      await c.ready();
      clients.set(u.id, c);
    }
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const p of PBXS) await workers[p]?.stop();
    for (const p of PBXS) await pbx[p]?.close();
    await nats?.kill();
    await rig.close();
  });

  it("hello names the devices as configured; each worker maps only its own PBX's devices", async () => {
    // In the directory's order (by name): a dial without a device uses the first, berlin's.
    expect(clients.get("bob")!.messages[0].user.devices).toEqual(["berlin:PJSIP/1002", "hamburg:PJSIP/1002"]);
    const users = (p: Pbx) => Object.fromEntries(workers[p].daemon!.directory.listUsers().map((u) => [u.id, u.devices]));
    expect(users("hamburg")).toEqual({ alice: ["PJSIP/1001"], xavier: [], bob: ["PJSIP/1002"], carol: ["PJSIP/1003"], sam: [] });
    expect(users("berlin")).toEqual({ alice: [], xavier: ["PJSIP/1001"], bob: ["PJSIP/1002"], carol: ["PJSIP/1003"], sam: [] });
  });

  it("agent states: PJSIP/1001 is alice's in hamburg and xavier's in berlin; bob's state is merged over both PBXs, live, on connect and on resume", async () => {
    const bob = clients.get("bob")!;
    const mark = bob.messages.length;
    const device = (p: Pbx, dev: string, state: string) => pbx[p].broadcast([["Event", "DeviceStateChange"], ["Device", dev], ["State", state]]);
    device("hamburg", "PJSIP/1001", "RINGING");
    device("berlin", "PJSIP/1001", "INUSE");
    device("hamburg", "PJSIP/1002", "INUSE");
    await caughtUp();
    const member: Fields = [
      ["Event", "QueueMemberStatus"],
      ["Queue", "support"],
      ["MemberName", "Bob"],
      ["Interface", "PJSIP/1002"],
      ["StateInterface", "PJSIP/1002"],
      ["Status", "1"],
      ["Paused", "0"],
      ["PausedReason", ""],
      ["InCall", "0"],
    ];
    pbx.berlin.broadcast(member);
    device("berlin", "PJSIP/1002", "NOT_INUSE");
    await caughtUp();

    const states = (u: string, from = 0) => clients.get(u)!.messages.slice(from).filter((m) => m.type === "agent.state" && m.agent === u).map((m) => m.state);
    expect(states("alice")).toEqual([{ pbxId: "hamburg", deviceState: "ringing", activity: "ringing", queues: [], wrapUp: null }]);
    expect(states("xavier")).toEqual([{ pbxId: "berlin", deviceState: "inuse", activity: "talking", queues: [], wrapUp: null }]);
    const merged = { deviceState: "inuse", activity: "talking", queues: [{ queue: "support", loggedIn: true, paused: false, reason: null, pbxId: "berlin" }], wrapUp: null };
    // Berlin's idle phone never replaces hamburg's busy one (before: the last PBX to speak won).
    const bobStates = states("bob", mark);
    expect(bobStates.at(-1)).toEqual(merged);
    expect(bobStates.every((s) => s.deviceState === "inuse")).toBe(true);
    // The supervisor sees the same merge, and nothing of bob's from berlin alone.
    expect(clients.get("sam")!.messages.filter((m) => m.type === "agent.state" && m.agent === "bob").at(-1).state).toEqual(merged);

    // A new tab: the merge after its snapshot; and resume from before these changes replays up to it.
    const tab = await rig.connect(port, "bob");
    await tab.ready();
    await tab.sync();
    expect(tab.messages.filter((m) => m.type === "agent.state").map((m) => m.state)).toEqual([merged]);
    const afterSeq = bob.messages[mark - 1].seq;
    const before = tab.messages.length;
    tab.send({ type: "resume", afterSeq });
    await tab.sync();
    const replayed = tab.messages.slice(before).filter((m) => m.type === "agent.state");
    expect(replayed.map((m) => m.seq)).toEqual(bob.messages.slice(mark).filter((m) => m.type === "agent.state").map((m) => m.seq));
    expect(replayed.at(-1).state).toEqual(merged);
    tab.ws.terminate();
  });

  it("the same trace set on both PBXs at once: each user gets exactly their own PBX's frames, with its pbxId", async () => {
    const marks = new Map([...clients].map(([u, c]) => [u, c.messages.length]));
    // hamburg: a ring group (1001, 1002, 1003; 1002 answers); berlin: a queue call (1001 answers, 1002 rung).
    await Promise.all([
      pbx.hamburg.replay(stripTracePreamble(traceBytes("06-ringgroup-answered")), { raw: true }),
      pbx.berlin.replay(stripTracePreamble(traceBytes("07-queue-support-answered")), { raw: true }),
    ]);
    await caughtUp();
    /** A user's call frames grouped by PBX, each group's frames of one call. */
    const byPbx = (u: string) => {
      const out: Record<string, string[]> = {};
      const calls: Record<string, Set<string>> = {};
      for (const m of clients.get(u)!.messages.slice(marks.get(u)).filter((x) => x.call)) {
        (out[m.call.pbxId] ??= []).push(frame(m));
        (calls[m.call.pbxId] ??= new Set()).add(m.call.callId);
        // Nobody's leg crosses over: the hamburg call never names xavier, the berlin call never alice.
        const legUsers = m.call.legs.map((l: any) => l.userId);
        expect(legUsers).not.toContain(m.call.pbxId === "hamburg" ? "xavier" : "alice");
      }
      for (const set of Object.values(calls)) expect(set.size).toBe(1);
      return out;
    };
    const rg = recorded("06-ringgroup-answered");
    const q = recorded("07-queue-support-answered");
    expect(byPbx("alice")).toEqual({ hamburg: rg.alice });
    expect(byPbx("xavier")).toEqual({ berlin: q.alice });
    expect(byPbx("bob")).toEqual({ hamburg: rg.bob, berlin: q.bob });
    expect(byPbx("carol")).toEqual({ hamburg: rg.carol });
    expect(byPbx("sam")).toEqual({ hamburg: rg.sam, berlin: q.sam });
    // The legs of PJSIP/1001 belong to the right user on each PBX.
    const leg1001 = (u: string) => clients.get(u)!.messages.slice(marks.get(u)).find((m) => m.type === "call.ended").call.legs.find((l: any) => l.device === "PJSIP/1001");
    expect(leg1001("alice")).toMatchObject({ userId: "alice" });
    expect(leg1001("xavier")).toMatchObject({ userId: "xavier" });
    // GET /api/queues on the gateway: each PBX's newest board, as its queue.state frames said.
    const token = await rig.token("sam");
    const board = await fetch(`http://127.0.0.1:${port}/api/queues`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
    expect(board).toMatchObject({ timezone: "UTC", todayFrom: expect.stringMatching(/T00:00:00.000Z$/) });
    const lastState = new Map<string, any>();
    for (const m of clients.get("sam")!.messages.filter((x) => x.type === "queue.state")) lastState.set(`${m.queue.pbxId} ${m.queue.queue}`, m.queue);
    expect(lastState.size).toBeGreaterThan(0);
    expect(board.queues).toEqual([...lastState.values()].sort((a, b) => (a.queue === b.queue ? (a.pbxId < b.pbxId ? -1 : 1) : a.queue < b.queue ? -1 : 1)));
    expect(board.queues.some((x: any) => x.queue === "support" && x.pbxId === "berlin")).toBe(true);
  });

  it("click-to-dial goes to the PBX of the device it names (else the user's first device); the other PBX receives no Originate", async () => {
    const originates = (p: Pbx) => pbx[p].received.filter((r) => r.action.get("Action") === "Originate").map((r) => r.action.get("Channel"));
    for (const p of PBXS) {
      pbx[p].handle("Originate", (msg, conn) => {
        setImmediate(() =>
          conn.send([
            ["Event", "OriginateResponse"],
            ["ActionID", msg.get("ActionID")!],
            ["Response", "Success"],
            ["Channel", `${msg.get("Channel")}-000000aa`],
            ["Context", "from-internal"],
            ["Exten", msg.get("Exten")!],
            ["Reason", "4"],
            ["Uniqueid", msg.get("ChannelId")!],
          ]),
        );
        return [["Response", "Success"], ["Message", "Originate successfully queued"]];
      });
    }
    const bob = clients.get("bob")!;
    const alice = clients.get("alice")!;
    // Bob is last seen on hamburg (his newest agent state); his first device is berlin's.
    pbx.hamburg.broadcast([["Event", "DeviceStateChange"], ["Device", "PJSIP/1002"], ["State", "UNAVAILABLE"]]);
    await caughtUp();
    bob.send({ type: "command", id: "d1", action: "dial", args: { to: "0301234567" } });
    expect(await bob.nextOf("command.result", 5000)).toMatchObject({ id: "d1", ok: true });
    expect(originates("berlin")).toEqual(["PJSIP/1002"]);
    expect(originates("hamburg")).toEqual([]);
    bob.send({ type: "command", id: "d2", action: "dial", args: { to: "0301234567", device: "hamburg:PJSIP/1002" } });
    expect(await bob.nextOf("command.result", 5000)).toMatchObject({ id: "d2", ok: true });
    expect(originates("hamburg")).toEqual(["PJSIP/1002"]);
    alice.send({ type: "command", id: "d3", action: "dial", args: { to: "0301234567" } });
    const dialing = await alice.nextOf("call.dialing", 5000);
    expect(dialing.call).toMatchObject({ pbxId: "hamburg", legs: [expect.objectContaining({ userId: "alice", device: "PJSIP/1001" })] });
    expect(await alice.nextOf("command.result", 5000)).toMatchObject({ id: "d3", ok: true });
    expect(originates("hamburg")).toEqual(["PJSIP/1002", "PJSIP/1001"]);
    expect(originates("berlin")).toEqual(["PJSIP/1002"]);
    // Xavier names alice's hamburg phone: routed to hamburg, refused there (not his), nothing sent.
    const xavier = clients.get("xavier")!;
    xavier.send({ type: "command", id: "d4", action: "dial", args: { to: "0301234567", device: "hamburg:PJSIP/1001" } });
    expect(await xavier.nextOf("command.result", 5000)).toMatchObject({ id: "d4", ok: false, error: { code: "forbidden" } });
    expect(originates("hamburg")).toEqual(["PJSIP/1002", "PJSIP/1001"]);
  });
});
