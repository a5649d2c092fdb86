import { describe, expect, it } from "vitest";
import { createCommandHandler, type CommandDeps, type CommandUser } from "../../src/control/commands.js";
import { AmiCodecError, encodeAction } from "../../src/ami/codec.js";
import { memoryLogger } from "../../src/log.js";
import type { Call, Leg } from "../../src/calls/model.js";

const control = { enabled: true, dialContext: "from-internal", transferContext: "transfers", maxDigits: 20, supervisorsMayControl: true };
const alice: CommandUser = { userId: "alice", role: "agent", devices: ["PJSIP/1001", "PJSIP/1011"] };
const bob: CommandUser = { userId: "bob", role: "agent", devices: ["PJSIP/1002"] };
const sue: CommandUser = { userId: "sue", role: "supervisor", devices: ["PJSIP/1009"] };

function leg(device: string, userId: string, state: Leg["state"] = "connected"): Leg {
  return { userId, device, state, outcome: null, placed: false, ringingAt: null, answeredAt: null, endedAt: null, waitSeconds: null, talkSeconds: null };
}

/** `as Call`: the model is growing under us; these tests only need the fields below. */
function call(callId: string, legs: Leg[], state: Call["state"] = "connected"): Call {
  const party = { raw: "+4930123456", e164: "+4930123456", display: "+49 30 123456", name: null };
  return {
    callId, linkedIds: [callId], direction: "inbound", state, from: party, to: { ...party, raw: "1001", e164: null },
    did: null, queue: null, legs, answeredBy: legs[0] ? { userId: legs[0].userId, device: legs[0].device } : null,
    times: { started: "2026-01-01T00:00:00Z", ringing: null, answered: null, ended: null, waitSeconds: null, talkSeconds: null },
    outcome: null, hangupCause: null, endReason: null, transfer: null, ivr: {}, recording: null, restored: false,
    clickToDial: false, conference: null, match: null, annotation: null, mergedInto: null, park: null,
  } as Call;
}

type Sent = { name: string; fields: unknown };

function setup(opts: { fail?: (name: string, fields: readonly (readonly [string, unknown])[]) => unknown; connected?: boolean; extra?: Partial<CommandDeps> } = {}) {
  const { log, lines } = memoryLogger();
  const sent: Sent[] = [];
  const trail: string[] = [];
  const annotations: unknown[] = [];
  const calls = new Map<string, Call>([
    ["c1", call("c1", [leg("PJSIP/1001", "alice")])],
    ["c2", call("c2", [leg("PJSIP/1002", "bob")])],
    ["ringing", call("ringing", [leg("PJSIP/1001", "alice", "ringing")], "ringing")],
  ]);
  const channels: Record<string, string> = { "c1|PJSIP/1001": "PJSIP/1001-0000002a", "c2|PJSIP/1002": "PJSIP/1002-0000002b", "ringing|PJSIP/1001": "PJSIP/1001-0000002c" };
  const deps: CommandDeps = {
    config: control,
    log,
    ami: {
      connected: () => opts.connected ?? true,
      async action(name, fields) {
        trail.push(`ami ${name}`);
        const failure = opts.fail?.(name, fields);
        if (failure) throw failure;
        encodeAction(name, fields); // the second guard, as the real client does before writing
        sent.push({ name, fields });
        return { response: { headers: { Response: "Success" } }, events: [] };
      },
    },
    calls: {
      getCall: (id) => calls.get(id),
      channelOf: (id, device) => channels[`${id}|${device}`],
      peerChannelOf: () => undefined,
      beginClickToDial(a) {
        trail.push(`begin ${a.device} ${a.to} ${a.channelId}`);
        return call("new-call", [leg(a.device, a.userId, "dialing")], "dialing");
      },
      originateFailed: (channelId, reason) => void trail.push(`failed ${channelId} ${reason}`),
    },
    // The policy itself (who may, the merge) is control/annotations.ts, tested on its own.
    annotate: (user, callId, a) => {
      annotations.push({ userId: user.userId, callId, ...a });
      if (callId === "gone-foreign" || callId === "c2") return { ok: false, code: "forbidden", message: "not a call of this user" };
      return { ok: true, annotation: { by: user.userId, at: "2026-11-22T00:00:00.000Z" } };
    },
    newId: () => "ctib-1795306187.1",
    now: () => 1_795_306_187_000,
    ...opts.extra,
  };
  return { handle: createCommandHandler(deps), sent, trail, lines, annotations, channels };
}

