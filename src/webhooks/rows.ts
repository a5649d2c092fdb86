/**
 * Outbox rows from webhook events, for both writers: the standalone daemon (deliver.ts, a random
 * event id per row, written with the call log's SQLite transaction) and a cluster's stream
 * archiver (`StreamWebhookRows`, an event id derived from the stream message, written with the
 * call's PostgreSQL upsert). One payload per event and target, serialized once per event.
 */
import { createHash } from "node:crypto";
import type { Call } from "../calls/model.js";
import type { BusEntry } from "../bus/entry.js";
import type { NewOutboxRow } from "../store/outbox.js";
import type { WebhookConfig } from "./config.js";
import { callObject, payloadOf, wants, webhookEventsOf, type WebhookEvent } from "./events.js";

export interface RowPick {
  ev: WebhookEvent;
  /** The event's place among the webhook events of its cause (a message makes one `call.missed` per user). */
  index: number;
  target: string;
}

/** Which targets want which of these events (a filter, no I/O: safe on the pop's turn). */
export function picksFor(targets: readonly Pick<WebhookConfig, "name" | "events" | "users">[], events: readonly WebhookEvent[]): RowPick[] {
  return events.flatMap((ev, index) => targets.filter((t) => wants(t, ev)).map((t) => ({ ev, index, target: t.name })));
}

/** The rows of the picks; `idOf` names each row's event id (stable across retries: it is stored). */
export function rowsOf(picks: readonly RowPick[], popTemplate: string | undefined, idOf: (p: RowPick) => string): NewOutboxRow[] {
  const json = new Map<WebhookEvent, string>();
  return picks.map((p) => {
    const { ev, target } = p;
    let callJson = json.get(ev);
    if (callJson === undefined) json.set(ev, (callJson = JSON.stringify(callObject(ev.call, popTemplate))));
    const eventId = idOf(p);
    return { eventId, target, type: ev.type, callId: ev.call.callId, payload: payloadOf(eventId, target, ev, callJson), at: new Date(ev.at).toISOString() };
  });
}

/**
 * A cluster's event id: a UUID-shaped SHA-256 of the stream message (its sequence, PBX, the
 * worker's lease term and send time), the event's index within it and the target. A message
 * delivered again gives the same ids, so the outbox's unique key keeps one row; the send time
 * keeps a recreated stream (sequences from 1 again) from colliding with old rows.
 */
export function streamEventId(seq: number, entry: Pick<BusEntry, "pbxId" | "term" | "sentAt">, index: number, target: string): string {
  const h = createHash("sha256").update(`ctibridge-webhook\n${seq}\n${entry.pbxId}\n${entry.term}\n${entry.sentAt}\n${index}\n${target}`).digest("hex");
  // Version 8 (custom) and the RFC 9562 variant, so it parses as a UUID.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface StreamWebhookRowsOptions {
  targets: readonly WebhookConfig[];
  popTemplate: () => string | undefined;
  /** A call not seen on the stream by this process (after a takeover, or ended long ago): the stored one. */
  storedCall: (callId: string) => Promise<Call | null>;
  /** How long an ended call's last snapshot is kept for annotations (the tracker's calls.keepEndedMs). */
  keepEndedMs: number;
  /** At most this many calls remembered (the oldest are dropped; they fall back to the stored call). */
  maxCalls?: number;
}

/**
 * The outbox rows of stream messages, taken in stream order by the archiver. Call events give
 * exactly what the standalone daemon's tracker events give (webhookEventsOf on the call-level
 * copy). An annotation (a `record` fact) is `call.annotated` with the call as the standalone
 * daemon has it at that moment: the last call-level snapshot on the stream (the tracker's call;
 * it is published before the snapshot that carries the annotation), or the stored call when this
 * process has not seen the call (standalone: the call log's copy once the tracker forgot it).
 */
export class StreamWebhookRows {
  private readonly calls = new Map<string, Call>();
  /** Ended calls in end order: [stream time of the end, callId]. */
  private readonly ended: [number, string][] = [];

  constructor(private readonly o: StreamWebhookRowsOptions) {}

  async rowsOf(seq: number, entry: BusEntry): Promise<NewOutboxRow[]> {
    const ev = entry.ev;
    let events: WebhookEvent[] = [];
    if ((ev.kind === "call" || ev.kind === "calls") && ev.event.userId === null) {
      this.remember(ev.event.call, ev.event.at);
      events = webhookEventsOf(ev.event);
    } else if (ev.kind === "record" && ev.record.op === "annotate") {
      const { callId, entry: note, merged } = ev.record;
      if (!this.o.targets.some((t) => t.events.includes("call.annotated"))) return [];
      const call = this.calls.get(callId) ?? (await this.o.storedCall(callId));
      if (call) events = [{ type: "call.annotated", call: { ...call, annotation: merged }, at: Date.parse(note.at), extra: {} }];
    }
    if (events.length === 0) return [];
    const picks = picksFor(this.o.targets, events);
    if (picks.length === 0) return [];
    return rowsOf(picks, this.o.popTemplate(), (p) => streamEventId(seq, entry, p.index, p.target)).map((r, pos) => ({ ...r, seq, pos }));
  }

  private remember(call: Call, at: number): void {
    this.calls.delete(call.callId);
    this.calls.set(call.callId, call);
    if (call.state === "ended") this.ended.push([at, call.callId]);
    while (this.ended.length > 0 && this.ended[0]![0] < at - this.o.keepEndedMs) {
      const [, id] = this.ended.shift()!;
      if (this.calls.get(id)?.state === "ended") this.calls.delete(id);
    }
    const max = this.o.maxCalls ?? 20_000;
    for (const id of this.calls.keys()) {
      if (this.calls.size <= max) break;
      this.calls.delete(id);
    }
  }
}
