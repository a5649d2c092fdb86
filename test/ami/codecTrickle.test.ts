/**
 * A large message trickling in one byte per read (found by `npm run fuzz`: 64 KiB values fed
 * in 1-byte chunks were its slowest cases): the decoder must not search or move the whole
 * unfinished tail again on every read. Counted in bytes touched, not in time.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { AmiDecoder } from "../../src/ami/codec.js";

afterEach(() => vi.restoreAllMocks());

describe("AmiDecoder with a long message in tiny reads", () => {
  it("touches each byte a bounded number of times (linear, not quadratic)", () => {
    const size = 64 * 1024;
    const msg = Buffer.from(`Event: Newchannel\r\nCallerIDName: ${"9".repeat(size)}\r\nUniqueid: 1.1\r\n\r\n`);
    let touched = 0;
    const indexOf = Buffer.prototype.indexOf;
    vi.spyOn(Buffer.prototype, "indexOf").mockImplementation(function (this: Buffer, value: any, from?: any, enc?: any) {
      const r = indexOf.call(this, value, from, enc);
      touched += (r < 0 ? this.length : r) - (typeof from === "number" ? from : 0);
      return r;
    });
    const copyWithin = Uint8Array.prototype.copyWithin;
    vi.spyOn(Uint8Array.prototype, "copyWithin").mockImplementation(function (this: Uint8Array, target: number, start: number, end?: number) {
      touched += (end ?? this.length) - start;
      return copyWithin.call(this, target, start, end);
    });
    const d = new AmiDecoder({ expectBanner: false, now: () => 1 });
    const out = [];
    for (let i = 0; i < msg.length; i++) out.push(...d.push(msg.subarray(i, i + 1)));
    expect(out).toHaveLength(1);
    expect(out[0]!.get("CallerIDName")).toHaveLength(size);
    expect(out[0]!.get("Uniqueid")).toBe("1.1");
    // Before the fix: ~size²/2 (2.1e9) bytes searched and moved; now a few per byte.
    expect(touched).toBeLessThan(10 * msg.length);
  });
});
