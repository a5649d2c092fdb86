/**
 * A PBX's queue figures of the day (the board's `today`) in the KV bucket `cti-calls`, key
 * `<pbxId>.qday.<yyyy-mm-dd>.<queue>`: four tokens, like a running wrap-up's
 * `<pbxId>.wrapup.<callId>.<userId>`, but no listing of either sees the other's keys (the second
 * token differs) and the open calls' `<pbxId>.*` sees neither. A standalone daemon counts them
 * from its SQLite call log (callLog.queueStats); a cluster worker's SQLite is scratch (since its
 * takeover), so the active worker counts each queue call once it ended, as queueStats does
 * (answered / abandoned by outcome, the mean wait of the answered ones; the day is the local
 * date of the call's start in `agents.timezone`), and a worker that takes over starts from them.
 *
 * Two copies: `shown` counts a call as soon as the engine ends it (the board's next frame has
 * it); `kept` counts it once the stream stored the call's end, and is what KV gets (never ahead
 * of the stream). A call is counted once: a worker remembers the ids it counted (a second ended
 * emission adds nothing), and each record names the calls counted whose open-call entry is not
 * purged yet (that entry goes only after the record is written), so a successor that closes
 * such a call again does not count it again. A record stays small: ids leave it as their
 * entries are purged (at its next write).
 */
import type { KV } from "@nats-io/kv";
import type { Call } from "../calls/model.js";
import type { Logger } from "../log.js";
import type { QueueStat } from "../store/index.js";
import { CoalescedKvWriter } from "./kvWriter.js";
import { kvToken } from "./openCalls.js";

const TOKEN = "qday";

/** One queue's day, as stored. `waitSum`/`waited`: the answered calls' waits (a call with no wait is not in the mean, as SQL's avg). */
export interface QueueDay {
  day: string;
  queue: string;
  answered: number;
  abandoned: number;
  waitSum: number;
  waited: number;
  /**
   * The calls counted whose open-call entry may still be in KV (a successor that closes one of
   * them again must not count it again); a call leaves the list once its entry is purged.
   */
  callIds: string[];
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The local date (yyyy-mm-dd) of an instant in a time zone. */
export function localDay(ms: number, tz: string): string {
  let f = formats.get(tz);
  if (!f) formats.set(tz, (f = new Intl.DateTimeFormat("en-US", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })));
  const parts = f.formatToParts(ms);
  const p = (t: string) => parts.find((x) => x.type === t)?.value ?? "";
  return `${p("year")}-${p("month")}-${p("day")}`;
}

/** The figures of one side (shown or kept): `day\nqueue` → its day, with a set for the ids. */
export class QueueDayCounts {
  private readonly days = new Map<string, { d: QueueDay; ids: Set<string> }>();

  constructor(private readonly tz: string) {}

  /** Starts from stored days (at takeover). */
  load(days: readonly QueueDay[]): void {
    for (const d of days) this.days.set(`${d.day}\n${d.queue}`, { d: { ...d, callIds: [...d.callIds] }, ids: new Set(d.callIds) });
  }

  /**
   * Counts an ended queue call once; returns its day's figures when they changed, else null
   * (not ended, no queue, merged away (no call of the log), or counted already).
   */
  add(call: Call): QueueDay | null {
    if (call.state !== "ended" || call.queue === null || call.mergedInto) return null;
    const day = localDay(Date.parse(call.times.started), this.tz);
    const k = `${day}\n${call.queue}`;
    let e = this.days.get(k);
    if (!e) this.days.set(k, (e = { d: { day, queue: call.queue, answered: 0, abandoned: 0, waitSum: 0, waited: 0, callIds: [] }, ids: new Set() }));
    if (e.ids.has(call.callId)) return null;
    e.ids.add(call.callId);
    e.d.callIds.push(call.callId);
    if (call.outcome === "answered") {
      e.d.answered++;
      if (call.times.waitSeconds !== null) {
        e.d.waitSum += call.times.waitSeconds;
        e.d.waited++;
      }
    } else if (call.outcome === "abandoned") e.d.abandoned++;
    return e.d;
  }

  /** The call's open-call entry is purged: no successor will end it again, its id need not be stored. */
  settle(call: Call): void {
    if (call.queue === null) return;
    const e = this.days.get(`${localDay(Date.parse(call.times.started), this.tz)}\n${call.queue}`);
    if (e?.d.callIds.includes(call.callId)) e.d.callIds = e.d.callIds.filter((id) => id !== call.callId);
  }

