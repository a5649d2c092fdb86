/**
 * What travels on the stream: one fact stamped with the PBX it came from: a call event with
 * all its copies ("calls": the call-level copy and the users it is for, the call carried once;
 * a lone user copy stays a "call"), an agent state, a PBX status, a missed call done, a queue's
 * figures, a call-log record for the archiver, a call's view for the gateways' snapshots. A
 * gateway hands each copy to its WebSocket server exactly as the standalone daemon's in-process
 * bus does, so routing and rendering are the same code. Pure.
 */
import type { AgentState, AnyCallEvent, Call } from "../calls/model.js";
import type { QueueInfo } from "../publish/protocol.js";
import type { RecordFact } from "./index.js";

export type StreamPbxStatus = "disconnected" | "resynced" | "failover";

export type StreamEvent =
  | { kind: "call"; event: AnyCallEvent }
  | { kind: "agent"; userId: string; state: AgentState }
  | { kind: "pbx"; status: StreamPbxStatus; info: { reason?: string; calls?: number; pbxId?: string } }
  | { kind: "done"; done: { userId: string; callId: string; queue: string | null; doneAt: string; by: string; reason: "marked" | "called_back" } }
  | { kind: "queue"; queue: QueueInfo }
  | { kind: "record"; record: RecordFact }
  | { kind: "view"; call: Call; at: number }
  /**
   * One fact of a call, all its copies in one message: the call-level copy (`event`, userId null)
   * and the users it is for (their copy is the same call unless `call` says otherwise, e.g. a
   * consultation's target). A lone user copy (a transferer leaving the call) stays a "call".
   */
  | { kind: "calls"; event: AnyCallEvent; users: { userId: string; call?: Call }[] };

export interface BusEntry {
  pbxId: string;
  /** The active worker's lease term (orders the workers of one PBX). */
  term: number;
  /** Epoch ms when the worker offered it (the bench's bus latency). */
  sentAt: number;
  ev: StreamEvent;
}

/** A PBX id is one subject token: letters, digits, `_` and `-` (checked by the config). */
export const PBX_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * One subject token from any id: `[A-Za-z0-9_-]` stay, every other byte becomes `~XX` (so `.`,
 * `*`, `>` and spaces in a user id cannot split or widen a subject). Injective.
 */
export function token(id: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(id)) return id;
  let out = "";
  for (const b of Buffer.from(id, "utf8")) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${b.toString(16).padStart(2, "0")}`;
  }
  return out || "~";
}

export function subjectOf(e: BusEntry): string {
  const pbx = token(e.pbxId);
  const ev = e.ev;
  switch (ev.kind) {
    case "call":
      return `cti.${pbx}.call.${token(ev.event.call.callId)}`;
    case "done":
      return `cti.${pbx}.call.${token(ev.done.callId)}`;
    case "record":
      return `cti.${pbx}.call.${token(ev.record.callId)}`;
    case "view":
      return `cti.${pbx}.call.${token(ev.call.callId)}`;
    case "calls":
      return `cti.${pbx}.call.${token(ev.event.call.callId)}`;
    case "agent":
      return `cti.${pbx}.agent.${token(ev.userId)}`;
    case "pbx":
    case "queue":
      return `cti.${pbx}.pbx`;
  }
}
