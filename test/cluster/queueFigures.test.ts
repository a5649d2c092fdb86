/**
 * A queue board's `today` across a failover, through real processes (nats-server, a fake PBX,
 * two PBX workers of the compiled CLI, a gateway): the active worker counts the support queue's
 * calls (trace 07 answered, then trace 08 with its caller waiting) and gets SIGKILL; the standby
 * takes over with the day's figures from KV, ends the waiting call (abandoned) and counts the
 * next call (07 again). Its `queue.state` and the gateway's GET /api/queues have every call of
 * the day, each once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterRig } from "../helpers/clusterRig.js";
import { startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";
import { waitFor } from "../helpers/daemon.js";
import { listingAfter } from "../helpers/listing.js";
import { traceBytes, traceHalves } from "../helpers/traces.js";
import { natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import type { TestClient } from "../helpers/cti.js";

const have = natsAvailable();

const trace = (name: string) => stripTracePreamble(traceBytes(name));

/** Trace 08 cut once both members ring (the caller waits in `support`), and the rest. */
const trace08Halves = () => traceHalves("08-queue-support-abandoned", (msgs) => msgs.flatMap((m, i) => (m.startsWith("Event: DialBegin") ? [i] : []))[1]! + 1);

const ended = (c: TestClient) => c.messages.filter((m) => m.type === "call.ended");
const lastToday = (c: TestClient) => c.messages.filter((m) => m.type === "queue.state" && m.queue.queue === "support").at(-1)?.queue.today;

describe.skipIf(!have)("cluster: a queue board's today across a kill -9 of the active worker", () => {
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

  it("the new worker's queue.state and the gateway's GET /api/queues keep the day's counts and add the next calls", async () => {
    const worker = (id: string) => rig.workerYaml({ nats: nats.url, pbxId: "berlin", workerId: id, amiPort: pbx.port, leaseTtlMs: 1000 });
    const a = rig.start("worker-a", worker("A"));
    await rig.ready(a);
    await waitFor(() => a.has("pbx resynced"), "worker A resynced", 1000);
    const b = rig.start("worker-b", worker("B"));
    await rig.ready(b);
    const g = rig.start("gw-1", rig.gatewayYaml({ nats: nats.url, name: "gw-1" }));
    await rig.ready(g);
    const sam = await rig.connect(g.port()!, "sam");
    await sam.nextOf("snapshot", 5000);

    // Worker A: trace 07 answered, then 08's caller waits.
    await pbx.replay(trace("07-queue-support-answered"), { raw: true });
    await waitFor(() => lastToday(sam)?.answered === 1, "07 counted by A", 2000);
    const [head, rest] = trace08Halves();
    await pbx.replay(head, { raw: true });
    await waitFor(() => sam.messages.some((m) => m.type === "queue.state" && m.queue.waiting === 1), "08 waiting", 2000);
    expect(lastToday(sam)).toMatchObject({ answered: 1, abandoned: 0 });

    await rig.kill9(a);
    pbx.setList("CoreShowChannels", listingAfter(head));
    await waitFor(() => sam.messages.some((m) => m.type === "pbx.failover"), "pbx.failover", 3000);
    expect(b.has("taking over the PBX")).toBe(true);

    // Worker B: 08's caller hangs up (abandoned), then another 07 call is answered.
    await pbx.replay(rest, { raw: true });
    await waitFor(() => ended(sam).length === 2, "08 ended", 2000);
    await waitFor(() => lastToday(sam)?.abandoned === 1, "08 counted by B", 2000);
    expect(lastToday(sam)).toMatchObject({ answered: 1, abandoned: 1 });
    await pbx.replay(trace("07-queue-support-answered"), { raw: true });
    await waitFor(() => ended(sam).length === 3, "the second 07 ended", 2000);
    await waitFor(() => lastToday(sam)?.answered === 2, "the second 07 counted by B", 2000);
    // Whatever comes late has come (a call counted twice would show right behind).
    await new Promise((r) => setTimeout(r, 300));

    const calls = ended(sam).map((m) => m.call);
    expect(calls.map((c) => [c.queue, c.outcome])).toEqual([
      ["support", "answered"],
      ["support", "abandoned"],
      ["support", "answered"],
    ]);
    const waits = calls.filter((c) => c.outcome === "answered").map((c) => c.times.waitSeconds as number);
    const today = { answered: 2, abandoned: 1, avgWaitSeconds: Math.round(((waits[0]! + waits[1]!) / 2) * 10) / 10 };
    expect(lastToday(sam)).toEqual(today);

    const token = await rig.token("sam");
    const board = await fetch(`http://127.0.0.1:${g.port()}/api/queues`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
    expect(board.queues.filter((q: { queue: string }) => q.queue === "support")).toMatchObject([{ pbxId: "berlin", waiting: 0, today }]);
  });
});
