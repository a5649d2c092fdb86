/**
 * Which active calls each user has a leg in, kept from the events publish() sees (every change
 * to a call is published), so an agent's snapshot or resync looks up their own calls instead of
 * reading every active call (issue 7). Entries leave with the call's last event (ended or merged
 * into another call), a user's with her own end (she transferred it); a call that vanished
 * without one is dropped when it is next looked up.
 */
import type { Call } from "../calls/model.js";

export class UserCalls {
  private readonly byUser = new Map<string, Set<string>>();
  private readonly usersOf = new Map<string, Set<string>>();

  /** The call as of its latest event. O(legs). */
  note(call: Call): void {
    const before = this.usersOf.get(call.callId);
    if (call.state === "ended" || call.mergedInto !== null) {
      for (const u of before ?? []) this.unlink(u, call.callId);
      this.usersOf.delete(call.callId);
      return;
    }
    const now = new Set<string>();
    // A user who transferred the call left it (her `call.ended` went out): not hers any more.
    for (const l of call.legs) if (l.userId !== null && !(l.transferred && l.state === "ended")) now.add(l.userId);
    for (const u of before ?? []) if (!now.has(u)) this.unlink(u, call.callId);
    for (const u of now) {
      let set = this.byUser.get(u);
      if (!set) this.byUser.set(u, (set = new Set()));
      set.add(call.callId);
    }
    if (now.size > 0) this.usersOf.set(call.callId, now);
    else this.usersOf.delete(call.callId);
  }

  /** The active calls of `userId`, in the order they were first seen; `lookup` gives the live call. */
  callsOf(userId: string, lookup: (callId: string) => Call | undefined): Call[] {
    const out: Call[] = [];
    for (const id of this.byUser.get(userId) ?? []) {
      const call = lookup(id);
      if (call === undefined || call.state === "ended" || call.mergedInto !== null) this.forget(id);
      else out.push(call);
    }
    return out;
  }

  private forget(callId: string): void {
    for (const u of this.usersOf.get(callId) ?? []) this.unlink(u, callId);
    this.usersOf.delete(callId);
  }

  private unlink(userId: string, callId: string): void {
    const set = this.byUser.get(userId);
    if (set?.delete(callId) && set.size === 0) this.byUser.delete(userId);
  }
}
