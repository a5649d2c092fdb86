/**
 * Who receives what, decided by the server from the authenticated user (never from a
 * client-chosen extension). Indexes keep publish() proportional to the recipients of one
 * event: a user's own connections, plus the supervisors watching that user, queue or all.
 */
import type { Role } from "./apiTokens.js";
import type { JournalEntry } from "./journal.js";
import { narrow, type CallSnapshot } from "./protocol.js";

/** `own`: agents (their legs only); `all`: a supervisor's default; `filter`: a narrowed supervisor. */
export type Scope = { kind: "own" } | { kind: "all" } | { kind: "filter"; users: ReadonlySet<string>; queues: ReadonlySet<string> };

/** What a user sees before narrowing anything: agents their own legs, supervisors everything. */
export function defaultScope(role: Role): Scope {
  return role === "supervisor" ? { kind: "all" } : { kind: "own" };
}

export interface Routable {
  readonly id: string;
  readonly userId: string;
  readonly role: Role;
  scope: Scope;
}

type Leg = CallSnapshot["legs"][number];

/** Narrowing is a subset check: a client may give up views, never gain them. */
export function canNarrow(current: Scope, next: Scope): boolean {
  if (current.kind === "all") return true;
  if (current.kind === "own") return next.kind === "own";
  if (next.kind !== "filter") return false;
  for (const u of next.users) if (!current.users.has(u)) return false;
  for (const q of next.queues) if (!current.queues.has(q)) return false;
  return true;
}

/** The legs of a call this client may see; null: every leg. */
export function legFilter(c: Routable, call: CallSnapshot): ((leg: Leg) => boolean) | null {
  const s = c.scope;
  if (s.kind === "all") return null;
  if (s.kind === "own") return (l) => l.userId === c.userId;
  if (call.queue !== null && s.queues.has(call.queue)) return null;
  return (l) => l.userId === c.userId || (l.userId !== null && s.users.has(l.userId));
}

/** Whether an active call belongs in this client's snapshot. */
export function seesCall(c: Routable, call: CallSnapshot): boolean {
  const keep = legFilter(c, call);
  return keep === null || call.legs.some(keep);
}

/**
 * What a viewer may see of a call: null when nothing, else the call with only the legs they
 * may see. The one rule for the WebSocket snapshot and the REST history (live events use the
 * same legFilter on the recipients the Router chose).
 */
export function viewOf(c: Routable, call: CallSnapshot): CallSnapshot | null {
  const keep = legFilter(c, call);
  if (keep !== null && !call.legs.some(keep)) return null;
  return narrow(call, keep);
}

/** Whether a journaled message was meant for this client (the replay twin of Router.targets). */
export function wants(c: Routable, e: JournalEntry): boolean {
  const s = c.scope;
  if (e.kind === "pbx") return true;
  if (e.userId === c.userId) return true;
  if (e.kind === "call" && e.userId === null) return s.kind === "all" || (s.kind === "filter" && e.queue !== null && s.queues.has(e.queue));
  if (s.kind === "filter" && e.userId !== null && s.users.has(e.userId)) return true;
  if (e.kind === "agent") return s.kind === "all" || (s.kind === "filter" && e.state.queues.some((q) => s.queues.has(q.queue)));
  if (e.kind === "done") return s.kind === "all" || (s.kind === "filter" && e.queue !== null && s.queues.has(e.queue));
  return false;
}

function addTo<C>(map: Map<string, Set<C>>, key: string, c: C): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(c);
}

function removeFrom<C>(map: Map<string, Set<C>>, key: string, c: C): void {
  const set = map.get(key);
  if (set?.delete(c) && set.size === 0) map.delete(key);
}

export class Router<C extends Routable> {
  private readonly byUser = new Map<string, Set<C>>();
  private readonly all = new Set<C>();
  private readonly userWatch = new Map<string, Set<C>>();
  private readonly queueWatch = new Map<string, Set<C>>();
  private readonly every = new Set<C>();

  add(c: C): void {
    this.every.add(c);
    addTo(this.byUser, c.userId, c);
    this.index(c);
  }

  remove(c: C): void {
    this.every.delete(c);
    removeFrom(this.byUser, c.userId, c);
    this.unindex(c);
  }

  setScope(c: C, scope: Scope): void {
    this.unindex(c);
    c.scope = scope;
    this.index(c);
  }

  connectionsOf(userId: string): ReadonlySet<C> {
    return this.byUser.get(userId) ?? new Set();
  }

  connections(): ReadonlySet<C> {
    return this.every;
  }

  /** Supervisors who see this queue (default scope, or a filter naming it): the `queue.state` audience. */
  queueWatchers(queue: string): C[] {
    const out = new Set<C>(this.all);
    for (const c of this.queueWatch.get(queue) ?? []) out.add(c);
    return [...out].filter((c) => c.role === "supervisor");
  }

  /** The clients a new journal entry goes to, each once. */
  targets(e: JournalEntry): C[] {
    if (e.kind === "pbx") return [...this.every];
    const out = new Set<C>();
    if (e.kind === "call" && e.userId === null) {
      for (const c of this.all) out.add(c);
      if (e.queue !== null) for (const c of this.queueWatch.get(e.queue) ?? []) out.add(c);
      return [...out];
    }
    const userId = e.userId as string;
    for (const c of this.byUser.get(userId) ?? []) out.add(c);
    for (const c of this.userWatch.get(userId) ?? []) out.add(c);
    if (e.kind === "agent") {
      for (const c of this.all) out.add(c);
      for (const q of e.state.queues) for (const c of this.queueWatch.get(q.queue) ?? []) out.add(c);
    }
    if (e.kind === "done") {
      for (const c of this.all) out.add(c);
      if (e.queue !== null) for (const c of this.queueWatch.get(e.queue) ?? []) out.add(c);
    }
    return [...out];
  }

  private index(c: C): void {
    const s = c.scope;
    if (s.kind === "all") this.all.add(c);
    else if (s.kind === "filter") {
      for (const u of s.users) addTo(this.userWatch, u, c);
      for (const q of s.queues) addTo(this.queueWatch, q, c);
    }
  }

  private unindex(c: C): void {
    const s = c.scope;
    this.all.delete(c);
    if (s.kind === "filter") {
      for (const u of s.users) removeFrom(this.userWatch, u, c);
      for (const q of s.queues) removeFrom(this.queueWatch, q, c);
    }
  }
}
