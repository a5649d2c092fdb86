/** The demo's PBX simulator drives the real daemon: recorded scenarios come out as calls, and an Originate plays a click-to-dial. */
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { createDaemon, type Daemon } from "../../src/roles/standalone.js";
import { memoryLogger } from "../helpers/fakeAmiServer.js";
import { LAB_USERS } from "../helpers/labConfig.js";
import { waitFor } from "../helpers/daemon.js";

let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

function simulatorDaemon() {
  const config = configSchema.parse({
    ami: { mode: "simulator", simulator: { speed: 200, loop: true, gapMs: 0 } },
    users: LAB_USERS,
    trunks: ["PJSIP/carrier"],
    store: { path: ":memory:" },
    server: { port: 0 },
  });
  daemon = createDaemon({ config, log: memoryLogger("warn").log });
  return daemon;
}

describe("PbxSimulator", () => {
  it("replays the recorded scenarios as calls with fresh ids", async () => {
    const d = simulatorDaemon();
    await d.start();
    const calls = await waitFor(() => {
      const ended = d.callLog.list({ limit: 50 }).filter((c) => c.state === "ended");
      return ended.length >= 4 && ended;
    }, "four ended calls", 2000);
    const first = calls.at(-1)!;
    expect(first).toMatchObject({ direction: "inbound", from: { raw: "+4930123456" }, outcome: "answered" });
    expect(new Set(calls.map((c) => c.callId)).size).toBe(calls.length);
  });

  it("answers an Originate by playing the recorded click-to-dial for that device, number and ChannelId", async () => {
    const d = simulatorDaemon();
    await d.start();
    await waitFor(() => d.ami?.isConnected, "AMI link");
    const call = d.tracker.beginClickToDial({ userId: "bob", device: "PJSIP/1002", to: "0301234567", channelId: "ctib-test.1", at: Date.now() });
    await d.ami!.action("Originate", [
      ["Channel", "PJSIP/1002"],
      ["Context", "from-internal"],
      ["Exten", "0301234567"],
      ["Priority", 1],
      ["Async", "true"],
      ["ChannelId", "ctib-test.1"],
    ]);
    const ended = await waitFor(() => {
      const c = d.callLog.list({ limit: 200 }).find((r) => r.callId === call.callId && r.state === "ended");
      return c;
    }, "the click-to-dial to end", 3000);
    expect(ended).toMatchObject({ direction: "outbound", to: { raw: "0301234567" }, outcome: "answered" });
    expect(ended.legs).toEqual([expect.objectContaining({ userId: "bob", device: "PJSIP/1002", outcome: "placed" })]);
  });
});
