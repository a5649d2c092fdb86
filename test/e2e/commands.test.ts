/**
 * Call control end to end: a ws client's command goes through the daemon's call control and
 * AMI client to the fake PBX, whose received bytes are compared exactly; refused commands must
 * leave the PBX's received bytes untouched.
 */
import { afterEach, describe, expect, it } from "vitest";
import { header, type AmiMessage } from "../../src/ami/codec.js";
import type { AmiServer, SimConnection } from "../../src/sim/amiServer.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor, type RunningDaemon } from "../helpers/daemon.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

/** No keepalive Ping during a test, so the PBX's received bytes are exactly what we caused. */
const start = () => rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 } });

/** The raw bytes of the one `name` action received after byte `from`. */
function rawAction(pbx: AmiServer, name: string, from = 0): string {
  const text = pbx.rawReceived().subarray(from).toString("utf8");
  const msgs = text.split("\r\n\r\n").filter((m) => m.startsWith(`Action: ${name}\r\n`));
  expect(msgs).toHaveLength(1);
  return `${msgs[0]}\r\n\r\n`;
}

function lastAction(pbx: AmiServer, name: string): AmiMessage {
  const r = pbx.received.filter((x) => header(x.action, "Action") === name).at(-1);
  if (!r) throw new Error(`no ${name} received`);
  return r.action;
}

async function connected(d: RunningDaemon, user: string) {
  const c = d.connect(user);
  await c.ready();
  return c;
}

describe("dial", () => {
  it("sends exactly one Originate, and call.dialing reaches the user before the PBX answers", async () => {
    const d = await start();
    let pending: SimConnection | null = null;
    d.pbx.handle("Originate", (_msg, conn) => {
      pending = conn; // stay silent for now
    });
    const alice = await connected(d, "alice");
    const before = d.pbx.rawReceived().length;
    alice.send({ type: "command", id: "d1", action: "dial", args: { to: "0301234567" } });

    const dialing = await alice.next();
    expect(dialing).toMatchObject({ type: "call.dialing", userId: "alice", call: { state: "dialing", direction: "outbound", clickToDial: true, to: { raw: "0301234567" } } });
    expect(dialing.call.legs).toEqual([expect.objectContaining({ userId: "alice", device: "PJSIP/1001", placed: true, state: "dialing" })]);
    const conn = await waitFor(() => pending, "Originate at the PBX");

    const orig = lastAction(d.pbx, "Originate");
    const actionId = header(orig, "ActionID")!;
    const channelId = header(orig, "ChannelId")!;
    expect(rawAction(d.pbx, "Originate", before)).toBe(
      "Action: Originate\r\n" +
        "Channel: PJSIP/1001\r\n" +
        "Context: from-internal\r\n" +
        "Exten: 0301234567\r\n" +
        "Priority: 1\r\n" +
        'CallerID: "0301234567" <0301234567>\r\n' +
        "Timeout: 30000\r\n" +
        "Async: true\r\n" +
        `ChannelId: ${channelId}\r\n` +
        "Variable: CTIBRIDGE_CLICK2DIAL=1\r\n" +
        `ActionID: ${actionId}\r\n\r\n`,
    );
    expect(d.pbx.rawReceived().length - before).toBe(Buffer.byteLength(rawAction(d.pbx, "Originate", before)));

    conn.send([["Response", "Success"], ["ActionID", actionId], ["Message", "Originate successfully queued"]]);
    // The result waits for the OriginateResponse: the user's phone answered, the number is being dialled.
    conn.send([
      ["Event", "OriginateResponse"],
      ["ActionID", actionId],
      ["Response", "Success"],
      ["Channel", "PJSIP/1001-00000099"],
      ["Context", "from-internal"],
      ["Exten", "0301234567"],
      ["Reason", "4"],
      ["Uniqueid", channelId],
    ]);
    const result = await alice.nextOf("command.result");
    expect(result).toEqual(expect.objectContaining({ id: "d1", ok: true, data: { callId: dialing.call.callId, channelId } }));
  });

  it("an OriginateResponse failure is a failed command result and ends the call as failed", async () => {
    const d = await start();
    d.pbx.handle("Originate", () => [["Response", "Success"], ["Message", "Originate successfully queued"]]);
    const alice = await connected(d, "alice");
    alice.send({ type: "command", id: "d2", action: "dial", args: { to: "0301234567" } });
    const dialing = await alice.nextOf("call.dialing");
    const orig = await waitFor(() => d.pbx.received.some((r) => r.action.get("Action") === "Originate") && lastAction(d.pbx, "Originate"), "Originate at the PBX");
    d.pbx.broadcast([
      ["Event", "OriginateResponse"],
      ["Privilege", "call,all"],
      ["ActionID", header(orig, "ActionID")!],
      ["Response", "Failure"],
      ["Channel", "PJSIP/1001"],
      ["Context", "from-internal"],
      ["Exten", "0301234567"],
      ["Application", ""],
      ["Data", ""],
      ["Reason", "3"],
      ["Uniqueid", header(orig, "ChannelId")!],
      ["CallerIDNum", "0301234567"],
      ["CallerIDName", "0301234567"],
    ]);
    const ended = await alice.nextOf("call.ended");
    expect(ended.call).toMatchObject({ callId: dialing.call.callId, state: "ended", outcome: "failed", endReason: "hangup" });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "d2", ok: false, error: { code: "pbx_rejected", message: "the call could not be placed: no answer" } });
    expect(ended.call.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "placed", state: "ended" })]);
    expect(d.daemon.tracker.activeCalls()).toEqual([]);
  });

  it("an Originate the PBX rejects is a failed command result and an ended call", async () => {
    const d = await start();
    d.pbx.handle("Originate", () => [["Response", "Error"], ["Message", "Extension does not exist."]]);
    const alice = await connected(d, "alice");
    alice.send({ type: "command", id: "d3", action: "dial", args: { to: "0301234567" } });
    const dialing = await alice.nextOf("call.dialing");
    const ended = await alice.nextOf("call.ended");
    expect(ended.call).toMatchObject({ callId: dialing.call.callId, outcome: "failed" });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "d3", ok: false, error: { code: "pbx_rejected", message: "Extension does not exist." } });
  });
});

