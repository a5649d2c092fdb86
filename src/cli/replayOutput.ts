/** The output of `ctibridge replay`: one JSON line per call (sorted by start), or per event. */
import type { AnyCallEvent, Call } from "../calls/model.js";

export function callLine(c: Call): Record<string, unknown> {
  return {
    callId: c.callId,
    direction: c.direction,
    from: { raw: c.from.raw, e164: c.from.e164, name: c.from.name },
    to: { raw: c.to.raw, e164: c.to.e164 },
    did: c.did,
    state: c.state,
    outcome: c.outcome,
    answeredBy: c.answeredBy,
    queue: c.queue,
    times: c.times,
    hangupCause: c.hangupCause,
    endReason: c.endReason,
    transfer: c.transfer,
    ivr: c.ivr,
    recording: c.recording,
    conference: c.conference,
    restored: c.restored,
    legs: c.legs.map((l) => ({ userId: l.userId, device: l.device, outcome: l.outcome, answeredAt: l.answeredAt, endedAt: l.endedAt })),
  };
}

export function replayLines(events: AnyCallEvent[], perEvent: boolean): string[] {
  if (perEvent) {
    return events
      .filter((e) => e.userId !== null)
      .map((e) =>
        JSON.stringify({
          event: e.name,
          userId: e.userId,
          callId: e.call.callId,
          ...("reason" in e ? { reason: e.reason } : {}),
          state: e.call.state,
          outcome: e.call.outcome,
          legOutcome: e.call.legs.find((l) => l.userId === e.userId)?.outcome ?? null,
          from: e.call.from.raw,
          to: e.call.to.raw,
        }),
      );
  }
  const last = new Map<string, Call>();
  for (const e of events) if (e.userId === null) last.set(e.call.callId, e.call);
  return [...last.values()]
    .filter((c) => !c.mergedInto)
    .sort((a, b) => a.times.started.localeCompare(b.times.started) || a.callId.localeCompare(b.callId))
    .map((c) => JSON.stringify(callLine(c)));
}
