/**
 * The signature scheme, and the receiver's verification exactly as docs/webhooks.md prints it
 * (the doc's code block is extracted and run here, so the doc cannot drift).
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { retryDelay } from "../../src/webhooks/deliver.js";
import { signatureHeader, verifySignature } from "../../src/webhooks/signature.js";

const SECRET = "whsec-0123456789abcdef";
const BODY = '{"id":"5f0c","type":"call.ended","ts":"2026-11-30T10:00:00.000Z","webhook":"crm","call":{"callId":"c1"}}';

describe("X-Ctibridge-Signature", () => {
  it("is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>", () => {
    const h = signatureHeader(SECRET, BODY, 1_790_000_000);
    expect(h).toBe(`t=1790000000,v1=${createHmac("sha256", SECRET).update(`1790000000.${BODY}`).digest("hex")}`);
  });

  it("verifies: good, tampered body, wrong secret, replayed too late, from the future, malformed", () => {
    const h = signatureHeader(SECRET, BODY, 1_790_000_000);
    expect(verifySignature(SECRET, BODY, h, 1_790_000_100)).toEqual({ ok: true, t: 1_790_000_000 });
    expect(verifySignature(SECRET, BODY.replace("c1", "c2"), h, 1_790_000_100)).toEqual({ ok: false, reason: "bad_signature" });
    expect(verifySignature("another-secret-0123", BODY, h, 1_790_000_100)).toEqual({ ok: false, reason: "bad_signature" });
    expect(verifySignature(SECRET, BODY, h, 1_790_000_301)).toEqual({ ok: false, reason: "too_old" });
    expect(verifySignature(SECRET, BODY, h, 1_789_999_699)).toEqual({ ok: false, reason: "in_future" });
    for (const bad of [undefined, "", "t=1,v1=zz", "v1=" + "a".repeat(64), "t=x,v1=" + "a".repeat(64)]) expect(verifySignature(SECRET, BODY, bad, 1)).toEqual({ ok: false, reason: "malformed" });
  });

  it("the verification example in docs/webhooks.md accepts a real signature and refuses a replay and a forgery", async () => {
    const doc = readFileSync(join(import.meta.dirname, "../../docs/webhooks.md"), "utf8");
    const block = /```js verify\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    // The doc's module: `export function verifyCtibridge(rawBody, header, secret, nowSeconds)`.
    const url = `data:text/javascript;base64,${Buffer.from(block!).toString("base64")}`;
    const { verifyCtibridge } = (await import(/* @vite-ignore */ url)) as { verifyCtibridge: (b: string, h: string | undefined, s: string, now?: number) => boolean };
    const now = Math.floor(Date.now() / 1000);
    expect(verifyCtibridge(BODY, signatureHeader(SECRET, BODY, now), SECRET)).toBe(true);
    expect(verifyCtibridge(BODY, signatureHeader(SECRET, BODY, now - 301), SECRET)).toBe(false);
    expect(verifyCtibridge(BODY + " ", signatureHeader(SECRET, BODY, now), SECRET)).toBe(false);
    expect(verifyCtibridge(BODY, signatureHeader("wrong-secret-0123456", BODY, now), SECRET)).toBe(false);
    expect(verifyCtibridge(BODY, undefined, SECRET)).toBe(false);
  });
});

describe("retry schedule", () => {
  it("doubles from minDelayMs, capped at maxDelayMs, ±20 % jitter; the defaults retry for 24 h in 36 attempts", () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, 1000, 10_000, mid))).toEqual([1000, 2000, 4000, 8000, 10_000]);
    expect(retryDelay(1, 1000, 10_000, () => 0)).toBe(800);
    expect(retryDelay(1, 1000, 10_000, () => 1)).toBe(1200);
    expect(retryDelay(500, 1000, 3_600_000, mid)).toBe(3_600_000);
    let t = 0;
    let attempts = 1;
    while (t < 24 * 3_600_000) t += retryDelay(attempts++, 1000, 3_600_000, mid);
    expect(attempts).toBeLessThan(100); // the default maxAttempts never cuts the 24 h short
    expect(attempts).toBe(36);
  });
});
