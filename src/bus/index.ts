/**
 * The event-bus seam: what the engine side (tracker, agent tracker, wrap-ups, queue board, PBX
 * link) says, as one discriminated union, and the interface the consumers (the call store, the
 * WebSocket server, webhooks) subscribe through. Standalone wires the in-process bus
 * (inProcess.ts): delivery is synchronous, in subscription order, on the publisher's stack.
 * A cluster bus (JetStream) implements the same interface across processes.
 */
import type { Annotation, AnnotationEntry, AnyCallEvent, Call } from "../calls/model.js";
import type { WrapUpEndReason, WrapUpRow } from "../store/wrapUps.js";
import type { AgentState, QueueInfo } from "../publish/protocol.js";

export type PbxStatusKind = "disconnected" | "resynced";

export interface CallDoneFact {
  userId: string;
  callId: string;
  queue: string | null;
  doneAt: string;
  by: string;
  reason: "marked" | "called_back";
}

/**
 * A call-log write that is not a call snapshot: an annotation (with its history entry) or a
 * wrap-up row. No client sees it; the store of record applies it (store/records.ts), in
 * standalone from this bus, in a cluster from the stream (bus/archive.ts).
 */
export type RecordFact =
  | { op: "annotate"; callId: string; entry: AnnotationEntry; merged: Annotation }
  | { op: "wrapUpStart"; callId: string; row: WrapUpRow }
  | { op: "wrapUpPaused"; callId: string; userId: string; paused: [string, string][] }
  | { op: "wrapUpEnd"; callId: string; userId: string; endedAt: string; seconds: number; reason: WrapUpEndReason; since: string | null };

/** Every fact the publish layer consumes, keyed by `kind`. */
export type BusEvent =
  | { kind: "call"; event: AnyCallEvent }
  | { kind: "agent"; userId: string; state: AgentState }
  | { kind: "pbx"; status: PbxStatusKind; info: { reason?: string; calls?: number } }
  | { kind: "done"; done: CallDoneFact }
  | { kind: "queue"; queue: QueueInfo }
  | { kind: "record"; record: RecordFact }
  /**
   * A running call as it is now, changed without a fact to announce (a losing channel's hangup
   * cause, a click-to-dial's direction, a queue caller not ringing anyone yet). No frame: a
   * cluster worker publishes it so that gateways' snapshots show what the tracker holds.
   */
  | { kind: "view"; call: Call; at: number };

export type BusKind = BusEvent["kind"];
export type BusHandler = (ev: BusEvent) => void;

export interface EventBus {
  /** Hand one fact to every subscriber. Never throws (a subscriber's error is the bus's to log). */
  publish(ev: BusEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(handler: BusHandler): () => void;
  close(): Promise<void>;
}

export { InProcessBus } from "./inProcess.js";
