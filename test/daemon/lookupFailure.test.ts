/**
 * A dependency of the tracker that fails (the contact lookup's SQLite query) must not leave a
 * call half-applied: the pop goes out without a match, the call is tracked and stored exactly.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, waitFor } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";
import { stripTracePreamble } from "../../src/sim/replay.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

describe("a failing contact lookup", () => {
  it("costs the match, never the call", async () => {
    const d = await rig.start();
    d.daemon.db.exec("DROP TABLE contact_numbers");
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(stripTracePreamble(traceBytes("01-inbound-answered")));
    const stored = await waitFor(() => d.daemon.callLog.list().find((c) => c.state === "ended"), "stored call");
    expect(stored).toMatchObject({ outcome: "answered", endReason: "hangup", legs: [{ userId: "alice", outcome: "answered_by_me" }] });
    await waitFor(() => alice.messages.some((m: any) => m.type === "call.ended"), "call.ended to alice");
    expect(alice.messages.filter((m: any) => m.type?.startsWith("call.")).map((m: any) => m.type)).toEqual(["call.ringing", "call.answered", "call.ended"]);
    expect(d.logs.some((l) => l.msg === "contact lookup failed")).toBe(true);
  });
});
