/**
 * One stream message per fact (bus/facts.ts): over every recorded trace, the tracker's events
 * grouped by FactGrouper and expanded again as a gateway expands them (bus/gatewayFeed.ts) give
 * back exactly the tracker's events, in order; a fact's copies share one call object again, so
 * the stream carries a call once per fact.
 */
import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../src/bus/entry.js";
import { FactGrouper } from "../../src/bus/facts.js";
import type { AnyCallEvent } from "../../src/calls/model.js";
import { replayFiles } from "../../src/replay.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES, traceFiles } from "../helpers/traces.js";
import { join } from "node:path";

function expand(messages: StreamEvent[]): AnyCallEvent[] {
  const out: AnyCallEvent[] = [];
  for (const m of messages) {
    if (m.kind === "call") out.push(m.event);
    else if (m.kind === "calls") {
      for (const u of m.users) out.push({ ...m.event, userId: u.userId, call: u.call ?? m.event.call } as AnyCallEvent);
      out.push(m.event);
    }
  }
  return out;
}

describe("FactGrouper", () => {
  it.each(traceFiles())("%s: grouped and expanded, the tracker's events exactly, one message per fact", async (file) => {
    const { events } = await replayFiles([join(FIXTURES, file)], labConfig());
    const messages: StreamEvent[] = [];
    const g = new FactGrouper((ev) => messages.push(ev));
    for (const ev of events) g.offer({ kind: "call", event: ev });
    g.flush();
    const back = expand(messages);
    expect(back.map((e) => [e.name, e.userId, e.at, JSON.stringify(e.call)])).toEqual(events.map((e) => [e.name, e.userId, e.at, JSON.stringify(e.call)]));
    // One message per call-level copy, plus the lone user copies (a transferer leaving the call).
    const callLevel = events.filter((e) => e.userId === null).length;
    expect(messages.filter((m) => m.kind === "calls")).toHaveLength(callLevel);
    for (const m of messages) if (m.kind === "calls") for (const u of m.users) if (u.call) expect(u.call).not.toBe(m.event.call);
  });

  it("a user copy with no call-level copy after it goes alone when the emission is over; anything else flushes it first", async () => {
    const { events } = await replayFiles([join(FIXTURES, "06-ringgroup-answered.ami")], labConfig());
    const userCopy = events.find((e) => e.userId !== null)!;
    const messages: StreamEvent[] = [];
    const g = new FactGrouper((ev) => messages.push(ev));
    g.offer({ kind: "call", event: userCopy });
    expect(messages).toEqual([]);
    await Promise.resolve(); // the emission is over (a microtask later)
    expect(messages).toEqual([{ kind: "call", event: userCopy }]);
    g.offer({ kind: "call", event: userCopy });
    g.offer({ kind: "agent", userId: "alice", state: { deviceState: "inuse", queues: [], activity: "talking", wrapUp: null } });
    expect(messages.map((m) => m.kind)).toEqual(["call", "call", "agent"]);
  });
});
