/**
 * The demo as a new user meets it (issue 9): the daemon starts against the simulator without a
 * warning, agent state comes from the simulator's QueueStatus/DeviceStateList, and hang up,
 * blind transfer and hold on a demo call work through the real command path.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createDaemon, type Daemon } from "../../src/roles/standalone.js";
import { demoConfig } from "../../src/cli/demo.js";
import { createApiToken } from "../../src/publish/apiTokens.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { Directory } from "../../src/directory/users.js";
import { TestClient } from "../helpers/cti.js";
import { memoryLogger } from "../helpers/fakeAmiServer.js";
import { waitFor } from "../helpers/daemon.js";

let daemon: Daemon | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await daemon?.stop();
  daemon = undefined;
});

/** The demo's daemon (its config, users, hold) on port 0 at `speed`; lines at info and up. */
async function demo(speed: number) {
  const config = { ...demoConfig({ port: 0, speed, logLevel: "info", dbPath: ":memory:" }) };
  const { log, lines } = memoryLogger("info");
  const d = createDaemon({ config, log });
  daemon = d;
  new Directory({ db: d.db }).applyConfig(config.users);
  const { port } = await d.start();
  await waitFor(() => lines.some((l) => l.msg === "agent state resynced"), "the first resync");
  const connect = async (userId: string) => {
    const token = createApiToken(d.db, userId, userId === "sam" ? "supervisor" : "agent").token;
    const c = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${token}`]));
    clients.push(c);
    await c.ready();
    return c;
  };
  return { d, lines, connect };
}

/** The next event of alice's of `type`, skipping the others. */
async function aliceCall(c: TestClient, type: string, timeoutMs = 8000) {
  return c.nextOf(type, timeoutMs);
}

describe("the demo's PBX simulator", () => {
  it("starts clean: no warning, and agent state from QueueStatus/DeviceStateList as the lab PBX has it", async () => {
    const { d, lines } = await demo(50);
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(lines.find((l) => l.msg === "agent state resynced")).toMatchObject({ membersListed: true });
    expect(d.agents.stateOf("alice")).toMatchObject({ queues: [expect.objectContaining({ queue: "support", paused: false })] });
    expect(d.agents.stateOf("dave")).toMatchObject({ queues: [expect.objectContaining({ queue: "sales" })] });
  });

  it("a hangup on a ringing demo call ends the call", async () => {
    const { d, connect } = await demo(1);
    const alice = await connect("alice");
    const ringing = await aliceCall(alice, "call.ringing");
    alice.send({ type: "command", id: "h1", action: "hangup", args: { callId: ringing.call.callId } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "h1", ok: true });
    const ended = await aliceCall(alice, "call.ended");
    expect(ended.call).toMatchObject({ callId: ringing.call.callId, state: "ended" });
    expect(d.tracker.getCall(ringing.call.callId)?.state ?? "ended").toBe("ended");
  });

  it("a hangup on a connected demo call ends it as answered", async () => {
    const { connect } = await demo(1);
    const alice = await connect("alice");
    const answered = await aliceCall(alice, "call.answered");
    alice.send({ type: "command", id: "h2", action: "hangup", args: { callId: answered.call.callId } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "h2", ok: true });
    const ended = await aliceCall(alice, "call.ended");
    expect(ended.call).toMatchObject({ callId: answered.call.callId, state: "ended", outcome: "answered" });
  });

  it("hold and resume on a connected demo call (PJSIPNotify → Hold/Unhold)", async () => {
    const { connect } = await demo(1);
    const alice = await connect("alice");
    const answered = await aliceCall(alice, "call.answered");
    alice.send({ type: "command", id: "o1", action: "hold", args: { callId: answered.call.callId } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "o1", ok: true });
    expect(await aliceCall(alice, "call.held")).toMatchObject({ call: { callId: answered.call.callId, state: "on_hold" } });
  });

  it("a blind transfer of a connected demo call rings the target, who gets the original caller, and the call ends", async () => {
    const { connect } = await demo(1);
    const alice = await connect("alice");
    const frank = await connect("frank");
    const answered = await aliceCall(alice, "call.answered");
    alice.send({ type: "command", id: "t1", action: "transfer", args: { callId: answered.call.callId, to: "1006", kind: "blind" } });
    const r = await alice.nextOf("command.result");
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ id: "t1", ok: true });
    const popped = await frank.nextOf("call.ringing", 8000);
    expect(popped.call).toMatchObject({ callId: answered.call.callId, from: { raw: answered.call.from.raw } });
    const ended = await frank.nextOf("call.ended", 8000);
    expect(ended.call).toMatchObject({ callId: answered.call.callId, outcome: "answered", transfer: { kind: "blind", to: expect.objectContaining({ raw: "1006" }) } });
  });

  it("answers Redirect as Asterisk does: the named channel goes to the extension, its peer hangs up; an unknown channel is an error", async () => {
    const { d, connect } = await demo(1);
    const alice = await connect("alice");
    const bob = await connect("bob");
    const answered = await aliceCall(alice, "call.answered");
    const caller = d.tracker.peerChannelOf(answered.call.callId, "PJSIP/1001")!;
    expect(caller).toMatch(/^PJSIP\/carrier-/);
    const r = await d.ami!.action("Redirect", [["Channel", caller], ["Exten", "1002"], ["Context", "from-internal"], ["Priority", 1]]);
    expect(r.response.headers).toMatchObject({ Response: "Success", Message: "Redirect successful" });
    expect((await bob.nextOf("call.ringing", 8000)).call).toMatchObject({ callId: answered.call.callId });
    await expect(d.ami!.action("Hangup", [["Channel", "PJSIP/1001-ffffffff"]])).rejects.toThrow(/No such channel/);
  });
});
