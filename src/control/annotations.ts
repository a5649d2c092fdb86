/**
 * CRM annotations of a call (`call.annotate` over the WebSocket, `POST /api/calls/:id/annotate`):
 * one rule for both paths and for live and ended calls alike. Only a party of the call (a user
 * with a leg in it, or the user who placed it) or a supervisor may annotate or read the
 * history; a refusal stores and publishes nothing. Every annotation is kept (who, when, what);
 * the call carries the merge: an absent field keeps its value, `null` clears it.
 */
import type { Annotation, AnnotationEntry, AnnotationPatch, Call, Leg } from "../calls/model.js";

export interface AnnotatingUser {
  userId: string;
  role: "agent" | "supervisor";
}

export type AnnotateResult =
  | { ok: true; annotation: Annotation }
  | { ok: false; code: "not_found" | "forbidden"; message: string };
export type HistoryResult = { ok: true; annotations: AnnotationEntry[] } | { ok: false; code: "not_found" | "forbidden"; message: string };

type CallView = Pick<Call, "from" | "annotation"> & { legs: readonly Pick<Leg, "userId">[] };

export interface AnnotationDeps {
  /** The call while the tracker holds it (running, or ended a short while ago). */
  liveCall(callId: string): CallView | undefined;
  /** Apply the merged annotation to the live call (publishes `call.updated`). */
  applyLive(callId: string, annotation: Annotation): void;
  store: {
    get(callId: string): CallView | null;
    annotate(callId: string, entry: AnnotationEntry, merged: Annotation): boolean;
    annotations(callId: string): AnnotationEntry[];
  };
  now: () => number;
}

const FIELDS = ["recordId", "comment", "disposition"] as const;

/** The merge rule: a field absent from the patch keeps its value, null clears it, a string sets it. */
export function mergeAnnotation(prev: Annotation | null, patch: AnnotationPatch, by: string, at: string): Annotation {
  const out: Annotation = { by, at };
  for (const f of FIELDS) {
    const v = Object.hasOwn(patch, f) ? patch[f] : prev?.[f];
    if (typeof v === "string") out[f] = v;
  }
  return out;
}

/** A party of the call: a leg of this user, or the user who placed it (our own caller). */
export function isCallParty(call: CallView, userId: string): boolean {
  return call.legs.some((l) => l.userId === userId) || call.from.userId === userId;
}

export function createAnnotations(d: AnnotationDeps) {
  /** The call as far as we know it, and whether this user may touch it. */
  function check(user: AnnotatingUser, callId: string) {
    const live = d.liveCall(callId);
    const stored = d.store.get(callId);
    if (!live && !stored) return { ok: false as const, code: "not_found" as const, message: "no such call" };
    const party = (live !== undefined && isCallParty(live, user.userId)) || (stored !== null && isCallParty(stored, user.userId));
    if (!party && user.role !== "supervisor") return { ok: false as const, code: "forbidden" as const, message: "not a call of this user" };
    return { ok: true as const, live, stored };
  }

  return {
    annotate(user: AnnotatingUser, callId: string, patch: AnnotationPatch): AnnotateResult {
      const c = check(user, callId);
      if (!c.ok) return c;
      const at = new Date(d.now()).toISOString();
      // A call rebuilt after a restart has no annotation in memory: the stored one is the base.
      const merged = mergeAnnotation(c.live?.annotation ?? c.stored?.annotation ?? null, patch, user.userId, at);
      d.store.annotate(callId, { ...patch, by: user.userId, at }, merged);
      if (c.live) d.applyLive(callId, merged);
      return { ok: true, annotation: merged };
    },
    history(user: AnnotatingUser, callId: string): HistoryResult {
      const c = check(user, callId);
      return c.ok ? { ok: true, annotations: d.store.annotations(callId) } : c;
    },
  };
}

export type Annotations = ReturnType<typeof createAnnotations>;
