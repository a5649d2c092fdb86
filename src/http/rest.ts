/**
 * REST: call history and CRM annotations, authenticated with the same tokens as the WebSocket
 * (Authorization header only: URLs end up in proxy logs). A call looks here exactly as in the
 * WebSocket call snapshot, narrowed by the same rule (routing.ts `viewOf`): agents see only
 * their own calls and legs, supervisors everything.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { AnnotationEntry, AnnotationPatch } from "../calls/model.js";
import { annotationBody } from "../control/args.js";
import type { Logger } from "../log.js";
import { TokenBucket } from "../tokenBucket.js";
import type { Authenticator, AuthedUser } from "../publish/auth.js";
import type { CallSnapshot } from "../publish/protocol.js";
import { defaultScope, viewOf } from "../publish/routing.js";
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

/** An absent field keeps its stored value, null clears it. */
export type AnnotateBody = AnnotationPatch;

export type RestResult<T = unknown> = { ok: true; data?: T } | { ok: false; error: { code: string; message: string } };

export interface RestDeps {
  log: Logger;
  auth: Authenticator;
  /** Stored calls as WebSocket call snapshots (popUrl rendered), every leg: REST narrows them. */
  listCalls: (filter: CallFilter) => CallSnapshot[] | Promise<CallSnapshot[]>;
  annotate: (user: AuthedUser, callId: string, body: AnnotateBody) => RestResult | Promise<RestResult>;
  /** The annotation history of a call, oldest first (parties and supervisors only). */
  annotations: (user: AuthedUser, callId: string) => RestResult<AnnotationEntry[]> | Promise<RestResult<AnnotationEntry[]>>;
  /** Per-user request budget (the WebSocket frame budget's rates): false = refused. */
  budget?: (userId: string, cost: number) => boolean;
  /** What a call listing costs of the budget (`server.limits.resyncCost`). */
  listCost?: number;
}

/**
 * One token bucket per user for REST, with the rates of the WebSocket frame budget
 * (`server.limits`: `frameBurst`, `framesPerSecond`; a call listing costs `resyncCost`, like a
 * WebSocket resync). Full buckets are forgotten once there are many, so the map stays small.
 */
export function restBudget(limits: { frameBurst: number; framesPerSecond: number }, now: () => number): (userId: string, cost: number) => boolean {
  const buckets = new Map<string, TokenBucket>();
  return (userId, cost) => {
    const t = now();
    let b = buckets.get(userId);
    if (!b) {
      if (buckets.size >= 10_000) for (const [id, other] of buckets) if (other.full(t)) buckets.delete(id);
      buckets.set(userId, (b = new TokenBucket(limits.frameBurst, limits.framesPerSecond, t)));
    }
    return b.take(cost, t);
  };
}

const querySchema = z
  .object({
    user: z.string().min(1).max(128).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    missed: z.enum(["0", "1", "true", "false"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

function issueText(error: z.ZodError): string {
  const i = error.issues[0];
  return `${i?.path.map(String).join(".") || "(body)"}: ${i?.message ?? "invalid"}`;
}

const CALL_PATH = /^\/api\/calls\/([^/]{1,128})\/(annotate|annotations)$/;

/** Handles /api/*; false when the path is not ours. */
export async function handleRest(d: RestDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const sub = CALL_PATH.exec(url.pathname);
  if (url.pathname !== "/api/calls" && !sub) return false;
  const method = sub?.[2] === "annotate" ? "POST" : "GET";
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
  if (d.budget && !d.budget(user.userId, sub ? 1 : (d.listCost ?? 1))) {
    sendError(res, "rate_limited", "too many requests: slow down");
    return true;
  }
  if (!sub) {
    await listCalls(d, res, url, user);
    return true;
  }
  let callId: string;
  try {
    callId = decodeURIComponent(sub[1]!);
  } catch {
    sendError(res, "invalid_argument", "bad call id");
    return true;
  }
  if (sub[2] === "annotations") {
    const r = await d.annotations(user, callId);
    if (r.ok) sendJson(res, 200, { annotations: r.data ?? [] });
    else sendError(res, r.error.code, r.error.message);
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
  const parsed = annotationBody.safeParse(body);
  if (!parsed.success) {
    sendError(res, "invalid_argument", issueText(parsed.error));
    return true;
  }
  const result = await d.annotate(user, callId, parsed.data);
  d.log.info({ userId: user.userId, callId, ok: result.ok, code: result.ok ? undefined : result.error.code }, "call annotated");
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
  const viewer = { id: "rest", userId: user.userId, role: user.role, scope: defaultScope(user.role) };
  const calls = (await d.listCalls(filter)).flatMap((c) => viewOf(viewer, c) ?? []);
  sendJson(res, 200, { calls });
}
