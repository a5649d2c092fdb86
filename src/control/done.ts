/**
 * Missed calls "done" (`call.done` over the WebSocket, `POST /api/calls/:id/done`): one rule for
 * both paths, the annotation rule's parties. A party of the call closes her own missed leg; a
 * supervisor closes the leg of the `user` she names, else her own when she has one, else every
 * open missed leg of the call. Each leg closed now becomes one `call.done` frame.
 */
import type { Call, Leg } from "../calls/model.js";
import { isCallParty, type AnnotatingUser } from "./annotations.js";

export type DoneResult =
  | { ok: true; callId: string; users: string[]; doneAt: string }
  | { ok: false; code: "not_found" | "forbidden" | "invalid_state"; message: string };

export interface DoneDeps {
  store: {
    get(callId: string): (Pick<Call, "from" | "queue" | "annotation"> & { legs: readonly (Pick<Leg, "userId" | "outcome"> & { done: boolean })[] }) | null;
    markOpenDone(callId: string, userIds: readonly string[] | null, at: string): string[];
  };
  /** One closed leg → its `call.done` frame. */
  published(d: { userId: string; callId: string; queue: string | null; doneAt: string; by: string; reason: "marked" }): void;
  now: () => number;
}

type DoneCall = NonNullable<ReturnType<DoneDeps["store"]["get"]>>;

/** The rule: whose missed legs `user` may close on `call` (null: every open one), or why not. */
export function doneTargets(user: AnnotatingUser, call: DoneCall | null, target?: string): { ok: true; users: string[] | null } | Extract<DoneResult, { ok: false }> {
  if (call === null) return { ok: false, code: "not_found", message: "no such call" };
  const party = isCallParty(call, user.userId);
  if (user.role !== "supervisor") {
    if (!party) return { ok: false, code: "forbidden", message: "not a call of this user" };
    if (target !== undefined && target !== user.userId) return { ok: false, code: "forbidden", message: "agents may mark only their own missed calls" };
  }
  const ownMissed = call.legs.some((l) => l.userId === user.userId && l.outcome === "missed");
  return { ok: true, users: target !== undefined ? [target] : user.role === "supervisor" && !ownMissed ? null : [user.userId] };
}

export function createDoneMarker(d: DoneDeps) {
  return function markDone(user: AnnotatingUser, callId: string, target?: string): DoneResult {
    const call = d.store.get(callId);
    const t = doneTargets(user, call, target);
    if (!t.ok) return t;
    const users = t.users;
    const doneAt = new Date(d.now()).toISOString();
    const marked = d.store.markOpenDone(callId, users, doneAt);
    if (marked.length === 0) return { ok: false, code: "invalid_state", message: "no open missed call to mark done" };
    for (const u of marked) d.published({ userId: u, callId, queue: call!.queue, doneAt, by: user.userId, reason: "marked" });
    return { ok: true, callId, users: marked, doneAt };
  };
}

export type MarkDone = ReturnType<typeof createDoneMarker>;