const cmd = (action: string, args: unknown) => ({ id: "cmd-1", action, args });

describe("dial", () => {
  it("announces the call, then originates from the user's device with the fixed template", async () => {
    const t = setup();
    const r = await t.handle(alice, cmd("dial", { to: "+49 (30) 987-6543" }));
    expect(r).toEqual({ ok: true, data: { callId: "new-call", channelId: "ctib-1795306187.1" } });
    expect(t.trail).toEqual(["begin PJSIP/1001 +49309876543 ctib-1795306187.1", "ami Originate"]);
    expect(t.sent).toEqual([
      {
        name: "Originate",
        fields: [
          ["Channel", "PJSIP/1001"], ["Context", "from-internal"], ["Exten", "+49309876543"], ["Priority", 1],
          ["CallerID", '"+49309876543" <+49309876543>'], ["Timeout", 30000], ["Async", "true"],
          ["ChannelId", "ctib-1795306187.1"], ["Variable", ["CTIBRIDGE_CLICK2DIAL=1"]],
        ],
      },
    ]);
  });

  it("writes exactly these bytes through the real codec", async () => {
    const t = setup();
    await t.handle(alice, cmd("dial", { to: "0309876543", device: "PJSIP/1011" }));
    const s = t.sent[0]!;
    expect(encodeAction(s.name, s.fields as never).toString("utf8")).toBe(
      "Action: Originate\r\nChannel: PJSIP/1011\r\nContext: from-internal\r\nExten: 0309876543\r\nPriority: 1\r\n" +
        'CallerID: "0309876543" <0309876543>\r\nTimeout: 30000\r\nAsync: true\r\nChannelId: ctib-1795306187.1\r\n' +
        "Variable: CTIBRIDGE_CLICK2DIAL=1\r\n\r\n",
    );
  });

  it.each([
    ["injection in to", { to: "1001\r\nAction: Command\r\nCommand: core stop now" }, "to: line breaks are not allowed"],
    ["bare LF in to", { to: "1001\nAction: Command" }, "to: line breaks are not allowed"],
    ["letters", { to: "1001abc" }, "to: only digits, *, # and a leading + are allowed"],
    ["too long", { to: "1".repeat(21) }, "to: at most 20 digits"],
    ["empty", { to: "" }, "to: empty destination"],
    ["unknown key", { to: "1002", channel: "Local/x" }, 'Unrecognized key: "channel"'],
    ["no args", undefined, "to: Invalid input: expected string, received undefined"],
  ])("refuses %s and sends nothing", async (_n, args, message) => {
    const t = setup();
    const r = await t.handle(alice, cmd("dial", args));
    expect(r).toEqual({ ok: false, error: { code: "invalid_argument", message } });
    expect(t.trail).toEqual([]);
  });

  it("only from the user's own devices, also for a supervisor", async () => {
    const t = setup();
    expect(await t.handle(alice, cmd("dial", { to: "1002", device: "PJSIP/1002" }))).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await t.handle(sue, cmd("dial", { to: "1002", device: "PJSIP/1001" }))).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(t.trail).toEqual([]);
  });

  it("a failed Originate reaches the user and ends the announced call", async () => {
    const t = setup({ fail: () => ({ code: "AMI_ACTION_FAILED", response: { headers: { Message: "Originate failed" } } }) });
    const r = await t.handle(alice, cmd("dial", { to: "1002" }));
    expect(r).toEqual({ ok: false, error: { code: "pbx_rejected", message: "Originate failed" } });
    expect(t.trail).toEqual(["begin PJSIP/1001 1002 ctib-1795306187.1", "ami Originate", "failed ctib-1795306187.1 Originate failed"]);
  });

  it("a timeout is reported as such; with the PBX down nothing is announced", async () => {
    const slow = setup({ fail: () => ({ code: "AMI_TIMEOUT" }) });
    expect(await slow.handle(alice, cmd("dial", { to: "1002" }))).toMatchObject({ error: { code: "pbx_timeout" } });
    expect(slow.trail.at(-1)).toBe("failed ctib-1795306187.1 the PBX did not answer in time");
    const down = setup({ connected: false });
    expect(await down.handle(alice, cmd("dial", { to: "1002" }))).toMatchObject({ error: { code: "pbx_unavailable" } });
    expect(down.trail).toEqual([]);
  });
});

