import { afterEach, describe, expect, it } from "vitest";
import { event, leg, makeCall } from "../helpers/calls.js";
import { startHarness, type Harness } from "../helpers/cti.js";

let h: Harness;
afterEach(async () => h?.close());

describe("slow consumers", () => {
  it("closes a paused client with 4008 while a healthy one gets every event", async () => {
    h = await startHarness({ server: { maxBufferedBytes: 256 * 1024 } });
    const token = await h.sign("alice");
    const slow = h.connect(token);
    const healthy = h.connect(token);
    await Promise.all([slow.ready(), healthy.ready()]);
    // Stop reading: the kernel buffers fill, then the server's bufferedAmount grows.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const big = "x".repeat(16 * 1024);
    const slowClosed = () => h.logs.some((l) => l.msg === "slow client closed");
    // Small bursts with a turn of the event loop between them, as AMI traffic arrives; how much
    // the loopback kernel buffers absorb varies, so publish until the server gives up on `slow`.
    let n = 0;
    for (let batch = 0; batch < 1000 && !slowClosed(); batch++) {
      for (let i = 0; i < 4; i++, n++) {
        const call = makeCall({ callId: `slow-${n}`, legs: [leg("alice", "PJSIP/1001")], ivr: { BLOB: big } });
        h.cti.publish(event("callHeld", "alice", call));
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(slowClosed()).toBe(true);
    const N = n;
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await slow.closed).code).toBe(4008);
    await healthy.sync();
    const got = healthy.messages.filter((m) => m.type === "call.held").map((m) => m.call.callId);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `slow-${i}`));
    expect(slow.messages.length).toBeLessThan(N);
    expect(await h.registry.metrics()).toContain("ctibridge_ws_slow_client_closes_total 1");
  });
});
