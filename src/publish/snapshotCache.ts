/**
 * The active calls as snapshots, built at most once per change (publish() invalidates), with
 * indexes by callId, user and queue, so a snapshot, a resync or a lookup costs what the
 * requesting client can see, not a render of every active call per request (issue 7: 10,000
 * claim frames with 3,400 calls active kept the daemon busy for 19 s). The JSON of every call,
 * which each supervisor with the default scope receives, is serialized once per change too.
 */
import type { Call } from "../calls/model.js";
import type { CallSnapshot } from "./protocol.js";
import { viewOf, type Routable } from "./routing.js";

export class SnapshotCache {
  /** How many times the active-call list was read and rendered (what tests count). */
  builds = 0;
  private stamp = 0;
  private builtAt = -1;
  private snaps: CallSnapshot[] = [];
  private readonly order = new Map<CallSnapshot, number>();
  private readonly byId = new Map<string, CallSnapshot>();
  private readonly byUser = new Map<string, CallSnapshot[]>();
  private readonly byQueue = new Map<string, CallSnapshot[]>();
  private allJson: string | null = null;

  constructor(
    private readonly source: () => Call[],
    private readonly render: (call: Call) => CallSnapshot,
  ) {}

  /** Something changed: the next request rebuilds. O(1). */
  invalidate(): void {
    this.stamp++;
  }

  /** The active call with this id, or undefined. */
  get(callId: string): CallSnapshot | undefined {
    this.fresh();
    return this.byId.get(callId);
  }

  /** The calls of this recipient's snapshot, legs narrowed, in the order of the source. */
  callsFor(c: Routable): CallSnapshot[] {
    this.fresh();
    const s = c.scope;
    if (s.kind === "all") return this.snaps;
    let candidates: CallSnapshot[];
    if (s.kind === "own") candidates = this.byUser.get(c.userId) ?? [];
    else {
      const set = new Set<CallSnapshot>(this.byUser.get(c.userId) ?? []);
      for (const u of s.users) for (const x of this.byUser.get(u) ?? []) set.add(x);
      for (const q of s.queues) for (const x of this.byQueue.get(q) ?? []) set.add(x);
      candidates = [...set].sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    }
    return candidates.flatMap((x) => viewOf(c, x) ?? []);
  }

  /** `JSON.stringify` of every active call (a default-scope supervisor's snapshot), once per change. */
  allCallsJson(): string {
    this.fresh();
    return (this.allJson ??= JSON.stringify(this.snaps));
  }

  private fresh(): void {
    if (this.builtAt === this.stamp) return;
    this.builtAt = this.stamp;
    this.builds++;
    this.snaps = this.source().map(this.render);
    this.order.clear();
    this.byId.clear();
    this.byUser.clear();
    this.byQueue.clear();
    this.allJson = null;
    this.snaps.forEach((s, i) => {
      this.order.set(s, i);
      this.byId.set(s.callId, s);
      if (s.queue !== null) push(this.byQueue, s.queue, s);
      const users = new Set<string>();
      for (const l of s.legs) if (l.userId !== null) users.add(l.userId);
      for (const u of users) push(this.byUser, u, s);
    });
  }
}

function push<V>(map: Map<string, V[]>, key: string, v: V): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}
