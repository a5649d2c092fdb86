import { describe, expect, it } from "vitest";
import { duration, formatMessage, party } from "../src/watchFormat.js";

const ts = "2026-11-22T12:03:04.120Z";
const env = (type: string, rest: Record<string, unknown> = {}) => ({ v: 1, seq: 7, type, ts, userId: "alice", ...rest });
const caller = { raw: "+4930123456", e164: "+4930123456", display: "+49 30 123456", name: null };
const agent = { raw: "1001", e164: null, display: "1001", name: null, extension: "1001" };
const acme = { status: "single", count: 1, records: [{ name: "Anna Schmidt", company: "Acme GmbH", recordId: "A1", url: null, matchedOn: "e164" }] };
const call = (extra: Record<string, unknown> = {}) => ({
  callId: "7f3a9c01-5b2e-4c8d",
  direction: "inbound",
  state: "ringing",
  from: caller,
  to: agent,
  queue: "support",
  ivr: {},
  match: acme,
  outcome: null,
  transfer: null,
  times: { waitSeconds: null, talkSeconds: null },
  ...extra,
});
const fmt = (m: unknown) => formatMessage(m, { utc: true });

describe("formatMessage", () => {
  it.each([
    ["hello", env("hello", { user: { id: "alice", name: "Alice Agent", role: "agent", devices: ["PJSIP/1001", "PJSIP/1011"] }, server: { name: "ctibridge", version: "0.1.0" } }),
      "12:03:04 HELLO    alice (Alice Agent, agent)  devices PJSIP/1001, PJSIP/1011  server 0.1.0"],
    ["snapshot", env("snapshot", { calls: [call(), call({ callId: "b2", state: "connected" })] }),
      "12:03:04 SNAPSHOT 2 active calls: ringing [call 7f3a9c01…], connected [call b2]"],
    ["empty snapshot", env("snapshot", { calls: [] }), "12:03:04 SNAPSHOT 0 active calls"],
    ["call.dialing", env("call.dialing", { call: call({ direction: "outbound", state: "dialing", from: agent, to: caller, queue: null }) }),
      "12:03:04 DIALING  1001 → +49 30 123456 (Acme GmbH · 1 match)  [call 7f3a9c01…]"],
    ["call.ringing", env("call.ringing", { call: call(), pop: true }),
      "12:03:04 RINGING  +49 30 123456 (Acme GmbH · 1 match) → 1001  queue support  POP  [call 7f3a9c01…]"],
    ["call.ringing_stopped", env("call.ringing_stopped", { call: call({ queue: null }), reason: "answered_elsewhere" }),
      "12:03:04 STOPPED  +49 30 123456 (Acme GmbH · 1 match) → 1001  answered_elsewhere  [call 7f3a9c01…]"],
    ["call.answered", env("call.answered", { call: call({ state: "connected", queue: null, match: { status: "pending", count: 0, records: [] } }) }),
      "12:03:04 ANSWERED +49 30 123456 (lookup…) → 1001  [call 7f3a9c01…]"],
    ["call.held", env("call.held", { call: call({ queue: null, match: null, from: { ...caller, name: "ACME Zentrale" } }) }),
      "12:03:04 HELD     +4930123456 (ACME Zentrale) → 1001  [call 7f3a9c01…]"],
    ["call.resumed", env("call.resumed", { call: call({ queue: null, ivr: { CRM_ACCOUNT: "ACC-1042", TICKET: "INC-77" } }) }),
      "12:03:04 RESUMED  +49 30 123456 (Acme GmbH · 1 match) → 1001  ivr CRM_ACCOUNT=ACC-1042 TICKET=INC-77  [call 7f3a9c01…]"],
    ["call.transferred", env("call.transferred", { call: call({ queue: null, transfer: { kind: "blind", to: { raw: "1002" } } }) }),
      "12:03:04 TRANSFER +49 30 123456 (Acme GmbH · 1 match) → 1001  blind to 1002  [call 7f3a9c01…]"],
    ["call.updated", env("call.updated", { call: call({ queue: null, match: { status: "multiple", count: 3, records: [{ name: "Anna" }, { name: "Bernd" }] } }) }),
      "12:03:04 UPDATED  +49 30 123456 (Anna · 3 matches) → 1001  [call 7f3a9c01…]"],
    ["call.ended", env("call.ended", { call: call({ queue: null, outcome: "answered", times: { waitSeconds: 4, talkSeconds: 65.4 } }) }),
      "12:03:04 ENDED    +49 30 123456 (Acme GmbH · 1 match) → 1001  answered, talk 1m05s  [call 7f3a9c01…]"],
    ["call.missed", env("call.missed", { call: call({ from: { raw: "anonymous", e164: null, display: "Anonymous", name: null }, match: { status: "none", count: 0, records: [] }, outcome: "abandoned", times: { waitSeconds: 12, talkSeconds: null } }), callbackNumber: "anonymous" }),
      "12:03:04 MISSED   Anonymous → 1001  queue support  call back anonymous  [call 7f3a9c01…]"],
    ["call.claimed", env("call.claimed", { callId: "7f3a9c01-5b2e-4c8d", by: "conn-2" }), "12:03:04 CLAIMED  [call 7f3a9c01…] by conn-2"],
    ["agent.state", env("agent.state", { agent: "alice", state: { deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: true, reason: "lunch" }, { queue: "sales", loggedIn: true, paused: false, reason: null }] } }),
      "12:03:04 AGENT    alice  not_inuse  support: paused (lunch), sales: in"],
    ["pbx.disconnected", env("pbx.disconnected", { reason: "connection reset" }), "12:03:04 PBX DOWN AMI link lost: connection reset"],
    ["pbx.resynced", env("pbx.resynced", { calls: 3 }), "12:03:04 PBX UP   resynced, 3 active calls"],
    ["resync_required", env("resync_required", { afterSeq: 12, oldestSeq: 400 }), "12:03:04 RESYNC   events after seq 12 are gone; a fresh snapshot follows"],
    ["command.result ok", env("command.result", { id: "c-1", ok: true }), "12:03:04 RESULT   c-1 ok"],
    ["command.result failed", env("command.result", { id: "c-2", ok: false, error: { code: "forbidden", message: "not a call of this user" } }),
      "12:03:04 RESULT   c-2 failed forbidden: not a call of this user"],
    ["error", env("error", { code: "invalid_argument", message: "afterSeq: expected a number" }), "12:03:04 ERROR    invalid_argument: afterSeq: expected a number"],
    ["pong", env("pong"), "12:03:04 PONG"],
    ["an unknown type", env("agent.mood", { mood: "happy" }), '12:03:04 AGENT.MOOD {"v":1,"seq":7,"type":"agent.mood","ts":"2026-11-22T12:03:04.120Z","userId":"alice","mood":"happy"}'],
    ["garbage", "nonsense", "--:--:-- ?        {}"],
  ])("%s", (_name, message, line) => {
    expect(fmt(message)).toBe(line);
  });
});

describe("helpers", () => {
  it("durations", () => {
    expect([duration(0), duration(59.6), duration(60), duration(3725), duration(null)]).toEqual(["0s", "1m00s", "1m00s", "62m05s", ""]);
  });
  it("a party without match or name is its display", () => {
    expect(party({ raw: "1002", e164: null, display: "1002", name: null })).toBe("1002");
    expect(party({})).toBe("?");
  });
});
