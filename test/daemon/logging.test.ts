/**
 * What an operator reads (issue 9): `debug` shows each AMI event acted on with its callId,
 * every line about a call carries the callId, and each command is logged exactly once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor } from "../helpers/daemon.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

describe("daemon log lines", () => {
  it("--log-level debug shows each AMI event acted on, with the callId", async () => {
    const d = await rig.start({ logLevel: "debug" });
    const [first, second] = trace01Halves();
    await d.replay(first);
    await d.replay(second);
    const call = await waitFor(() => d.daemon.callLog.list({ limit: 5 }).find((c) => c.state === "ended"), "the call to end");
    const events = d.logs.filter((l) => l.msg === "ami event");
    expect(events.length).toBeGreaterThan(10);
    expect(new Set(events.map((l) => l.callId))).toEqual(new Set([call.callId]));
    expect(events.map((l) => l.event)).toEqual(expect.arrayContaining(["channelNew", "dialBegin", "bridgeEnter", "hangup"]));
    expect(events.every((l) => typeof l.channelId === "string" && l.level === 20)).toBe(true);
  });

  it("logs each command once, with the callId, the user, the connection and the result", async () => {
    const d = await rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 } });
    await d.replay(trace01Halves()[0]);
    const call = await waitFor(() => d.daemon.tracker.activeCalls()[0], "a connected call");
    const alice = d.connect("alice");
    await alice.ready();
    alice.send({ type: "command", id: "h1", action: "hangup", args: { callId: call.callId } });
    const result = await alice.nextOf("command.result");
    expect(result).toMatchObject({ id: "h1" });
    const lines = d.logs.filter((l) => /command/.test(String(l.msg)));
    expect(lines).toEqual([
      expect.objectContaining({
        msg: "command handled",
        level: 30,
        userId: "alice",
        connectionId: expect.any(String),
        cmdId: "h1",
        action: "hangup",
        callId: call.callId,
        ok: result.ok,
      }),
    ]);
  });

  it("a dial's command line carries the callId of the call it placed", async () => {
    const d = await rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 } });
    const alice = d.connect("alice");
    await alice.ready();
    alice.send({ type: "command", id: "d1", action: "dial", args: { to: "0301234567" } });
    const dialing = await alice.nextOf("call.dialing");
    await alice.nextOf("command.result", 20_000);
    const lines = d.logs.filter((l) => l.msg === "command handled");
    expect(lines).toEqual([expect.objectContaining({ cmdId: "d1", action: "dial", callId: dialing.call.callId })]);
  });
});
