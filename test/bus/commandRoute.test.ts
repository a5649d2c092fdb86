/**
 * A gateway routes a command to the PBX it concerns, not to the PBX the user was last seen on:
 * a call's PBX, the PBX of the device a dial names, every PBX of the user for a pause.
 */
import { describe, expect, it } from "vitest";
import { mergePauseResults, routeCommand } from "../../src/bus/commandRoute.js";
import { LiveView } from "../../src/bus/liveView.js";
import type { AgentState, AnyCallEvent, Call } from "../../src/calls/model.js";

const idle: AgentState = { deviceState: "not_inuse", queues: [], activity: "idle", wrapUp: null };
const alice = { userId: "alice", devices: ["hamburg:PJSIP/1001", "berlin:PJSIP/2001"] };

function view(): LiveView {
  const v = new LiveView(1000);
  v.call({ name: "callUpdated", userId: null, call: { callId: "c-h", state: "ringing", pbxId: "hamburg" } as unknown as Call, at: 0 } as AnyCallEvent, "hamburg");
  // Alice was last seen on berlin.
  v.agent("alice", { ...idle, wrapUp: { callId: "c-h", since: "2026-11-30T10:00:00.000Z", until: null } }, "hamburg");
  v.agent("alice", idle, "berlin");
  return v;
}
const targets = (r: ReturnType<typeof routeCommand>) => (r.ok ? r.targets.map((t) => ({ pbx: t.pbxId, args: t.args, devices: t.devices })) : r.error);

describe("command routing over several PBXs", () => {
  it("a dial goes to the PBX of the device it names, else of the user's first device, with plain names", () => {
    const v = view();
    expect(targets(routeCommand(v, alice, { action: "dial", args: { to: "0301234" } }))).toEqual([{ pbx: "hamburg", args: { to: "0301234", device: "PJSIP/1001" }, devices: ["PJSIP/1001"] }]);
    expect(targets(routeCommand(v, alice, { action: "dial", args: { to: "1", device: "berlin:PJSIP/2001" } }))).toEqual([{ pbx: "berlin", args: { to: "1", device: "PJSIP/2001" }, devices: ["PJSIP/2001"] }]);
    // A plain name the user has on one PBX only.
    expect(targets(routeCommand(v, alice, { action: "queue.login", args: { queue: "q", device: "PJSIP/1001" } }))).toEqual([{ pbx: "hamburg", args: { queue: "q", device: "PJSIP/1001" }, devices: ["PJSIP/1001"] }]);
    const twice = { userId: "alice", devices: ["hamburg:PJSIP/1001", "berlin:PJSIP/1001"] };
    expect(targets(routeCommand(v, twice, { action: "dial", args: { to: "1", device: "PJSIP/1001" } }))).toEqual({
      code: "invalid_argument",
      message: "PJSIP/1001 is on several PBXs: name one (hamburg:PJSIP/1001, berlin:PJSIP/1001)",
    });
  });

  it("a call command goes to the call's PBX; agent.ready to the PBX whose wrap-up runs; a pause to every PBX", () => {
    const v = view();
    expect(targets(routeCommand(v, alice, { action: "hangup", args: { callId: "c-h" } }))).toEqual([{ pbx: "hamburg", args: { callId: "c-h" }, devices: ["PJSIP/1001"] }]);
    expect(targets(routeCommand(v, alice, { action: "agent.ready", args: {} }))).toMatchObject([{ pbx: "hamburg" }]);
    expect(targets(routeCommand(v, alice, { action: "queue.pause", args: { reason: "lunch" } }))).toEqual([
      { pbx: "hamburg", args: { reason: "lunch" }, devices: ["PJSIP/1001"] },
      { pbx: "berlin", args: { reason: "lunch" }, devices: ["PJSIP/2001"] },
    ]);
    // Plain devices (every PBX): the PBX the user was last seen on, as before.
    expect(targets(routeCommand(v, { userId: "alice", devices: ["PJSIP/1001"] }, { action: "dial", args: { to: "1" } }))).toMatchObject([{ pbx: "berlin", devices: ["PJSIP/1001"] }]);
    expect(targets(routeCommand(new LiveView(1000), { userId: "x", devices: ["PJSIP/1"] }, { action: "dial", args: { to: "1" } }))).toEqual({ code: "pbx_unavailable", message: "no PBX known for this command" });
  });

  it("merges the PBXs' pause answers, naming devices as the config does", () => {
    expect(
      mergePauseResults(alice, [
        { pbxId: "hamburg", result: { ok: true, data: { devices: [{ device: "PJSIP/1001", ok: true }] } } },
        { pbxId: "berlin", result: { ok: false, error: { code: "pbx_rejected", message: "Interface not found" } } },
      ]),
    ).toEqual({ ok: true, data: { devices: [{ device: "hamburg:PJSIP/1001", ok: true }, { device: "berlin:PJSIP/2001", ok: false, error: "Interface not found" }] } });
    const err = { ok: false as const, error: { code: "pbx_rejected" as const, message: "no" } };
    expect(mergePauseResults(alice, [{ pbxId: "hamburg", result: err }, { pbxId: "berlin", result: { ...err, error: { ...err.error, message: "no 2" } } }])).toEqual(err);
  });
});
