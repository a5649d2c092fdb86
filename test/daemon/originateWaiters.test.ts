import { afterEach, describe, expect, it, vi } from "vitest";
import { OriginateWaiters } from "../../src/roles/daemonSupport.js";

afterEach(() => vi.useRealTimers());

describe("OriginateWaiters", () => {
  it("resolves a waiter when its OriginateResponse comes", async () => {
    const w = new OriginateWaiters();
    const p = w.wait("c1", 1000);
    w.settle("c1", false, "5");
    await expect(p).resolves.toEqual({ ok: false, reason: "5" });
  });

  it("keeps an outcome that arrived before the wait (same read as the Response)", async () => {
    const w = new OriginateWaiters();
    w.settle("c2", true, "4");
    await expect(w.wait("c2", 1000)).resolves.toEqual({ ok: true, reason: "4" });
  });

  it("gives up after the timeout, and clear() fails whoever still waits", async () => {
    vi.useFakeTimers();
    const w = new OriginateWaiters();
    const late = w.wait("c3", 1000);
    vi.advanceTimersByTime(1000);
    await expect(late).resolves.toEqual({ ok: true, reason: "no response" });
    const pending = w.wait("c4", 1000);
    w.clear();
    await expect(pending).resolves.toEqual({ ok: false, reason: "shutting down" });
  });
});