describe("call actions and authorisation", () => {
  it("hangs up the user's own channel", async () => {
    const t = setup();
    expect(await t.handle(alice, cmd("hangup", { callId: "c1" }))).toEqual({ ok: true });
    expect(t.sent).toEqual([{ name: "Hangup", fields: [["Channel", "PJSIP/1001-0000002a"]] }]);
  });

  it("refuses a foreign or unknown call and sends nothing", async () => {
    const t = setup();
    expect(await t.handle(alice, cmd("hangup", { callId: "c2" }))).toEqual({ ok: false, error: { code: "forbidden", message: "not a call of this user" } });
    expect(await t.handle(alice, cmd("transfer", { callId: "c2", to: "1003", kind: "blind" }))).toMatchObject({ error: { code: "forbidden" } });
    expect(await t.handle(alice, cmd("hangup", { callId: "nope" }))).toMatchObject({ error: { code: "not_found" } });
    expect(t.trail).toEqual([]);
  });

  it("lets a supervisor act on any call through its answering leg", async () => {
    const t = setup();
    expect(await t.handle(sue, cmd("hangup", { callId: "c2" }))).toEqual({ ok: true });
    expect(t.sent).toEqual([{ name: "Hangup", fields: [["Channel", "PJSIP/1002-0000002b"]] }]);
  });

  it("blind transfer is BlindTransfer of the user's channel; attended is Atxfer", async () => {
    const t = setup();
    await t.handle(alice, cmd("transfer", { callId: "c1", to: "1003", kind: "blind" }));
    await t.handle(alice, cmd("transfer", { callId: "c1", to: "*1003#", kind: "attended" }));
    expect(t.sent).toEqual([
      { name: "BlindTransfer", fields: [["Channel", "PJSIP/1001-0000002a"], ["Context", "transfers"], ["Exten", "1003"]] },
      { name: "Atxfer", fields: [["Channel", "PJSIP/1001-0000002a"], ["Exten", "*1003#"], ["Context", "transfers"]] },
    ]);
    expect(await t.handle(alice, cmd("transfer", { callId: "ringing", to: "1003", kind: "blind" }))).toMatchObject({ error: { code: "invalid_state" } });
    expect(await t.handle(alice, cmd("transfer", { callId: "c1", to: "1003\r\nAction: Command", kind: "blind" }))).toMatchObject({ error: { code: "invalid_argument" } });
    expect(t.sent).toHaveLength(2);
  });

  it("the codec is the second guard: a poisoned channel name never reaches the wire", async () => {
    const t = setup({ fail: (name, fields) => { try { encodeAction(name, fields as never); } catch (e) { return e as AmiCodecError; } return undefined; } });
    t.channels["c1|PJSIP/1001"] = "PJSIP/1001-1\r\nAction: Command";
    expect(await t.handle(alice, cmd("hangup", { callId: "c1" }))).toEqual({ ok: false, error: { code: "invalid_argument", message: "a value contains a line break" } });
    expect(t.sent).toEqual([]);
  });

  it("hold is not_supported unless phone-side NOTIFY is configured", async () => {
    const t = setup();
    const r = await t.handle(alice, cmd("hold", { callId: "c1" }));
    expect(r).toMatchObject({ ok: false, error: { code: "not_supported" } });
    const n = setup({ extra: { hold: { holdOption: "ctibridge-hold", unholdOption: "ctibridge-talk" } } });
    expect(await n.handle(alice, cmd("hold", { callId: "c1" }))).toEqual({ ok: true });
    expect(await n.handle(alice, cmd("unhold", { callId: "c1" }))).toMatchObject({ error: { code: "invalid_state" } });
    expect(n.sent).toEqual([{ name: "PJSIPNotify", fields: [["Channel", "PJSIP/1001-0000002a"], ["Option", "ctibridge-hold"]] }]);
  });
});