describe("hangup", () => {
  it("hangs up alice's own connected call through her channel", async () => {
    const d = await start();
    d.pbx.handle("Hangup", () => [["Response", "Success"], ["Message", "Channel Hungup"]]);
    const alice = await connected(d, "alice");
    await d.pbx.replay(trace01Halves()[0], { raw: true });
    const answered = await alice.nextOf("call.answered");
    const before = d.pbx.rawReceived().length;
    alice.send({ type: "command", id: "h1", action: "hangup", args: { callId: answered.call.callId } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "h1", ok: true });
    const actionId = header(lastAction(d.pbx, "Hangup"), "ActionID")!;
    expect(d.pbx.rawReceived().subarray(before).toString("utf8")).toBe(`Action: Hangup\r\nChannel: PJSIP/1001-00000001\r\nActionID: ${actionId}\r\n\r\n`);
  });
});

describe("configured control", () => {
  it("holds by phone-side NOTIFY when control.holdNotify is set", async () => {
    const d = await rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 }, control: { holdNotify: { holdOption: "hold", unholdOption: "talk" } } });
    d.pbx.handle("PJSIPNotify", () => [["Response", "Success"], ["Message", "NOTIFY sent"]]);
    const alice = await connected(d, "alice");
    await d.pbx.replay(trace01Halves()[0], { raw: true });
    const answered = await alice.nextOf("call.answered");
    alice.send({ type: "command", id: "n1", action: "hold", args: { callId: answered.call.callId } });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "n1", ok: true });
    const notify = lastAction(d.pbx, "PJSIPNotify");
    expect([header(notify, "Channel"), header(notify, "Option")]).toEqual(["PJSIP/1001-00000001", "hold"]);
  });

  it("a supervisor acts only on their own calls when control.supervisorsMayControl is false", async () => {
    const d = await rig.start({ users: E2E_USERS, ami: { pingIntervalMs: 600_000 }, control: { supervisorsMayControl: false } });
    const sam = await connected(d, "sam");
    await d.pbx.replay(trace01Halves()[0], { raw: true });
    const answered = await sam.nextOf("call.answered");
    const before = d.pbx.rawReceived().length;
    sam.send({ type: "command", id: "s1", action: "hangup", args: { callId: answered.call.callId } });
    expect(await sam.nextOf("command.result")).toMatchObject({ id: "s1", ok: false, error: { code: "forbidden" } });
    expect(d.pbx.rawReceived().length).toBe(before);
  });
});

describe("refused commands reach nothing", () => {
  it("refuses injection, a foreign callId and unknown actions; the PBX receives no byte", async () => {
    const d = await start();
    const alice = await connected(d, "alice");
    const bob = await connected(d, "bob");
    await d.pbx.replay(trace01Halves()[0], { raw: true });
    const call = (await alice.nextOf("call.answered")).call;
    await waitFor(() => d.daemon.tracker.getCall(call.callId)?.state === "connected", "connected call");
    const before = d.pbx.rawReceived();
    const actions = d.pbx.received.length;

    const refused: [string, any, string][] = [
      ["i1", { action: "dial", args: { to: "1001\r\nAction: Command" } }, "invalid_argument"],
      ["i2", { action: "dial", args: { to: "1001", device: "PJSIP/1001\r\nAction: Command\r\nCommand: core stop now" } }, "invalid_argument"],
      ["i3", { action: "transfer", args: { callId: call.callId, to: "1002\nAction: Originate", kind: "blind" } }, "invalid_argument"],
      ["f1", { action: "hangup", args: { callId: call.callId } }, "forbidden"],
      ["f2", { action: "transfer", args: { callId: call.callId, to: "1003", kind: "blind" } }, "forbidden"],
      ["f3", { action: "dial", args: { to: "0301234567", device: "PJSIP/1001" } }, "forbidden"],
      ["u1", { action: "command", args: { command: "core show channels" } }, "unknown_action"],
      ["u2", { action: "originate", args: {} }, "unknown_action"],
    ];
    for (const [id, cmd] of refused) {
      const who = id.startsWith("f") ? bob : alice;
      who.send({ type: "command", id, ...cmd });
    }
    for (const [id, , code] of refused) {
      const who = id.startsWith("f") ? bob : alice;
      const r = await who.nextOf("command.result");
      expect(r, id).toMatchObject({ id, ok: false, error: { code } });
    }
    // Not even a well-formed action name: refused by the frame validation already.
    alice.send({ type: "command", id: "u3", action: "__proto__", args: {} });
    expect(await alice.nextOf("error")).toMatchObject({ code: "invalid_argument", ref: "u3" });
    await Promise.all([alice.sync(), bob.sync()]);
    expect(d.pbx.received.length).toBe(actions);
    expect(d.pbx.rawReceived().equals(before)).toBe(true);
    // Bob never saw alice's call, not even through the refusals.
    expect(bob.messages.filter((m) => m.call || m.callId)).toEqual([]);
  });
});
