/**
 * Journal entry + recipient → the message that recipient reads. Kept apart from the socket
 * code so the exact JSON can be asserted in unit tests and quoted in docs/protocol.md.
 */
import type { JournalEntry } from "./journal.js";
import { callbackNumber, narrow, popFor, type CallMessage, type OutgoingMessage } from "./protocol.js";
import { legFilter, type Routable } from "./routing.js";

export interface Recipient extends Routable {
  readonly popTiming: "ringing" | "answered";
}

/** A view key: recipients with equal keys get byte-identical messages (rendered once per publish). */
export function viewKey(r: Recipient): string {
  const s = r.scope.kind === "filter" ? r.id : r.scope.kind;
  return `${r.userId}\u0000${s}\u0000${r.popTiming}`;
}

export function renderEntry(r: Recipient, e: JournalEntry): OutgoingMessage {
  const base = { v: 1 as const, seq: e.seq, ts: e.ts, userId: r.userId };
  if (e.kind === "pbx") {
    if (e.type === "pbx.failover") return { ...base, type: e.type, pbxId: e.pbxId ?? "", calls: e.calls };
    return e.type === "pbx.disconnected" ? { ...base, type: e.type, reason: e.reason } : { ...base, type: e.type, calls: e.calls };
  }
  if (e.kind === "agent") return { ...base, type: "agent.state", agent: e.userId, state: e.state };
  if (e.kind === "done") return { ...base, type: "call.done", callId: e.callId, user: e.userId, doneAt: e.doneAt, by: e.by, reason: e.reason };
  const call = narrow(e.snapshot, legFilter(r, e.snapshot));
  const pop = popFor(e.type, call, r.userId, r.popTiming);
  if (e.type === "call.ringing_stopped") return { ...base, type: e.type, call, pop, reason: e.reason ?? "ended" };
  if (e.type === "call.missed") return { ...base, type: e.type, call, pop, callbackNumber: callbackNumber(call) };
  return { ...base, type: e.type, call, pop } satisfies CallMessage;
}
