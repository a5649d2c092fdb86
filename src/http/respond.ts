/** Small JSON helpers for the HTTP side: bounded body reading, one error shape everywhere. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ERROR_CODES, type ErrorCode } from "../publish/protocol.js";

export const MAX_BODY_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(text);
}

/** `{ error: { code, message } }` with the status the code table gives (400 for codes it lacks). */
export function sendError(res: ServerResponse, code: string, message: string, status?: number): void {
  sendJson(res, status ?? (ERROR_CODES as Record<string, number>)[code] ?? 400, { error: { code, message } });
}

export class BodyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "BodyError";
  }
}

/** Read and parse a JSON body, refusing more than MAX_BODY_BYTES (413) and bad JSON (400). */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new BodyError("invalid_argument", "body too large", 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyError("invalid_argument", "body too large", 413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new BodyError("bad_message", "expected a JSON body", 400);
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError("bad_message", "body is not valid JSON", 400);
  }
}
