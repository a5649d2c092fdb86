/**
 * What the call core is fed: typed PBX input, free of AMI header names. `ami/events.ts` builds
 * these from AMI messages (the one place that knows AMI); the trackers only read them.
 */

/** A channel as AMI describes it in a prefixed header group (`Dest…`, `Transferer…`). */
export interface ChannelInfo {
  channelId: string;
  linkedId: string;
  name: string;
  /** `Down`, `Ring`, `Ringing`, `Up`, `Busy`, … */
  state: string;
  callerNum: string;
  callerName: string;
  connectedNum: string;
  connectedName: string;
  context: string;
  exten: string;
}

export type PbxEvent =
  | { type: "channelNew" | "channelState"; ch: ChannelInfo; at: number }
  | { type: "channelListed"; ch: ChannelInfo; application: string; bridgeId: string; durationS: number; at: number }
  | { type: "dialBegin"; caller: ChannelInfo | null; dest: ChannelInfo; dialString: string; at: number }
  | { type: "dialState" | "dialEnd"; caller: ChannelInfo | null; dest: ChannelInfo; status: string; at: number }
  | { type: "bridgeEnter" | "bridgeLeave"; ch: ChannelInfo; bridgeId: string; at: number }
  | { type: "hold" | "unhold"; ch: ChannelInfo; at: number }
  | { type: "hangup"; ch: ChannelInfo; cause: number; causeText: string; at: number }
  | { type: "varSet"; ch: ChannelInfo; name: string; value: string; at: number }
  | { type: "queueJoin" | "queueLeave" | "queueAbandon"; ch: ChannelInfo; queue: string; at: number }
  | {
      type: "agentCalled" | "agentConnect" | "agentRingNoAnswer" | "agentComplete";
      ch: ChannelInfo;
      dest: ChannelInfo | null;
      queue: string;
      memberInterface: string;
      memberName: string;
      at: number;
    }
  | {
      type: "blindTransfer";
      transferer: ChannelInfo | null;
      transferee: ChannelInfo | null;
      exten: string;
      context: string;
      ok: boolean;
      at: number;
    }
  | {
      type: "attendedTransfer";
      origTransferer: ChannelInfo | null;
      secondTransferer: ChannelInfo | null;
      transferee: ChannelInfo | null;
      target: ChannelInfo | null;
      ok: boolean;
      at: number;
    }
  | { type: "pickup"; ch: ChannelInfo; target: ChannelInfo; at: number }
  | {
      // ParkedCall / UnParkedCall / ParkedCallTimeOut / ParkedCallGiveUp (res_parking).
      type: "parked" | "parkRetrieved" | "parkTimedOut" | "parkGaveUp";
      parkee: ChannelInfo;
      /** The phone that parked it, as a dial string (`PJSIP/1001`); "" when unknown. */
      parkerDial: string;
      slot: string;
      /** UnParkedCall: the channel that dialled the space. */
      retriever: ChannelInfo | null;
      at: number;
    }
  | { type: "rename"; channelId: string; newName: string; at: number }
  | { type: "conferenceJoin" | "conferenceLeave"; ch: ChannelInfo; conference: string; at: number }
  | { type: "voicemail"; ch: ChannelInfo; at: number }
  | {
      type: "originateResponse";
      actionId: string;
      channelId: string;
      name: string;
      ok: boolean;
      reason: string;
      exten: string;
      at: number;
    }
  | {
      // Agent state (src/calls/agents.ts): QueueMember (QueueStatus list), QueueMemberStatus,
      // QueueMemberAdded, QueueMemberPause all carry the whole member.
      type: "queueMember";
      queue: string;
      /** What the queue dials: `PJSIP/1001`, or `Local/1004@agents/n` for a FreePBX-style member. */
      memberInterface: string;
      /** Where its device state comes from (`PJSIP/1004` for that Local member); "" when absent. */
      stateInterface: string;
      memberName: string;
      paused: boolean;
      /** Null when not paused or no reason given. */
      pausedReason: string | null;
      /** Numeric Asterisk device state of the state interface; `DEVICE_STATES[status]` names it. */
      status: number;
      inCall: boolean;
      /** The member's own wrap-up seconds (`Wrapuptime`, Asterisk 16+); 0: the queue's applies (not reported by AMI). */
      wrapUpSeconds: number;
      at: number;
    }
  | { type: "queueMemberRemoved"; queue: string; memberInterface: string; at: number }
  /** DeviceStateChange, live and as DeviceStateList items; `state` as in DEVICE_STATES. */
  | { type: "deviceState"; device: string; state: DeviceState; at: number };

/** Asterisk's device states (`enum ast_device_state`), indexed by their number, in our spelling. */
export const DEVICE_STATES = ["unknown", "not_inuse", "inuse", "busy", "invalid", "unavailable", "ringing", "ringinuse", "onhold"] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export type PbxEventType = PbxEvent["type"];
