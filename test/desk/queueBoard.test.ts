/** The queue board's coalescing (fake timers) and "today" in a time zone (DST days included). */
import { afterEach, describe, expect, it, vi } from "vitest";
import { QueueBoard, startOfDay } from "../../src/desk/queueBoard.js";
import type { QueueInfo } from "../../src/publish/protocol.js";

afterEach(() => void vi.useRealTimers());

describe("startOfDay", () => {
  it("is local midnight in the zone, as a UTC instant, on normal and DST-change days", () => {
    const at = (iso: string, tz: string) => new Date(startOfDay(Date.parse(iso), tz)).toISOString();
    expect(at("2026-11-30T10:00:00.000Z", "UTC")).toBe("2026-11-30T00:00:00.000Z");
    expect(at("2026-11-30T10:00:00.000Z", "Europe/Berlin")).toBe("2026-11-29T23:00:00.000Z");
    // 23:30 UTC is already the next day in Berlin.
    expect(at("2026-11-30T23:30:00.000Z", "Europe/Berlin")).toBe("2026-11-30T23:00:00.000Z");
    expect(at("2026-07-01T10:00:00.000Z", "Europe/Berlin")).toBe("2026-06-30T22:00:00.000Z");
    // 29 March 2026: clocks go forward at 02:00; midnight was still CET.
    expect(at("2026-03-29T12:00:00.000Z", "Europe/Berlin")).toBe("2026-03-28T23:00:00.000Z");
    // 25 October 2026: clocks go back at 03:00; midnight was still CEST.
    expect(at("2026-10-25T12:00:00.000Z", "Europe/Berlin")).toBe("2026-10-24T22:00:00.000Z");
    expect(at("2026-11-30T03:00:00.000Z", "America/New_York")).toBe("2026-11-29T05:00:00.000Z");
  });
});

describe("QueueBoard coalescing", () => {
  it("150 changes of one queue in two intervals give two queue.state frames; another queue gets its own", () => {
    vi.useFakeTimers();
    let t = Date.parse("2026-11-30T10:00:00.000Z");
    const sent: QueueInfo[] = [];
    const board = new QueueBoard({
      queueView: () => [{ queue: "support", members: [] }],
      activeCalls: () => [],
      queueStats: () => new Map([["support", { answered: 2, abandoned: 1, avgWaitSeconds: 4.5 }]]),
      timezone: "UTC",
      intervalMs: 1000,
      now: () => t,
      publish: (q) => void sent.push(q),
    });
    for (let i = 0; i < 100; i++) board.touch("support");
    vi.advanceTimersByTime(0);
    expect(sent.map((q) => q.queue)).toEqual(["support"]);
    for (let i = 0; i < 50; i++) board.touch("support");
    board.touch("sales");
    t += 999;
    vi.advanceTimersByTime(999);
    expect(sent).toHaveLength(1);
    t += 1;
    vi.advanceTimersByTime(1);
    expect(sent.map((q) => q.queue)).toEqual(["support", "support", "sales"]);
    expect(sent[0]).toEqual({ queue: "support", members: [], waiting: 0, longestWaitSeconds: null, callers: [], today: { answered: 2, abandoned: 1, avgWaitSeconds: 4.5 } });
    expect(sent[2]!.today).toEqual({ answered: 0, abandoned: 0, avgWaitSeconds: null });
    board.stop();
  });
});
