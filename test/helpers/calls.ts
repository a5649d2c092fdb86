/**
 * Small factories for Call objects and domain events in publish/http tests. Cast through
 * `as Call` so that fields the model gains later do not break every test file at once.
 */
import type { AnyCallEvent, Call, CallEventName, Leg, Party, RingStopReason } from "../../src/calls/model.js";

export const T0 = Date.UTC(2024, 5, 1, 9, 0, 0);

export function party(raw: string, over: Partial<Party> = {}): Party {
  const e164 = raw.startsWith("+") ? raw : null;
  return { raw, e164, display: raw, name: null, ...over };
}

export function leg(userId: string | null, device: string, over: Partial<Leg> = {}): Leg {
  return {
    userId,
    device,
    state: "ringing",
    outcome: null,
    placed: false,
    ringingAt: new Date(T0).toISOString(),
    answeredAt: null,
    endedAt: null,
    waitSeconds: null,
    talkSeconds: null,
    ...over,
  };
}

let counter = 0;

export function makeCall(over: Partial<Call> = {}): Call {
  counter++;
  return {
    callId: `call-${counter}`,
    linkedIds: [`1717232400.${counter}`],
    direction: "inbound",
    state: "ringing",
    from: party("+4930123456"),
    to: party("200"),
    did: null,
    didRaw: null,
    queue: null,
    legs: [],
    answeredBy: null,
    times: { started: new Date(T0).toISOString(), ringing: new Date(T0).toISOString(), answered: null, ended: null, waitSeconds: null, talkSeconds: null },
    outcome: null,
    hangupCause: null,
    endReason: null,
    transfer: null,
    ivr: {},
    recording: null,
    restored: false,
    clickToDial: false,
    conference: null,
    match: null,
    annotation: null,
    mergedInto: null, park: null,
    ...over,
  } as Call;
}

/** A domain event for one user (null: the call-level copy). */
export function event(name: CallEventName, userId: string | null, call: Call, at = T0, reason?: RingStopReason): AnyCallEvent {
  if (name === "callRingingStopped") return { name, userId, call, at, reason: reason ?? "answered_elsewhere" };
  return { name, userId, call, at } as AnyCallEvent;
}
