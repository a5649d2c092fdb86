/**
 * The cluster through real processes: one nats-server, a fake PBX, two PBX workers for it (the
 * compiled CLI, `ctibridge start` with `cluster.role: pbx`) and a gateway. A ring group call
 * (trace 06) rings three phones when the active worker gets SIGKILL; the standby takes the
 * lease after its TTL, lists the PBX's channels and goes on. Every client sees `pbx.failover`,
 * then the call answered and ended under the callId and times it had before the kill, each
 * fact once, with growing seqs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterRig } from "../helpers/clusterRig.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { waitFor } from "../helpers/daemon.js";
import { listingAfter } from "../helpers/listing.js";
import { beforeFirstAnswer, traceHalves } from "../helpers/traces.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import type { TestClient } from "../helpers/cti.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

/** Trace 06 (ring group 1001/1002/1003) cut just before bob answers: all three phones ring. */
const trace06Halves = () => traceHalves("06-ringgroup-answered", beforeFirstAnswer);

// queue.state is not journaled (a supervisor reads GET /api/queues after a resume): no part of a seq comparison.
const live = (c: TestClient) => c.messages.filter((m) => m.type !== "hello" && m.type !== "snapshot" && m.type !== "agent.state" && m.type !== "pong" && m.type !== "queue.state");

