/**
 * Client → server messages, validated with zod. A frame that fails here gets an `error`
 * reply and the connection stays open: one bad frame from a buggy tab is not worth a reconnect.
 */
import { z } from "zod";
import type { ErrorCode } from "./protocol.js";

const id = z.string().min(1).max(128);

export const incomingSchemas = {
  resume: z.object({ type: z.literal("resume"), afterSeq: z.number().int().min(0) }).strict(),
  claim: z.object({ type: z.literal("claim"), callId: id }).strict(),
  subscribe: z
    .object({
      type: z.literal("subscribe"),
      users: z.array(id).max(1000).optional(),
      queues: z.array(id).max(1000).optional(),
    })
    .strict(),
  command: z
    .object({
      type: z.literal("command"),
      id,
      action: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/),
      args: z.unknown().optional(),
    })
    .strict(),
  ping: z.object({ type: z.literal("ping") }).strict(),
} as const;

export type IncomingType = keyof typeof incomingSchemas;
export type IncomingMessage = { [K in IncomingType]: z.infer<(typeof incomingSchemas)[K]> }[IncomingType];

export type ParseResult = { ok: true; message: IncomingMessage } | { ok: false; code: ErrorCode; message: string; ref?: string };

function isIncomingType(t: unknown): t is IncomingType {
  return typeof t === "string" && Object.hasOwn(incomingSchemas, t);
}

/** Parse one text frame. Never throws. */
export function parseIncoming(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: "bad_message", message: "not valid JSON" };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, code: "bad_message", message: "expected a JSON object" };
  }
  const obj = raw as Record<string, unknown>;
  const ref = typeof obj.id === "string" ? obj.id : undefined;
  if (!isIncomingType(obj.type)) {
    return { ok: false, code: "unknown_type", message: `unknown message type ${JSON.stringify(obj.type ?? null).slice(0, 64)}`, ref };
  }
  const result = incomingSchemas[obj.type].safeParse(obj);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.map(String).join(".") || "(message)";
    return { ok: false, code: "invalid_argument", message: `${where}: ${issue?.message ?? "invalid"}`, ref };
  }
  return { ok: true, message: result.data as IncomingMessage };
}
