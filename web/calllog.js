/*
 * The call log's calls: stored ones (REST pages) and live ones (the SDK's call events) by id,
 * newest first. No DOM: the tests import this module in Node.
 */

export class CallLog {
  constructor() {
    /** callId → call */
    this.calls = new Map();
    /** The cursor of the next older page (`before`); undefined before the first page, null at the end. */
    this.next = undefined;
  }

  clear() {
    this.calls.clear();
    this.next = undefined;
  }

  get(callId) {
    return this.calls.get(callId);
  }

  /**
   * Add or update a call. A stored copy (REST, older by nature) never replaces a live one or an
   * ended one the events already brought; a live copy keeps the `done` marks only the store adds.
   */
  upsert(call, { stored = false, live = false } = {}) {
    const old = this.calls.get(call.callId);
    if (stored && old && (live || (old.state === "ended" && call.state !== "ended"))) return;
    if (old && !stored) call = { ...call, legs: call.legs.map((l) => ({ ...l, done: l.done ?? old.legs.find((o) => o.userId === l.userId)?.done })) };
    this.calls.set(call.callId, call);
  }

  /** A `call.done` (or our own mark): the missed legs of `user` (every missed leg without one) are done. */
  markDone(callId, user) {
    const call = this.calls.get(callId);
    if (!call) return false;
    this.calls.set(callId, { ...call, legs: call.legs.map((l) => (l.outcome === "missed" && (!user || l.userId === user) ? { ...l, done: true } : l)) });
    return true;
  }

  /** Newest first (start time, then callId, as the REST pages are ordered). */
  sorted() {
    return [...this.calls.values()].sort((a, b) => String(b.times?.started).localeCompare(String(a.times?.started)) || b.callId.localeCompare(a.callId));
  }
}
