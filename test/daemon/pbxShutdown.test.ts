/**
 * What Asterisk 22 does on `core restart now` and `manager reload` mid-call, as recorded live
 * (traces 44 and 45, `ctibridge capture`), through the daemon and the fake PBX: a clean
 * restart hangs the call up before the link drops (the call ends normally, not `unknown_end`),
 * and a manager reload leaves the session and the call alone. Live: test/live/faults.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

const frames = (msgs: any[]) => msgs.filter((m) => m.type !== "pong" && m.type !== "agent.state").map((m) => m.type);

describe("PBX shutdown and manager reload, recorded live", () => {
  it("core restart now mid-call (trace 45): the call ends by the PBX's hangup before the Shutdown, one pbx.disconnected, nothing more for bob", async () => {
    const { pbx, daemon, connect, resyncs } = await rig.start({ users: E2E_USERS });
    const bob = connect("bob");
    const sam = connect("sam");
    await bob.ready();
    await sam.ready();
    await pbx.replay(stripTracePreamble(traceBytes("45-core-restart-now-mid-call")), { raw: true });
    const stored = await waitFor(() => daemon.callLog.list().find((c) => c.state === "ended"), "call ended by the trace");
    // Asterisk closes the session after `Shutdown: Cleanly`; it is back at once, with no channel.
    const n = resyncs();
    pbx.dropConnections();
    await waitFor(() => resyncs() > n && daemon.ami?.isConnected, "resync after the restart");
    await pbx.replay(stripTracePreamble(traceBytes("45-core-restart-now-mid-call-after-restart")), { raw: true });
    await bob.sync();
    await sam.sync();
    expect(stored).toMatchObject({ direction: "inbound", from: { raw: "+4930111045" }, outcome: "answered", endReason: "hangup", answeredBy: { userId: "bob" } });
    expect(stored.times.endEstimated ?? false).toBe(false);
    expect(stored.legs.map((l) => [l.userId, l.outcome])).toEqual([["bob", "answered_by_me"]]);
    expect(daemon.callLog.list()).toHaveLength(1);
    expect(frames(bob.messages)).toEqual(["hello", "snapshot", "call.ringing", "call.answered", "call.ended", "pbx.disconnected", "pbx.resynced"]);
    expect(frames(sam.messages).filter((t) => t.startsWith("pbx."))).toEqual(["pbx.disconnected", "pbx.resynced"]);
  });

  it("manager reload mid-call (trace 44): the session is kept, the call is stored as it happened", async () => {
    const { pbx, daemon, connect, listings } = await rig.start();
    const bob = connect("bob");
    await bob.ready();
    const n = listings();
    await pbx.replay(stripTracePreamble(traceBytes("44-manager-reload-mid-call")), { raw: true });
    const stored = await waitFor(() => daemon.callLog.list().find((c) => c.state === "ended"), "call ended");
    await bob.sync();
    expect(stored).toMatchObject({ direction: "inbound", from: { raw: "+4930111044" }, outcome: "answered", endReason: "hangup", answeredBy: { userId: "bob" } });
    expect(frames(bob.messages)).toEqual(["hello", "snapshot", "call.ringing", "call.answered", "call.ended"]);
    expect(listings()).toBe(n);
    expect(pbx.connections).toHaveLength(1);
  });
});
