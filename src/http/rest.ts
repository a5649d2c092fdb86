/**
 * REST: call history and CRM annotations, authenticated with the same tokens as the WebSocket
 * (Authorization header only: URLs end up in proxy logs). Agents see only their own calls.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Logger } from "../log.js";
import type { Authenticator, AuthedUser } from "../publish/auth.js";
import { readJsonBody, sendError, sendJson, BodyError } from "./respond.js";

export interface CallFilter {
  /** Calls with a leg of this user; null: every call (supervisors only). */
  userId: string | null;
  /** ISO-8601: calls started at or after. */
  since: string | null;
  /** Only calls this user missed (or, without a user, every missed call). */
  missed: boolean;
  limit: number;
}

export interface AnnotateBody {
  recordId?: string;
  comment?: string;
  disposition?: string;
}

export type RestResult = { ok: true; data?: unknown } | { ok: false; error: { code: string; message: string } };

export interface RestDeps {
  log: Logger;
  auth: Authenticator;
  listCalls: (filter: CallFilter) => unknown[] | Promise<unknown[]>;
  annotate: (user: AuthedUser, callId: string, body: AnnotateBody) => RestResult | Promise<RestResult>;
}

const querySchema = z
  .object({
    user: z.string().min(1).max(128).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    missed: z.enum(["0", "1", "true", "false"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const annotateSchema = z
  .object({
    recordId: z.string().min(1).max(256).optional(),
    comment: z.string().max(4000).optional(),
    disposition: z.string().min(1).max(64).optional(),
  })
  .strict()
  .refine((b) => b.recordId !== undefined || b.comment !== undefined || b.disposition !== undefined, { error: "expected recordId, comment or disposition" });

function issueText(error: z.ZodError): string {
  const i = error.issues[0];
  return `${i?.path.map(String).join(".") || "(body)"}: ${i?.message ?? "invalid"}`;
}

const ANNOTATE_PATH = /^\/api\/calls\/([^/]{1,128})\/annotate$/;

/** Handles /api/*; false when the path is not ours. */
export async function handleRest(d: RestDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const annotate = ANNOTATE_PATH.exec(url.pathname);
  if (url.pathname !== "/api/calls" && !annotate) return false;
  const method = annotate ? "POST" : "GET";
  if (req.method !== method) {
    res.setHeader("Allow", method);
    sendError(res, "bad_message", `use ${method}`, 405);
    return true;
  }
  const authed = await d.auth.authenticateRequest(req, { allowQuery: false });
  if (!authed.ok) {
    sendError(res, authed.status === 403 ? "forbidden" : "unauthorized", authed.status === 403 ? "origin not allowed" : "missing or invalid token");
    return true;
  }
  const user = authed.user;
  if (!annotate) {
    await listCalls(d, res, url, user);
    return true;
  }
  let callId: string;
  try {
    callId = decodeURIComponent(annotate[1]!);
  } catch {
    sendError(res, "invalid_argument", "bad call id");
    return true;
  }
  let body: unknown;
  try {
    body = await readJsonBody(req);
  } catch (err) {
    if (!(err instanceof BodyError)) throw err;
    sendError(res, err.code, err.message, err.status);
    return true;
  }
  const parsed = annotateSchema.safeParse(body);
  if (!parsed.success) {
    sendError(res, "invalid_argument", issueText(parsed.error));
    return true;
  }
  const result = await d.annotate(user, callId, parsed.data);
  d.log.info({ userId: user.userId, callId, ok: result.ok }, "call annotated");
  if (result.ok) sendJson(res, 200, { ok: true, ...(result.data !== undefined ? { data: result.data } : {}) });
  else sendError(res, result.error.code, result.error.message);
  return true;
}

async function listCalls(d: RestDeps, res: ServerResponse, url: URL, user: AuthedUser): Promise<void> {
  const parsed = querySchema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(res, "invalid_argument", issueText(parsed.error));
  const q = parsed.data;
  if (user.role !== "supervisor" && q.user !== undefined && q.user !== user.userId) {
    return sendError(res, "forbidden", "agents may list only their own calls");
  }
  const filter: CallFilter = {
    userId: user.role === "supervisor" ? (q.user ?? null) : user.userId,
    since: q.since ?? null,
    missed: q.missed === "1" || q.missed === "true",
    limit: q.limit,
  };
  const calls = await d.listCalls(filter);
  sendJson(res, 200, { calls });
}
