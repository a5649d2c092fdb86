/**
 * The standalone engine as a cluster PBX worker runs it (roles/pbxWorker.ts builds it with
 * `cluster.role: pbx`): its own WebSocket server has no clients, the gateways do. What it puts
 * on the bus must not depend on who is connected to it. Through NATS and a gateway:
 * test/cluster/sameFrames.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { BusEvent } from "../../src/bus/index.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

describe("the engine of a cluster PBX worker", () => {
  it("publishes the queue board with no supervisor connected to it (the gateways' supervisors watch)", async () => {
    const d = await rig.start({ users: E2E_USERS, cluster: { role: "pbx", pbxId: "lab", nats: { servers: ["nats://127.0.0.1:4222"] } } });
    const seen: BusEvent[] = [];
    d.daemon.bus.subscribe((ev) => void seen.push(ev));
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    const board = await waitFor(() => seen.find((e) => e.kind === "queue"), "a queue board on the bus");
    expect(board).toMatchObject({ kind: "queue", queue: { queue: "support" } });
  });

  it("standalone: no queue board is built while no supervisor watches", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const seen: BusEvent[] = [];
    d.daemon.bus.subscribe((ev) => void seen.push(ev));
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    // The board's first flush is due at once (a 0 ms timer set during the replay): a later, longer timer runs after it.
    await new Promise((r) => setTimeout(r, 5));
    expect(seen.filter((e) => e.kind === "queue")).toEqual([]);
  });
});
