/**
 * REST: call history and CRM annotations, authenticated with the same tokens as the WebSocket
 * (Authorization header only: URLs end up in proxy logs). A call looks here exactly as in the
 * WebSocket call snapshot, narrowed by the same rule (routing.ts `viewOf`): agents see only
 * their own calls and legs, supervisors everything.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { AnnotationEntry, AnnotationPatch } from "../calls/model.js";
import { annotationBody, doneBody } from "../control/args.js";
import type { DoneResult } from "../control/done.js";
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
  /** With `missed`: only missed legs not yet done. */
  open: boolean;
  limit: number;
  /** Paging back: calls older than this position (newest-first order). */
  before: { startedAt: string; callId: string | null } | null;
}

/** The `next` cursor of a call listing: opaque to clients (base64url of start time and callId). */
export function encodeCursor(startedAt: string, callId: string): string {
  return Buffer.from(`${startedAt}\n${callId}`, "utf8").toString("base64url");
}

/** A `before` value: an ISO date-time, or a cursor from `next`; null when it is neither. */
export function decodeBefore(v: string): { startedAt: string; callId: string | null } | null {
  if (z.iso.datetime({ offset: true }).safeParse(v).success) return { startedAt: new Date(v).toISOString(), callId: null };
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(v)) return null;
  const text = Buffer.from(v, "base64url").toString("utf8");
  const nl = text.indexOf("\n");
  if (nl < 0) return null;
  const startedAt = text.slice(0, nl);
  const callId = text.slice(nl + 1);
  if (!z.iso.datetime().safeParse(startedAt).success || callId === "" || callId.length > 128) return null;
  return { startedAt, callId };
}

/** An absent field keeps its stored value, null clears it. */
export type AnnotateBody = AnnotationPatch;

export type RestDone = DoneResult | { ok: false; code: string; message: string };

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
  /** `POST /api/calls/:id/done` (control/done.ts; a cluster gateway: the owning PBX's worker, which may not answer). */
  markDone?: (user: AuthedUser, callId: string, target?: string) => RestDone | Promise<RestDone>;
  /** `GET /api/queues` (supervisors): the board's queues. */
  queues?: () => unknown;
  /** `GET /api/directory`: every user, names and devices only. */
  directory?: () => { id: string; name: string; role: string; devices: string[]; extensions: string[] }[];
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
    open: z.enum(["0", "1", "true", "false"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    before: z.string().max(400).optional(),
  })
  .strict();

function issueText(error: z.ZodError): string {
  const i = error.issues[0];
  return `${i?.path.map(String).join(".") || "(body)"}: ${i?.message ?? "invalid"}`;
}

const CALL_PATH = /^\/api\/calls\/([^/]{1,128})\/(annotate|annotations|done)$/;
const BOARD_PATHS = new Set(["/api/queues", "/api/directory"]);

/** Handles /api/*; false when the path is not ours. */
export async function handleRest(d: RestDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const sub = CALL_PATH.exec(url.pathname);
  const board = BOARD_PATHS.has(url.pathname) && (url.pathname === "/api/queues" ? d.queues : d.directory) !== undefined;
  if (url.pathname !== "/api/calls" && !sub && !board) return false;
  const method = sub?.[2] === "annotate" || sub?.[2] === "done" ? "POST" : "GET";
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
  if (url.pathname === "/api/queues") {
    if (user.role !== "supervisor") sendError(res, "forbidden", "the queue board is for supervisors");
    else sendJson(res, 200, d.queues!());
    return true;
  }
  if (url.pathname === "/api/directory") {
    sendJson(res, 200, { users: d.directory!() });
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
  if (sub[2] === "done") {
    const p = doneBody.safeParse(body);
    if (!p.success) sendError(res, "invalid_argument", issueText(p.error));
    else if (!d.markDone) sendError(res, "not_found", "no such endpoint");
    else {
      const r = await d.markDone(user, callId, p.data.user);
      d.log.info({ userId: user.userId, callId, ok: r.ok, code: r.ok ? undefined : r.code }, "call marked done");
      if (r.ok) sendJson(res, 200, { ok: true, data: { callId: r.callId, users: r.users, doneAt: r.doneAt } });
      else sendError(res, r.code, r.message);
    }
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
  const before = q.before === undefined ? null : decodeBefore(q.before);
  if (q.before !== undefined && before === null) return sendError(res, "invalid_argument", "before: expected an ISO date-time or the next cursor of a listing");
  const filter: CallFilter = {
    userId: user.role === "supervisor" ? (q.user ?? null) : user.userId,
    since: q.since ?? null,
    missed: q.missed === "1" || q.missed === "true",
    open: q.open === "1" || q.open === "true",
    limit: q.limit,
    before,
  };
  const viewer = { id: "rest", userId: user.userId, role: user.role, scope: defaultScope(user.role) };
  const listed = await d.listCalls(filter);
  const calls = listed.flatMap((c) => viewOf(viewer, c) ?? []);
  const last = listed.at(-1);
  const next = listed.length === q.limit && last !== undefined ? encodeCursor(last.times.started, last.callId) : null;
  sendJson(res, 200, { calls, next });
}
