/**
 * A PBX worker's call events as stream messages, one per fact: the tracker emits a fact as
 * consecutive copies (one per user, then the call-level copy, all in one synchronous emission);
 * this puts them into one "calls" message, the call carried once (a user's copy is the same
 * call unless it is her own view of it). A user copy with no call-level copy after it (a
 * transferer leaving the call) goes alone as a "call" when the emission is over (a microtask).
 * Order is kept: anything else flushes the held copies first. Pure but for the microtask.
 */
import type { AnyCallEvent } from "../calls/model.js";
import type { StreamEvent } from "./entry.js";

export type FactOut = (ev: StreamEvent, then?: () => void) => void;

export class FactGrouper {
  private held: AnyCallEvent[] = [];
  private scheduled = false;

  constructor(private readonly out: FactOut) {}

  /** One bus event of the engine, in emission order. */
  offer(ev: StreamEvent, then?: () => void): void {
    if (ev.kind !== "call") {
      this.flush();
      return this.out(ev, then);
    }
    const e = ev.event;
    if (e.userId !== null) {
      this.held.push(e);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
      return;
    }
    // The call-level copy: the held copies of this emission (same call, fact and time) join it.
    const same = (u: AnyCallEvent) => u.call.callId === e.call.callId && u.name === e.name && u.at === e.at && (u.name !== "callRingingStopped" || (e.name === "callRingingStopped" && u.reason === e.reason));
    const mine = this.held.filter(same);
    this.held = this.held.filter((u) => !same(u));
    this.flush();
    this.out({ kind: "calls", event: e, users: mine.map((u) => ({ userId: u.userId!, ...(u.call !== e.call ? { call: u.call } : {}) })) }, then);
  }

  /** Send what is held as single copies (the end of an emission, or before anything else). */
  flush(): void {
    this.scheduled = false;
    const held = this.held;
    this.held = [];
    for (const e of held) this.out({ kind: "call", event: e });
  }
}