  /** The figures of the day that began at `fromIso` (the board's `today`), as callLog.queueStats gives them. */
  stats(fromIso: string): Map<string, QueueStat> {
    const day = localDay(Date.parse(fromIso), this.tz);
    const out = new Map<string, QueueStat>();
    for (const { d } of [...this.days.values()].sort((a, b) => (a.d.queue < b.d.queue ? -1 : 1))) {
      if (d.day !== day) continue;
      out.set(d.queue, { answered: d.answered, abandoned: d.abandoned, avgWaitSeconds: d.waited === 0 ? null : Math.round((d.waitSum / d.waited) * 10) / 10 });
    }
    return out;
  }

  /** Forgets days before `day` (yyyy-mm-dd); returns them. */
  dropBefore(day: string): QueueDay[] {
    const out: QueueDay[] = [];
    for (const [k, e] of this.days) if (e.d.day < day) (out.push(e.d), this.days.delete(k));
    return out;
  }
}

export interface KvQueueDaysDeps {
  kv: KV;
  pbxId: string;
  log: Logger;
  timezone: string;
  now: () => number;
}

export class KvQueueDays {
  private readonly shown: QueueDayCounts;
  private readonly kept: QueueDayCounts;
  private readonly writer: CoalescedKvWriter<QueueDay>;

  constructor(private readonly d: KvQueueDaysDeps) {
    this.shown = new QueueDayCounts(d.timezone);
    this.kept = new QueueDayCounts(d.timezone);
    this.writer = new CoalescedKvWriter(d.kv, d.log, "queue figures write failed");
  }

  get failures(): number {
    return this.writer.failures;
  }

  private key(day: string, queue: string): string {
    return `${kvToken(this.d.pbxId)}.${TOKEN}.${day}.${kvToken(queue)}`;
  }

  /** Yesterday's local date: days before it are no board's `today` any more. */
  private oldest(): string {
    return localDay(this.d.now() - 86_400_000, this.d.timezone);
  }

  /** The PBX's stored days (at takeover), before the engine starts; older days are purged. */
  async load(): Promise<QueueDay[]> {
    const out: QueueDay[] = [];
    const oldest = this.oldest();
    for await (const k of await this.d.kv.keys(`${kvToken(this.d.pbxId)}.${TOKEN}.*.*`)) {
      const e = await this.d.kv.get(k);
      if (!e || e.operation !== "PUT") continue;
      try {
        const q = e.json<QueueDay>();
        if (typeof q.day !== "string" || typeof q.queue !== "string" || !Array.isArray(q.callIds) || ![q.answered, q.abandoned, q.waitSum, q.waited].every((n) => typeof n === "number")) throw new Error("not a queue day");
        if (q.day < oldest) this.writer.set(k, null);
        else out.push(q);
      } catch (err) {
        this.d.log.warn({ err, key: k }, "queue figures unreadable, skipped");
      }
    }
    this.shown.load(out);
    this.kept.load(out);
    return out;
  }

  /** The board's figures (QueueBoardDeps.queueStats). */
  stats(fromIso: string): Map<string, QueueStat> {
    return this.shown.stats(fromIso);
  }

  /** A call-level emission of the engine: an ended queue call counts on the board now. */
  seen(call: Call): void {
    if (this.shown.add(call) !== null) this.shown.dropBefore(this.oldest());
  }

  /**
   * The stream stored this emission: an ended queue call counts in KV. `then` runs once its
   * figures are written (at once when it adds nothing): the open-call entry is purged after
   * them, so a successor that finds the call still open finds it counted, or not at all.
   */
  stored(call: Call, then: () => void): void {
    const q = this.kept.add(call);
    if (q !== null) this.writer.set(this.key(q.day, q.queue), { ...q, callIds: [...q.callIds] }, then);
    // Counted before (a later emission of the ended call): its figures may still be on their way.
    else if (call.state === "ended" && call.queue !== null) this.writer.whenWritten(this.key(localDay(Date.parse(call.times.started), this.d.timezone), call.queue), then);
    else then();
    for (const old of this.kept.dropBefore(this.oldest())) this.writer.set(this.key(old.day, old.queue), null);
  }

  /** The call's open-call entry is purged (it leaves the ids of its record at the next write). */
  settled(call: Call): void {
    this.kept.settle(call);
  }

  /** Stop writing (the lease is lost: the next active worker owns the figures). */
  close(): void {
    this.writer.close();
  }

  flushed(): Promise<void> {
    return this.writer.flushed();
  }
}
