/** The events a client emits (`client.on(name, listener)`), with their payloads. */
import type { CtiError } from "./errors.js";
import type { AgentState, Call, CallMessage, PbxDisconnectedMessage, PbxFailoverMessage, PbxResyncedMessage, ServerMessage, SnapshotMessage } from "./wire.js";

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface ClientEvents {
  /** Open the screen pop: a frame with `pop: true`, or a call ringing for me found in a snapshot (once per call). */
  pop: { call: Call; message: CallMessage | SnapshotMessage };
  /**
   * Every call.* frame, after folding. `replayed`: the frame is older than the snapshot the
   * client holds (a `resume` replay): reported, but not folded into `calls`.
   */
  call: { call: Call; message: CallMessage; replayed: boolean };
  /**
   * The call left `calls` (call.ended). `message` is null when its end was not seen: it was
   * gone from the snapshot after a reconnect and no replayed call.ended named it.
   */
  ended: { call: Call; message: CallMessage | null; replayed: boolean };
  missed: { call: Call; message: CallMessage; callbackNumber: string; replayed: boolean };
  claimed: { callId: string; by: string; byMe: boolean };
  agent: { agent: string; state: AgentState };
  snapshot: { calls: Call[] };
  /** Status changes; `code`/`reason` of the close that caused it; `delayMs` before the next attempt. */
  connection: { status: ConnectionStatus; code?: number; reason?: string; attempt?: number; delayMs?: number };
  pbx: { connected: boolean; message: PbxDisconnectedMessage | PbxResyncedMessage | PbxFailoverMessage };
  error: CtiError;
  message: ServerMessage;
}

export type EventName = keyof ClientEvents;
export type Listener<K extends EventName> = (payload: ClientEvents[K]) => void;
export type Emit = <K extends EventName>(name: K, payload: ClientEvents[K]) => void;
