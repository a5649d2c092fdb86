/**
 * Validation against the protocol schema (src/publish/schema.ts) for tests: every frame a
 * client received, every call REST returned. Strict objects: an unknown field fails too.
 */
import type { z } from "zod";
import { call, serverMessage } from "../../src/publish/schema.js";

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}${"keys" in i ? ` ${JSON.stringify(i.keys)}` : ""}`)
    .join("; ");
}

/** `who type: problem` for each frame that does not validate; empty when all do. */
export function invalidFrames(who: string, frames: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    const r = serverMessage.safeParse(f);
    if (!r.success) out.push(`${who} ${(f as { type?: unknown }).type}: ${describe(r.error)}`);
  }
  return out;
}

/** The same for call objects (REST `GET /api/calls`). */
export function invalidCalls(who: string, calls: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const c of calls) {
    const r = call.safeParse(c);
    if (!r.success) out.push(`${who} ${(c as { callId?: unknown }).callId}: ${describe(r.error)}`);
  }
  return out;
}