describe("queue actions", () => {
  it("pauses every device of the user with the reason; fine when one is not a member", async () => {
    const t = setup({ fail: (_n, f) => (f[0]?.[1] === "PJSIP/1011" ? { code: "AMI_ACTION_FAILED", response: { headers: { Message: "Interface not found" } } } : undefined) });
    const r = await t.handle(alice, cmd("queue.pause", { queue: "support", reason: "lunch" }));
    expect(r).toEqual({ ok: true, data: { devices: [{ device: "PJSIP/1001", ok: true }, { device: "PJSIP/1011", ok: false, error: "Interface not found" }] } });
    expect(t.sent).toEqual([{ name: "QueuePause", fields: [["Interface", "PJSIP/1001"], ["Paused", "true"], ["Queue", "support"], ["Reason", "lunch"]] }]);
    await t.handle(bob, cmd("queue.unpause", {}));
    expect(t.sent[1]).toEqual({ name: "QueuePause", fields: [["Interface", "PJSIP/1002"], ["Paused", "false"]] });
  });

  it("fails when no device could be paused; refuses a reason with a line break", async () => {
    const t = setup({ fail: () => ({ code: "AMI_ACTION_FAILED", response: { headers: { Message: "Interface not found" } } }) });
    expect(await t.handle(bob, cmd("queue.pause", { reason: "x" }))).toEqual({ ok: false, error: { code: "pbx_rejected", message: "Interface not found" } });
    expect(await t.handle(bob, cmd("queue.pause", { reason: "x\r\nAction: Command" }))).toMatchObject({ error: { code: "invalid_argument" } });
  });

  it("login and logout add and remove the user's device", async () => {
    const t = setup();
    await t.handle(alice, cmd("queue.login", { queue: "support" }));
    await t.handle(alice, cmd("queue.logout", { queue: "support", device: "PJSIP/1011" }));
    expect(t.sent).toEqual([
      { name: "QueueAdd", fields: [["Queue", "support"], ["Interface", "PJSIP/1001"]] },
      { name: "QueueRemove", fields: [["Queue", "support"], ["Interface", "PJSIP/1011"]] },
    ]);
    expect(await t.handle(alice, cmd("queue.login", { queue: "support", device: "PJSIP/1002" }))).toMatchObject({ error: { code: "forbidden" } });
    expect(await t.handle(alice, cmd("queue.login", { queue: "sup port" }))).toMatchObject({ error: { code: "invalid_argument" } });
  });
});

describe("annotate, unknown actions, disabled control, logging", () => {
  it("passes annotations (null clears a field) to the annotation policy and answers with its result", async () => {
    const t = setup();
    const annotated = { ok: true, data: { annotation: { by: "alice", at: "2026-11-22T00:00:00.000Z" } } };
    expect(await t.handle(alice, cmd("call.annotate", { callId: "c1", recordId: "CRM-1", comment: "line 1\nline 2" }))).toEqual(annotated);
    expect(await t.handle(alice, cmd("call.annotate", { callId: "gone", disposition: "sale", recordId: null }))).toEqual(annotated);
    expect(await t.handle(alice, cmd("call.annotate", { callId: "gone-foreign", comment: "x" }))).toEqual({ ok: false, error: { code: "forbidden", message: "not a call of this user" } });
    expect(await t.handle(alice, cmd("call.annotate", { callId: "c2", comment: "x" }))).toMatchObject({ error: { code: "forbidden" } });
    expect(await t.handle(alice, cmd("call.annotate", { callId: "c1" }))).toMatchObject({ error: { code: "invalid_argument" } });
    expect(await t.handle(alice, cmd("call.annotate", { callId: "c1", disposition: "" }))).toMatchObject({ error: { code: "invalid_argument" } });
    expect(t.annotations).toEqual([
      { userId: "alice", callId: "c1", recordId: "CRM-1", comment: "line 1\nline 2" },
      { userId: "alice", callId: "gone", disposition: "sale", recordId: null },
      { userId: "alice", callId: "gone-foreign", comment: "x" },
      { userId: "alice", callId: "c2", comment: "x" },
    ]);
    expect(t.sent).toEqual([]);
  });

  it.each(["Originate", "Command", "__proto__", "constructor", "toString", ""])("unknown action %j: nothing sent", async (action) => {
    const t = setup();
    expect(await t.handle(sue, cmd(action, { Channel: "PJSIP/1001" }))).toEqual({ ok: false, error: { code: "unknown_action", message: "no such action" } });
    expect(t.trail).toEqual([]);
  });

  it("with control disabled only annotate works", async () => {
    const t = setup({ extra: { config: { ...control, enabled: false } } });
    expect(await t.handle(alice, cmd("hangup", { callId: "c1" }))).toMatchObject({ error: { code: "disabled" } });
    expect(await t.handle(alice, cmd("call.annotate", { callId: "c1", comment: "x" }))).toMatchObject({ ok: true });
  });

  it("call.done and agent.ready are no call control: they work with control disabled; without their deps, not_supported; ready outside wrap-up is invalid_state", async () => {
    const ready = { callId: "c1", since: "2026-11-22T00:00:00.000Z", endedAt: "2026-11-22T00:00:30.000Z", seconds: 30, reason: "ready" };
    let inWrapUp = true;
    const t = setup({
      extra: {
        config: { ...control, enabled: false },
        markDone: (user, callId, target) => ({ ok: true, callId, users: [target ?? user.userId], doneAt: "2026-11-22T00:01:00.000Z" }),
        agentReady: () => (inWrapUp ? ((inWrapUp = false), ready) : null),
      },
    });
    expect(await t.handle(alice, cmd("call.done", { callId: "c1" }))).toEqual({ ok: true, data: { callId: "c1", users: ["alice"], doneAt: "2026-11-22T00:01:00.000Z" } });
    expect(await t.handle(alice, cmd("call.done", { callId: "c1", extra: 1 }))).toMatchObject({ ok: false, error: { code: "invalid_argument" } });
    expect(await t.handle(alice, cmd("agent.ready", {}))).toEqual({ ok: true, data: { wrapUp: ready } });
    expect(await t.handle(alice, cmd("agent.ready", {}))).toEqual({ ok: false, error: { code: "invalid_state", message: "not in wrap-up" } });
    const bare = setup();
    expect(await bare.handle(alice, cmd("agent.ready", {}))).toMatchObject({ ok: false, error: { code: "not_supported" } });
    expect(t.sent).toEqual([]);
  });

  it("queue.pause refuses the reason wrap-up (ctibridge's own, undone after a restart) before anything reaches the PBX", async () => {
    const t = setup();
    expect(await t.handle(alice, cmd("queue.pause", { queue: "support", reason: "Wrap-Up" }))).toEqual({
      ok: false,
      error: { code: "invalid_argument", message: "reason: wrap-up is reserved for after-call work (agents.wrapUp)" },
    });
    expect(t.sent).toEqual([]);
  });

  it("logs every command with user, action and result", async () => {
    const t = setup();
    await t.handle(alice, cmd("hangup", { callId: "c1" }));
    await t.handle(alice, cmd("hangup", { callId: "c2" }));
    const logged = t.lines.filter((l) => l.msg === "command handled").map((l) => [l.userId, l.cmdId, l.action, l.ok, l.code]);
    expect(logged).toEqual([
      ["alice", "cmd-1", "hangup", true, undefined],
      ["alice", "cmd-1", "hangup", false, "forbidden"],
    ]);
  });
});

