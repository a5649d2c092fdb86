import { describe, expect, it } from "vitest";
import { duration, formatMessage, jsonLineSafe, party, terminalSafe } from "../../src/cli/watchFormat.js";

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
    ["call.claimed", env("call.claimed", { callId: "7f3a9c01-5b2e-4c8d", by: "conn-2", byMe: false }), "12:03:04 CLAIMED  [call 7f3a9c01…] by conn-2"],
    ["call.claimed by me", env("call.claimed", { callId: "7f3a9c01-5b2e-4c8d", by: "conn-2", byMe: true }), "12:03:04 CLAIMED  [call 7f3a9c01…] by conn-2 (this connection)"],
    ["agent.state", env("agent.state", { agent: "alice", state: { deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: true, reason: "lunch" }, { queue: "sales", loggedIn: true, paused: false, reason: null }] } }),
      "12:03:04 AGENT    alice  not_inuse  support: paused (lunch), sales: in"],
    ["agent.state in wrap-up", env("agent.state", { agent: "alice", state: { deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: true, reason: "wrap-up" }], activity: "wrap_up", wrapUp: { callId: "c", since: "2026-11-22T12:03:04.000Z", until: "2026-11-22T12:03:34.000Z" } } }),
      "12:03:04 AGENT    alice  not_inuse  wrap_up until 12:03:34  support: paused (wrap-up)"],
    ["call.done", env("call.done", { callId: "7f3a9c01-5b2e-4c8d", user: "alice", doneAt: "2026-11-22T12:03:04.000Z", by: "sam", reason: "marked" }), "12:03:04 DONE     alice  marked by sam  [call 7f3a9c01…]"],
    ["queue.state", env("queue.state", { queue: { queue: "support", members: [], waiting: 2, longestWaitSeconds: 30, callers: [], today: { answered: 12, abandoned: 3, avgWaitSeconds: 8.2 } } }),
      "12:03:04 QUEUE    support  waiting 2  today answered 12, abandoned 3"],
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

describe("PBX-provided text cannot steer the terminal", () => {
  // An external caller sets their own caller name (CALLERID(name)); IVR variables and queue
  // names come from the dialplan. None of it may reach the terminal as control characters.
  const hostile = {
    "ANSI colour and clear screen": "\x1b[31;1mACME\x1b[0m\x1b[2J\x1b[H",
    "window title (OSC, BEL-terminated)": "\x1b]0;pwned\x07ACME",
    "clipboard write (OSC 52, ST-terminated)": "\x1b]52;c;ZWNobyBoaQ==\x1b\\ACME",
    "8-bit CSI and C1 controls": "\x9b31mACME\x9b0m\x85\x8d",
    "bell, backspace, DEL, NUL": "AC\x07\x08\x7f\x00ME",
    "a forged second line": "ACME\r\n12:00:00 RINGING  forged",
    "bidi override": "\u202eEMCA\u202c\u2066\u2069\u200f",
    "an unterminated OSC": "\x1b]8;;http://evil.example/\x07ACME\x1b]8;;",
  };
  const printable = /^[\x20-\x7e\u00a0-\u200a\u2010-\u2027\u2030-\u205f\u2070-\ufefe\u{10000}-\u{10ffff}]*$/u;

  it.each(Object.entries(hostile))("%s in the caller name", (_name, name) => {
    const line = fmt(env("call.ringing", { call: call({ from: { ...caller, name }, match: null, queue: null }) }));
    expect(line).toMatch(printable);
    expect(line).toMatch(/^12:03:04 RINGING  \+4930123456 \(.*\) → 1001  \[call 7f3a9c01…\]$/);
  });

  it("keeps the readable text of a coloured name and drops the sequences", () => {
    expect(terminalSafe(hostile["ANSI colour and clear screen"])).toBe("ACME");
    expect(terminalSafe(hostile["window title (OSC, BEL-terminated)"])).toBe("ACME");
    expect(terminalSafe(hostile["clipboard write (OSC 52, ST-terminated)"])).toBe("ACME");
    expect(terminalSafe(hostile["8-bit CSI and C1 controls"])).toBe("ACME");
    expect(terminalSafe(hostile["bell, backspace, DEL, NUL"])).toBe("ACME");
    expect(terminalSafe(hostile["a forged second line"])).toBe("ACME  12:00:00 RINGING  forged");
    expect(terminalSafe(hostile["bidi override"])).toBe("EMCA");
    expect(terminalSafe("Müller, José · 東京 ☎")).toBe("Müller, José · 東京 ☎");
  });

  it("cleans every PBX-provided field: numbers, queue, IVR keys and values, match, reasons", () => {
    const e = "\x1b[2J";
    const line = fmt(
      env("call.ended", {
        call: call({
          from: { raw: `+49${e}30`, e164: null, display: `+49 30${e}`, name: null },
          to: { raw: `1001${e}`, display: `1001\x07`, name: `Bob${e}` },
          queue: `support${e}`,
          ivr: { [`KEY${e}`]: `v\x1b]0;t\x07al` },
          match: { status: "single", count: 1, records: [{ name: `N${e}`, company: `Acme${e}` }] },
          outcome: `answered${e}`,
          times: { talkSeconds: 5 },
        }),
      }),
    );
    expect(line).toBe("12:03:04 ENDED    +49 30 (Acme · 1 match) → 1001 (Bob)  queue support  ivr KEY=val  answered, talk 5s  [call 7f3a9c01…]");
    const unknown = fmt(env("x.y\x1b[2J", { name: "\x9b2J\u202e" }));
    expect(unknown).toMatch(printable);
    const agentLine = fmt(env("agent.state", { agent: `alice${e}`, state: { deviceState: `inuse\x07`, queues: [{ queue: `q${e}`, loggedIn: true, paused: true, reason: `lunch\x1b]0;x\x07` }] } }));
    expect(agentLine).toBe("12:03:04 AGENT    alice  inuse  q: paused (lunch)");
  });

  it("--json output stays the same JSON on one line, with C1 and bidi characters escaped", () => {
    const msg = { type: "call.ringing", call: { from: { name: "\u009b2J\u202eEMCA\u2028x" } } };
    const text = JSON.stringify(msg, null, 1);
    const safe = jsonLineSafe(text);
    expect(safe).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e\u2028]/);
    expect(JSON.parse(safe)).toEqual(msg);
  });
});
