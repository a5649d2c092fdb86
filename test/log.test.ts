/** LogSink: a pino destination over a stream that may stall or vanish. */
import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, LogSink, type SinkTarget } from "../src/log.js";

/** A stdout whose reader takes nothing until `drain()`. */
class StalledTarget extends EventEmitter implements SinkTarget {
  chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    this.writableLength += chunk.length;
    return false;
  }
  drain(): void {
    this.writableLength = 0;
    this.emit("drain");
  }
}

afterEach(() => void vi.useRealTimers());

describe("LogSink", () => {
  it("drops and counts lines past the buffer bound, says so once, and writes again once drained", () => {
    const target = new StalledTarget();
    const notices: string[] = [];
    const sink = new LogSink(target, { maxBufferedBytes: 100, onDropping: () => void notices.push("dropping") });
    const log = createLogger({ destination: sink });
    for (let i = 0; i < 50; i++) log.info({ i }, "line");
    expect(target.chunks.length).toBeGreaterThan(0);
    expect(target.chunks.length + sink.dropped).toBe(50);
    expect(target.writableLength).toBeLessThan(100 + 200);
    expect(notices).toEqual(["dropping"]);
    target.drain();
    log.info("after");
    expect(JSON.parse(target.chunks.at(-1)!)).toMatchObject({ msg: "after" });
  });

  it("discards everything once closed (stdout gone)", () => {
    const target = new StalledTarget();
    const sink = new LogSink(target);
    sink.close();
    createLogger({ destination: sink }).info("nobody reads this");
    expect(target.chunks).toEqual([]);
  });

  it("flush waits for the reader, but never longer than its timeout", async () => {
    vi.useFakeTimers();
    const target = new StalledTarget();
    const log = createLogger({ destination: new LogSink(target, { flushTimeoutMs: 2_000 }) });
    log.info("stopped");
    const drained = vi.fn();
    log.flush(drained);
    target.drain();
    expect(drained).toHaveBeenCalledTimes(1);
    log.info("stopped again");
    const gaveUp = vi.fn();
    log.flush(gaveUp);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(gaveUp).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(gaveUp).toHaveBeenCalledTimes(1);
  });
});