describe("per-user budgets (control.limits)", () => {
  const limits = { originatePerMinute: 2, queueActionsPerMinute: 3, callActionsPerMinute: 120 };

  it("refuses dials past the budget with rate_limited before anything reaches the PBX, and refills over the minute", async () => {
    let t = 1_795_306_187_000;
    const s = setup({ extra: { config: { ...control, limits }, now: () => t } });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await s.handle(alice, cmd("dial", { to: "0301234567" })));
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "ok", "rate_limited", "rate_limited", "rate_limited"]);
    expect(results[2]).toEqual({ ok: false, error: { code: "rate_limited", message: "at most 2 dials per minute; try again later" } });
    expect(s.sent.filter((x) => x.name === "Originate")).toHaveLength(2);
    // Another user's budget is their own.
    expect((await s.handle(bob, cmd("dial", { to: "0301234567" }))).ok).toBe(true);
    // 2 per minute: one more after 30 s, not two.
    t += 30_000;
    expect((await s.handle(alice, cmd("dial", { to: "0301234567" }))).ok).toBe(true);
    expect((await s.handle(alice, cmd("dial", { to: "0301234567" }))).ok).toBe(false);
    expect(s.sent.filter((x) => x.name === "Originate")).toHaveLength(4);
  });

  it("counts queue commands, not the QueuePause actions of each device, and keeps call control apart", async () => {
    const s = setup({ extra: { config: { ...control, limits } } });
    const codes = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.handle(alice, cmd(i % 2 === 0 ? "queue.pause" : "queue.unpause", { queue: "support" }));
      codes.push(r.ok ? "ok" : r.error.code);
    }
    expect(codes).toEqual(["ok", "ok", "ok", "rate_limited", "rate_limited"]);
    // Alice has two devices: three commands, six QueuePause actions, none for the refused ones.
    expect(s.sent.filter((x) => x.name === "QueuePause")).toHaveLength(6);
    expect((await s.handle(alice, cmd("hangup", { callId: "c1" }))).ok).toBe(true);
    expect((await s.handle(bob, cmd("queue.pause", { queue: "support" }))).ok).toBe(true);
  });
});
