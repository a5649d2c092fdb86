import { describe, expect, it } from "vitest";
import { ClientQueue, type SocketLike } from "../../src/publish/clientQueue.js";

/** A socket whose buffer only drains when the test says so. */
class FakeSocket implements SocketLike {
  bufferedAmount = 0;
  readyState = 1;
  written: string[] = [];
  private cbs: (() => void)[] = [];
  send(data: string, cb?: () => void): void {
    this.written.push(data);
    this.bufferedAmount += data.length;
    if (cb) this.cbs.push(cb);
  }
  drain(): void {
    this.bufferedAmount = 0;
    const cbs = this.cbs;
    this.cbs = [];
    for (const cb of cbs) cb();
  }
}

const msg = (type: string, callId: string, n: number) => JSON.stringify({ type, callId, n }).padEnd(100, " ");

describe("ClientQueue", () => {
  it("queues while the socket is over the bound and coalesces only call.updated per call", () => {
    const s = new FakeSocket();
    let overflow = 0;
    const q = new ClientQueue(s, { maxBufferedBytes: 150, maxQueuedBytes: 10_000, onOverflow: () => overflow++ });
    q.send(msg("call.ringing", "a", 1), "call.ringing", "a");
    q.send(msg("call.updated", "a", 2), "call.updated", "a");
    expect(s.written).toHaveLength(2);
    q.send(msg("call.updated", "a", 3), "call.updated", "a");
    q.send(msg("call.updated", "b", 4), "call.updated", "b");
    q.send(msg("call.ended", "a", 5), "call.ended", "a");
    q.send(msg("call.updated", "a", 6), "call.updated", "a");
    q.send(msg("call.missed", "a", 7), "call.missed", "a");
    expect(q.queuedCount).toBe(4);
    for (let i = 0; i < 10 && q.queuedCount > 0; i++) s.drain();
    expect(s.written.map((w) => JSON.parse(w).n)).toEqual([1, 2, 4, 5, 6, 7]);
    expect(overflow).toBe(0);
  });

  it("reports an overflow once and drops everything queued", () => {
    const s = new FakeSocket();
    let overflow = 0;
    const q = new ClientQueue(s, { maxBufferedBytes: 100, maxQueuedBytes: 250, onOverflow: () => overflow++ });
    for (let i = 0; i < 10; i++) q.send(msg("call.held", `c${i}`, i), "call.held", `c${i}`);
    expect(overflow).toBe(1);
    expect(q.queuedCount).toBe(0);
    expect(s.written).toHaveLength(1);
  });
});
