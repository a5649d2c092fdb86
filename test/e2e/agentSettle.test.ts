/**
 * One agent.state per change when Asterisk splits a change over two writes. Live (lab PBX,
 * Asterisk 22.10.1, a pjsua phone registering again): `DeviceStateChange` NOT_INUSE and
 * `QueueMemberStatus` Status 1 came in separate reads about a millisecond apart (one run in
 * three), and alice's supervisor got "not_inuse but logged out" before "not_inuse, logged in".
 * Agent changes now settle for `ami.agentStateSettleMs` before they go out.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor } from "../helpers/daemon.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
const pbxs: AmiServer[] = [];
afterEach(async () => {
  await rig.close();
  for (const p of pbxs.splice(0)) await p.close();
});

/** Trace 07's DeviceStateChange and QueueMemberStatus of alice, as two messages with other states. */
function aliceMessages(device: string, status: string): [Buffer, Buffer] {
  const text = stripTracePreamble(traceBytes("07-queue-support-answered")).toString("latin1");
  const at = text.indexOf("Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1001\r\nState: RINGING");
  const mid = text.indexOf("Event: QueueMemberStatus", at);
  const end = text.indexOf("\r\n\r\n", mid) + 4;
  return [Buffer.from(text.slice(at, mid).replace("State: RINGING", `State: ${device}`), "latin1"), Buffer.from(text.slice(mid, end).replace("Status: 6", `Status: ${status}`), "latin1")];
}

const support = { queue: "support", loggedIn: true, paused: false, reason: null };

describe("agent state split over two AMI writes", () => {
  it("a phone registering again: DeviceStateChange and QueueMemberStatus in separate reads give one agent.state", async () => {
    const pbx = await startFakeAmi({ fullyBooted: true });
    pbxs.push(pbx);
    pbx.setList("QueueStatus", []).setList("DeviceStateList", []);
    // A window no loopback read gap comes near; the default (100 ms) is for real PBXs.
    const d = await rig.start({ users: E2E_USERS, pbx, ami: { agentStateSettleMs: 2000 } });
    await waitFor(() => d.logs.some((l) => l.msg === "agent state resynced"), "agent resync");
    const sam = d.connect("sam");
    await sam.ready();
    const [down1, down2] = aliceMessages("UNAVAILABLE", "5");
    await d.replay(Buffer.concat([down1, down2]));
    await waitFor(() => sam.messages.some((m) => m.type === "agent.state"), "alice unavailable", 500);
    const [up1, up2] = aliceMessages("NOT_INUSE", "1");
    // Each replay ends with a Ping round trip: the daemon has read the first message before the second is written.
    await d.replay(up1);
    await d.replay(up2);
    await waitFor(() => sam.messages.filter((m) => m.type === "agent.state").length >= 2, "alice back", 500);
    await sam.sync();
    expect(sam.messages.filter((m) => m.type === "agent.state").map((m) => [m.agent, m.state])).toEqual([
      ["alice", { deviceState: "unavailable", queues: [{ ...support, loggedIn: false }], activity: "offline", wrapUp: null }],
      ["alice", { deviceState: "not_inuse", queues: [support], activity: "idle", wrapUp: null }],
    ]);
  });
});
