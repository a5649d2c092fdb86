/**
 * Which webhook events a domain event makes, and for which targets: call-level events only
 * (the store's copy, userId null); one `call.missed` per user who missed the call. The `call`
 * is the object a supervisor gets over the WebSocket and REST (toCallSnapshot, viewOf).
 */
import type { AnyCallEvent, Call, CallEventName } from "../calls/model.js";
import { callbackNumber, toCallSnapshot, type CallSnapshot } from "../publish/protocol.js";
import { viewOf, type Routable } from "../publish/routing.js";
import type { WebhookConfig, WebhookEventType } from "./config.js";

const TYPES: Partial<Record<CallEventName, WebhookEventType>> = {
  callDialing: "call.dialing",
  callRinging: "call.ringing",
  callAnswered: "call.answered",
  callHeld: "call.held",
  callResumed: "call.resumed",
  callTransferred: "call.transferred",
  callEnded: "call.ended",
  callMissed: "call.missed",
};

export interface WebhookEvent {
  type: WebhookEventType;
  call: Call;
  /** Epoch ms of the fact. */
  at: number;
  /** Fields beside `call` in the payload (`userId`, `callbackNumber`, `annotation`). */
  extra: Record<string, unknown>;
  /** call.missed: the user who missed it (the `users` filter applies to them alone). */
  userId?: string;
}

/** The webhook events of one domain event (none for per-user copies and absorbed calls). */
export function webhookEventsOf(ev: AnyCallEvent): WebhookEvent[] {
  const type = TYPES[ev.name];
  if (!type || ev.userId !== null || ev.call.mergedInto) return [];
  if (type !== "call.missed") return [{ type, call: ev.call, at: ev.at, extra: {} }];
  const users = [...new Set(ev.call.legs.filter((l) => l.outcome === "missed" && l.userId).map((l) => l.userId as string))];
  const number = callbackNumber({ ...ev.call, popUrl: null });
  return users.map((userId) => ({ type, call: ev.call, at: ev.at, userId, extra: { userId, callbackNumber: number } }));
}

/** The users a call involves: its legs, its parties, who answered, where it was transferred. */
export function usersOf(call: Call): Set<string> {
  const out = new Set<string>();
  const add = (u: string | null | undefined) => void (u && out.add(u));
  for (const l of call.legs) add(l.userId);
  add(call.from.userId);
  add(call.to.userId);
  add(call.answeredBy?.userId);
  add(call.transfer?.to.userId);
  return out;
}

/** Whether `target` wants `ev`. */
export function wants(target: Pick<WebhookConfig, "events" | "users">, ev: WebhookEvent): boolean {
  if (!target.events.includes(ev.type)) return false;
  if (!target.users) return true;
  if (ev.userId !== undefined) return target.users.includes(ev.userId);
  const involved = usersOf(ev.call);
  return target.users.some((u) => involved.has(u));
}

/** A supervisor's default view: every leg (the REST and WebSocket rule, routing.ts). */
const SUPERVISOR: Routable = { id: "webhook", userId: "", role: "supervisor", scope: { kind: "all" } };

/** The call as the payload carries it: the supervisor's WebSocket/REST call object. */
export function callObject(call: Call, popTemplate: string | undefined): CallSnapshot {
  return viewOf(SUPERVISOR, toCallSnapshot(call, popTemplate))!;
}

/**
 * The JSON body: `{ id, type, ts, webhook, ...extra, call }`. Built once per row and stored,
 * so every attempt sends the same bytes.
 */
export function payloadOf(id: string, target: string, ev: WebhookEvent, callJson: string): string {
  const head = JSON.stringify({ id, type: ev.type, ts: new Date(ev.at).toISOString(), webhook: target, ...ev.extra });
  return `${head.slice(0, -1)},"call":${callJson}}`;
}
