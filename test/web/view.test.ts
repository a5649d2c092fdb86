/**
 * The text helpers of the reference panel's web/view.js (a plain browser script, loaded here as
 * the page loads it: evaluated with a `window` to attach CtiView to; the helpers touch no DOM).
 */
import { readFileSync } from "node:fs";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";

type Fn = (...a: any[]) => any;
type View = Record<"clock" | "timerText" | "partyText" | "otherParty" | "outcomeText" | "isMissed" | "legsText" | "resultText" | "safeUrl", Fn>;
function loadView(): View {
  const window: { CtiView?: View } = {};
  runInNewContext(readFileSync(new URL("../../web/view.js", import.meta.url), "utf8"), { window, URL });
  return window.CtiView!;
}
const V = loadView();

const party = (raw: string, extra: object = {}) => ({ raw, e164: null, display: raw, name: null, extension: null, userId: null, ...extra });
const leg = (userId: string, outcome: string | null, state = "ended") => ({ userId, device: `PJSIP/${userId}`, state, outcome });
function call(o: Record<string, unknown> = {}) {
  return {
    callId: "c1",
    direction: "inbound",
    state: "ended",
    from: party("+4930123456", { display: "+49 30 123456" }),
    to: party("4930555000"),
    legs: [],
    answeredBy: null,
    times: { started: "2024-06-01T09:00:00.000Z", ringing: "2024-06-01T09:00:01.000Z", answered: null, ended: null, talkSeconds: null },
    outcome: null,
    match: { status: "none", count: 0, records: [] },
    ...o,
  };
}

describe("view.js text helpers", () => {
  it("clock: m:ss, h:mm:ss from an hour on", () => {
    expect(V.clock(0)).toBe("0:00");
    expect(V.clock(65.9)).toBe("1:05");
    expect(V.clock(3725)).toBe("1:02:05");
    expect(V.clock(-3)).toBe("0:00");
  });

  it("timerText counts ringing from ringing, talk from answered", () => {
    const now = Date.parse("2024-06-01T09:01:05.000Z");
    expect(V.timerText(call({ state: "ringing" }), now)).toBe("1:04");
    const answered = { ...call().times, answered: "2024-06-01T09:00:05.000Z" };
    expect(V.timerText(call({ state: "connected", times: answered }), now)).toBe("talking 1:00");
    expect(V.timerText(call({ state: "on_hold", times: answered }), now)).toBe("on hold · 1:00");
    expect(V.timerText(call({ state: "ringing", times: {} }), now)).toBe("");
  });

  it("partyText prefers a name that differs from the display", () => {
    expect(V.partyText(party("1001", { name: "Alice Agent", display: "1001" }))).toBe("Alice Agent (1001)");
    expect(V.partyText(party("030 9876543", { name: "030 9876543" }))).toBe("030 9876543");
    expect(V.partyText(null)).toBe("?");
  });

  it("otherParty: the callee on calls the viewer placed, else the caller", () => {
    const internal = call({ direction: "internal", from: party("1001", { userId: "alice" }), to: party("1003", { userId: "carol" }) });
    expect(V.otherParty(internal, "alice").raw).toBe("1003");
    expect(V.otherParty(internal, "carol").raw).toBe("1001");
    expect(V.otherParty(call({ direction: "outbound", to: party("0301234567") }), "alice").raw).toBe("0301234567");
    expect(V.otherParty(call(), "alice").raw).toBe("+4930123456");
  });

  it("outcomeText speaks from the viewer's leg", () => {
    expect(V.outcomeText(call({ outcome: "answered", legs: [leg("alice", "answered_by_me")] }), "alice", false)).toBe("Answered");
    expect(V.outcomeText(call({ outcome: "answered", answeredBy: { userId: "bob" }, legs: [leg("alice", "answered_elsewhere")] }), "alice", false)).toBe("Answered by bob");
    expect(V.outcomeText(call({ outcome: "busy", legs: [leg("alice", "declined")] }), "alice", false)).toBe("Declined");
    expect(V.outcomeText(call({ direction: "outbound", outcome: "abandoned", legs: [leg("alice", "placed")] }), "alice", false)).toBe("Cancelled");
    expect(V.outcomeText(call({ outcome: "abandoned", legs: [leg("alice", "missed")] }), "alice", true)).toBe("Missed");
    // a supervisor without a leg of their own
    expect(V.outcomeText(call({ outcome: "abandoned" }), "sam", false)).toBe("Caller hung up");
    expect(V.outcomeText(call({ direction: "outbound", outcome: "abandoned", legs: [leg("alice", "placed")] }), "sam", false)).toBe("Cancelled");
  });

  it("isMissed: the agent's own leg; for a supervisor, a missed leg nobody answered", () => {
    const missedByBoth = call({ outcome: "abandoned", legs: [leg("bob", "missed"), leg("alice", "missed")] });
    expect(V.isMissed(missedByBoth, "alice", "agent")).toBe(true);
    expect(V.isMissed(missedByBoth, "sam", "supervisor")).toBe(true);
    const bobMissedAliceAnswered = call({ outcome: "answered", answeredBy: { userId: "alice" }, legs: [leg("bob", "missed"), leg("alice", "answered_by_me")] });
    expect(V.isMissed(bobMissedAliceAnswered, "alice", "agent")).toBe(false);
    expect(V.isMissed(bobMissedAliceAnswered, "sam", "supervisor")).toBe(false);
    expect(V.isMissed(missedByBoth, "carol", "agent")).toBe(false);
  });

  it("legsText lists each agent's leg state", () => {
    expect(V.legsText(call({ legs: [leg("alice", null, "ringing"), leg("bob", null, "on_hold")] }))).toBe("alice ringing · bob on hold");
  });

  it("resultText makes command.result readable", () => {
    expect(V.resultText("dial", { ok: true })).toBe("Call: done");
    expect(V.resultText("hold", { ok: false, error: { code: "not_supported", message: "hold is done on the phone" } })).toBe("Hold failed (not supported): hold is done on the phone");
    expect(V.resultText("frobnicate", { ok: false, error: { code: "weird" } })).toBe("frobnicate failed (weird)");
    expect(V.resultText(undefined, { ok: false })).toBe("Command failed");
  });

  it("safeUrl passes only http(s)", () => {
    expect(V.safeUrl("https://crm.example/a?b=1")).toBe("https://crm.example/a?b=1");
    expect(V.safeUrl("javascript:alert(1)")).toBeNull();
    expect(V.safeUrl("not a url")).toBeNull();
  });
});
