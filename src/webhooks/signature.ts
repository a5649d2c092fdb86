/**
 * `X-Ctibridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`
 * (the Stripe scheme). `verifySignature` is what a receiver runs (docs/webhooks.md shows it
 * standalone): constant-time compare, and a replay window on `t`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-ctibridge-signature";

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export type VerifyResult = { ok: true; t: number } | { ok: false; reason: "malformed" | "bad_signature" | "too_old" | "in_future" };

/** Check a signature header against the raw body; `toleranceSeconds` bounds the age (and the clock skew). */
export function verifySignature(secret: string, body: string, header: string | undefined, nowSeconds: number, toleranceSeconds = 300): VerifyResult {
  const parts = new Map((header ?? "").split(",").map((kv) => kv.trim().split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1");
  if (!Number.isInteger(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return { ok: false, reason: "malformed" };
  const want = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  if (!timingSafeEqual(want, Buffer.from(v1, "hex"))) return { ok: false, reason: "bad_signature" };
  if (nowSeconds - t > toleranceSeconds) return { ok: false, reason: "too_old" };
  if (t - nowSeconds > toleranceSeconds) return { ok: false, reason: "in_future" };
  return { ok: true, t };
}
