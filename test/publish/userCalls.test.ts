/** Which active calls a user's snapshot lists: a call she transferred is not hers once she left it. */
import { describe, expect, it } from "vitest";
import { replayFiles } from "../../src/replay.js";
import type { Call } from "../../src/calls/model.js";
import { UserCalls } from "../../src/publish/userCalls.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES } from "../helpers/traces.js";

describe("UserCalls", () => {
  it.each(["27-blind-transfer-ami-blindtransfer", "28-attended-transfer-dtmf"])(
    "%s: after alice's own end the call is the target's, not alice's",
    async (scenario) => {
      const { events } = await replayFiles([`${FIXTURES}/${scenario}.ami`], labConfig());
      const i = events.findIndex((e) => e.userId === "alice" && e.name === "callEnded");
      const calls = new UserCalls();
      const live = new Map<string, Call>();
      for (const e of events.slice(0, i + 1)) {
        calls.note(e.call);
        live.set(e.call.callId, e.call);
      }
      const lookup = (id: string) => live.get(id);
      expect(events[i]!.call.state).not.toBe("ended");
      expect(calls.callsOf("alice", lookup)).toEqual([]);
      // The target still has it (bob rings or talks; carol talks).
      const target = scenario.startsWith("27") ? "bob" : "carol";
      if (events.slice(0, i + 1).some((e) => e.call.legs.some((l) => l.userId === target))) {
        expect(calls.callsOf(target, lookup).map((c) => c.callId)).toEqual([events[i]!.call.callId]);
      }
    },
  );
});