describe.skipIf(!have)("cluster: kill -9 the active PBX worker mid-call", () => {
  let nats: NatsServer;
  let pbx: AmiServer;
  const rig = new ClusterRig();
  beforeAll(async () => {
    nats = await startNats();
    pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
    rig.build();
  }, 120_000);
  afterAll(async () => {
    await rig.close();
    await pbx?.close();
    await nats?.kill();
  });

  it("the standby takes over: pbx.failover, the same callId and times, no fact lost or doubled", async () => {
    const [head, rest] = trace06Halves();
    const worker = (id: string) => rig.workerYaml({ nats: nats.url, pbxId: "berlin", workerId: id, amiPort: pbx.port, leaseTtlMs: 1000 });
    const a = rig.start("worker-a", worker("A"));
    await rig.ready(a);
    await waitFor(() => a.has("pbx resynced"), "worker A resynced", 1000);
    const b = rig.start("worker-b", worker("B"));
    await rig.ready(b);
    expect(b.has("standing by (another worker holds the lease)")).toBe(true);
    const g = rig.start("gw-1", rig.gatewayYaml({ nats: nats.url, name: "gw-1" }));
    await rig.ready(g);
    const port = g.port()!;
    const users = ["alice", "bob", "carol", "sam"];
    const clients = new Map<string, TestClient>();
    for (const u of users) {
      const c = await rig.connect(port, u);
      await c.nextOf("snapshot", 5000);
      clients.set(u, c);
    }

    await pbx.replay(head, { raw: true });
    for (const u of users) await waitFor(() => live(clients.get(u)!).some((m) => m.type === "call.ringing"), `${u} ringing`, 1000);
    const ringing = live(clients.get("sam")!).find((m) => m.type === "call.ringing");
    const callId: string = ringing.call.callId;
    expect(ringing.call.pbxId).toBe("berlin");

    await rig.kill9(a);
    pbx.setList("CoreShowChannels", listingAfter(head));
    for (const u of users) await waitFor(() => live(clients.get(u)!).some((m) => m.type === "pbx.failover"), `${u} pbx.failover`, 2000);
    expect(b.has("taking over the PBX")).toBe(true);
    await pbx.replay(rest, { raw: true });
    for (const u of users) await waitFor(() => live(clients.get(u)!).some((m) => m.type === "call.ended"), `${u} call.ended`, 1000);
    // Whatever comes late has come (a duplicate would arrive right behind).
    await new Promise((r) => setTimeout(r, 300));

    for (const u of users) {
      const frames = live(clients.get(u)!);
      const calls = frames.filter((m) => m.type.startsWith("call."));
      expect(new Set(calls.map((m) => m.call.callId)), u).toEqual(new Set([callId]));
      const seqs = frames.map((m) => m.seq);
      expect(seqs, `${u} seqs grow`).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size, `${u} no frame twice`).toBe(seqs.length);
      expect(calls.filter((m) => m.type === "call.ringing").length, `${u} one ringing`).toBe(1);
      expect(calls.filter((m) => m.type === "call.ended").length, `${u} one ended`).toBe(1);
      expect(frames.filter((m) => m.type === "pbx.failover"), u).toMatchObject([{ pbxId: "berlin" }]);
      const ended = calls.find((m) => m.type === "call.ended");
      expect(ended.call.times.started).toBe(ringing.call.times.started);
      expect(ended.call.times.ringing).toBe(ringing.call.times.ringing);
    }
    const samEnded = live(clients.get("sam")!).find((m) => m.type === "call.ended");
    expect(samEnded.call.answeredBy).toMatchObject({ userId: "bob" });
    expect(samEnded.call.legs.map((l: { userId: string; outcome: string }) => [l.userId, l.outcome]).sort()).toEqual([
      ["alice", "answered_elsewhere"],
      ["bob", "answered_by_me"],
      ["carol", "answered_elsewhere"],
    ]);
  });

  it("kill -9 a gateway with 200 clients: each resumes on the other one with no frame lost or doubled (seq continuity)", async () => {
    const pbx2 = await startFakeAmi({ fullyBooted: true });
    pbx2.setList("QueueStatus", []).setList("DeviceStateList", []);
    try {
      const [head, rest] = trace06Halves();
      const w = rig.start("worker-h", rig.workerYaml({ nats: nats.url, pbxId: "hamburg", workerId: "H1", amiPort: pbx2.port, leaseTtlMs: 1000 }));
      await rig.ready(w);
      await waitFor(() => w.has("pbx resynced"), "worker H1 resynced", 1000);
      const g1 = rig.start("gw-a", rig.gatewayYaml({ nats: nats.url, name: "gw-a" }));
      const g2 = rig.start("gw-b", rig.gatewayYaml({ nats: nats.url, name: "gw-b" }));
      await rig.ready(g1);
      await rig.ready(g2);
      // A few hundred clients: every user's tabs on gw-a, one control client per user on gw-b.
      const users = ["alice", "bob", "carol", "sam"];
      const TABS = 50;
      const onG1: [string, TestClient][] = [];
      const control = new Map<string, TestClient>();
      for (const u of users) {
        for (let i = 0; i < TABS; i++) onG1.push([u, await rig.connect(g1.port()!, u)]);
        control.set(u, await rig.connect(g2.port()!, u));
      }
      for (const c of [...onG1.map(([, c]) => c), ...control.values()]) await c.nextOf("snapshot", 5000);
      await pbx2.replay(head, { raw: true });
      for (const [u, c] of onG1) await waitFor(() => live(c).some((m) => m.type === "call.ringing"), `${u} ringing on gw-a`, 1000);
      await rig.kill9(g1);
      // Meanwhile the call goes on: what happens now reaches no client of gw-a.
      await pbx2.replay(rest, { raw: true });
      for (const u of users) await waitFor(() => live(control.get(u)!).some((m) => m.type === "call.ended"), `${u} ended (control)`, 1000);
      const want = new Map(users.map((u) => [u, live(control.get(u)!).filter((m) => m.type.startsWith("call.") || m.type.startsWith("pbx.")).map((m) => `${m.seq} ${m.type}`)]));
      for (const [u, old] of onG1) {
        const before = live(old);
        const afterSeq = Math.max(...before.map((m) => m.seq));
        const again = await rig.connect(g2.port()!, u);
        await again.nextOf("snapshot", 5000);
        again.send({ type: "resume", afterSeq });
        again.send({ type: "ping" });
        await again.nextOf("pong", 5000);
        const resumed = live(again).filter((m) => m.seq > afterSeq);
        expect(resumed.some((m) => m.type === "resync_required"), u).toBe(false);
        expect(resumed.some((m) => m.type === "call.ended"), `${u} missed the end on gw-a, got it by resume`).toBe(true);
        expect([...before, ...resumed].map((m) => `${m.seq} ${m.type}`), u).toEqual(want.get(u));
        again.ws.terminate();
      }
    } finally {
      await pbx2.close();
    }
  });

  it("a standby started after the dead worker's lease expired, with no call open, still reports pbx.failover", async () => {
    const pbx3 = await startFakeAmi({ fullyBooted: true });
    pbx3.setList("QueueStatus", []).setList("DeviceStateList", []);
    try {
      const worker = (id: string) => rig.workerYaml({ nats: nats.url, pbxId: "munich", workerId: id, amiPort: pbx3.port, leaseTtlMs: 1000 });
      const m1 = rig.start("worker-m1", worker("M1"));
      await rig.ready(m1);
      await waitFor(() => m1.has("pbx resynced"), "worker M1 resynced", 1000);
      const g = rig.start("gw-m", rig.gatewayYaml({ nats: nats.url, name: "gw-m" }));
      await rig.ready(g);
      const sam = await rig.connect(g.port()!, "sam");
      await sam.nextOf("snapshot", 5000);
      await rig.kill9(m1);
      // Longer than the lease: the key is gone before the next worker even starts.
      await new Promise((r) => setTimeout(r, 1500));
      const m2 = rig.start("worker-m2", worker("M2"));
      await rig.ready(m2);
      await waitFor(() => live(sam).some((m) => m.type === "pbx.failover"), "pbx.failover for munich", 1000);
      expect(live(sam).filter((m) => m.type.startsWith("pbx."))).toMatchObject([{ type: "pbx.failover", pbxId: "munich", calls: 0 }]);
    } finally {
      await pbx3.close();
    }
  });
});
