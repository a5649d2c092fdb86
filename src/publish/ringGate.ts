/**
 * Ringing discipline per (call, user), before anything takes a seq (pitfall 11: popup floods,
 * blak3r/yaai#100): a second `call.ringing` for the same call and user is dropped (until a
 * `call.ringing_stopped` for them: rung again is a new ringing), and with a
 * debounce window a ringing that stops again within it is never shown at all (ring-all queues
 * otherwise flicker a pop on every member for a few hundred ms).
 */

export interface GateItem {
  type: string;
  callId: string;
  userId: string | null;
}

/** (call, user) pairs remembered; old pairs fall out first so memory stays bounded. */
const SEEN_CAP = 100_000;

export class RingGate<T extends GateItem> {
  private readonly seen = new Set<string>();
  private readonly held = new Map<string, { item: T; timer: NodeJS.Timeout }>();

  /** `release` is called with a held ringing once its window passed without a stop. */
  constructor(private readonly debounceMs: number, private readonly release: (item: T) => void) {}

  /** The items to publish now, in order (none, this one, or a held ringing and then this one). */
  offer(item: T): T[] {
    const key = `${item.callId}\u0000${item.userId ?? ""}`;
    if (item.userId === null) return this.callLevel(key, item);
    if (item.type === "call.ringing") {
      if (this.seen.has(key) || this.held.has(key)) return [];
      if (this.debounceMs <= 0) {
        this.remember(key);
        return [item];
      }
      const timer = setTimeout(() => {
        this.held.delete(key);
        this.remember(key);
        this.release(item);
      }, this.debounceMs);
      timer.unref();
      this.held.set(key, { item, timer });
      return [];
    }
    const held = this.held.get(key);
    if (!held) {
      // Its ringing stopped (a queue's next round, a parked call coming back): the next ringing is a new one.
      if (item.type === "call.ringing_stopped" || item.type === "call.answered") this.seen.delete(key);
      return [item];
    }
    clearTimeout(held.timer);
    this.held.delete(key);
    if (item.type === "call.ringing_stopped") return [];
    this.remember(key);
    return [held.item, item];
  }

  /**
   * The call-level copy (supervisors observing, the journal): no pop to protect, so no debounce;
   * its first ringing is the call's `call.ringing`, and a further leg ringing meanwhile is news
   * about the legs, sent as `call.updated` (dropping it left an observer's view of the legs stale).
   */
  private callLevel(key: string, item: T): T[] {
    if (item.type === "call.ringing") {
      if (this.seen.has(key)) return [{ ...item, type: "call.updated" }];
      this.remember(key);
      return [item];
    }
    if (item.type === "call.ringing_stopped" || item.type === "call.answered") this.seen.delete(key);
    return [item];
  }

  clear(): void {
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    this.seen.clear();
  }

  private remember(key: string): void {
    this.seen.add(key);
    if (this.seen.size > SEEN_CAP) this.seen.delete(this.seen.values().next().value!);
  }
}
