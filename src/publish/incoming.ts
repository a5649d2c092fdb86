/**
 * Client → server messages, validated with their zod schemas (schema.ts). A frame that fails
 * here gets an `error` reply and the connection stays open: one bad frame from a buggy tab is
 * not worth a reconnect.
 */
import { clientSchemas as incomingSchemas, type ClientMessage, type ClientMessageType, type ErrorCode } from "./schema.js";

export { incomingSchemas };
export type IncomingType = ClientMessageType;
export type IncomingMessage = ClientMessage;

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
