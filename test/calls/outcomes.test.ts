import { describe, expect, it } from "vitest";
import { callOutcome, legOutcome, ringStopFromCause, ringStopFromDialStatus, type CallFacts } from "../../src/calls/outcomes.js";
import { replayFiles } from "../../src/replay.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES } from "../helpers/traces.js";

const facts = (f: Partial<CallFacts>): CallFacts => ({
  answered: false,
  failed: false,
  voicemail: false,
  queueAbandoned: false,
  lastDialStatus: null,
  anyDeclined: false,
  ...f,
});

describe("callOutcome", () => {
  it.each([
    [{ answered: true, lastDialStatus: "NOANSWER" }, "answered"],
    [{ failed: true }, "failed"],
    [{ voicemail: true, lastDialStatus: "NOANSWER" }, "voicemail"],
    [{ queueAbandoned: true }, "abandoned"],
    [{ lastDialStatus: "BUSY" }, "busy"],
    [{ lastDialStatus: "NOANSWER" }, "unanswered"],
    [{ lastDialStatus: "CHANUNAVAIL" }, "failed"],
    [{ lastDialStatus: "CONGESTION", anyDeclined: true }, "busy"],
    [{}, "abandoned"],
  ] as const)("%j → %s", (f, outcome) => {
    expect(callOutcome(facts(f))).toBe(outcome);
  });
});

describe("legOutcome", () => {
  const leg = { placed: false, answered: false, pickedUp: false, declined: false, rang: true };
  it.each([
    [{ ...leg, placed: true }, false, "all-rung", 1, "placed"],
    [{ ...leg, answered: true }, true, "all-rung", 1, "answered_by_me"],
    [{ ...leg, answered: true, pickedUp: true }, true, "all-rung", 1, "picked_up"],
    [leg, true, "all-rung", 3, "answered_elsewhere"],
    [leg, true, "none", 3, "answered_elsewhere"],
    [{ ...leg, declined: true }, false, "all-rung", 1, "declined"],
    [leg, false, "all-rung", 3, "missed"],
    [leg, false, "direct-only", 1, "missed"],
    [leg, false, "direct-only", 3, "unanswered"],
    [leg, false, "none", 1, "unanswered"],
  ] as const)("%j answered=%s policy=%s offered=%s → %s", (l, answered, policy, offered, out) => {
    expect(legOutcome(l, answered, policy, offered)).toBe(out);
  });
});

describe("ring stop reasons", () => {
  it("come from the hangup cause, never guessing an answer from cause 16", () => {
    expect(ringStopFromCause(26, false)).toBe("answered_elsewhere");
    expect(ringStopFromCause(17, false)).toBe("declined");
    expect(ringStopFromCause(19, false)).toBe("timeout");
    expect(ringStopFromCause(16, false)).toBe("caller_hangup");
    expect(ringStopFromCause(16, true)).toBe("answered_elsewhere");
    expect(ringStopFromDialStatus("CANCEL", false)).toBe("caller_hangup");
    expect(ringStopFromDialStatus("CANCEL", true)).toBe("answered_elsewhere");
    expect(ringStopFromDialStatus("BUSY", false)).toBe("declined");
  });
});

describe("missed policy on the recorded traces", () => {
  async function legs(trace: string, missedPolicy: string) {
    const { events } = await replayFiles([`${FIXTURES}/${trace}.ami`], labConfig({ calls: { missedPolicy } }));
    const ended = events.find((e) => e.name === "callEnded" && e.userId === null)!;
    return {
      legs: Object.fromEntries(ended.call.legs.map((l) => [l.userId, l.outcome])),
      missedEvents: events.filter((e) => e.name === "callMissed" && e.userId).map((e) => e.userId),
    };
  }

  it.each([
    ["08-queue-support-abandoned", "all-rung", { alice: "missed", bob: "missed" }, ["bob", "alice"]],
    ["08-queue-support-abandoned", "direct-only", { alice: "unanswered", bob: "unanswered" }, []],
    ["08-queue-support-abandoned", "none", { alice: "unanswered", bob: "unanswered" }, []],
    ["03-inbound-missed-caller-abandon", "direct-only", { alice: "missed" }, ["alice"]],
    ["03-inbound-missed-caller-abandon", "none", { alice: "unanswered" }, []],
    ["06-ringgroup-answered", "all-rung", { alice: "answered_elsewhere", bob: "answered_by_me", carol: "answered_elsewhere" }, []],
  ])("%s with %s", async (trace, policy, expected, missed) => {
    const r = await legs(trace, policy);
    expect(r.legs).toEqual(expected);
    expect(r.missedEvents).toEqual(missed);
  });
});
