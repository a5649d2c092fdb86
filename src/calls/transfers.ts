/**
 * Transfers and merges. A blind transfer keeps the call and fills its `transfer` field; an
 * attended transfer (and a pickup) joins two linkedids into one conversation, so the target
 * sees the original external caller (NethServer/dev#7989, radetsky/Pearl-PBX#22).
 */
import type { PbxEvent } from "../ami/events.js";
import type { NumberOptions } from "../directory/numbers.js";
import type { Party, Transfer } from "./model.js";
import type { Conversation } from "./conversation.js";
import { mergeConversations, type MergeKind } from "./movements/merge.js";
import type { Chan } from "./tracker.js";
import { iso } from "./outcomes.js";

export interface TransferCtx {
  chans: Map<string, Chan>;
  byLinked: Map<string, Conversation>;
  byCallId: Map<string, Conversation>;
  deviceForExtension: (ext: string) => string | null;
  userForDevice: (device: string) => string | null;
  numbers: NumberOptions;
  endedQueue: Conversation[];
}

/** The external party the conversation is about, as seen from the transferring device. */
function originalCaller(conv: Conversation, transfererDevice: string | null): Party {
  const c = conv.call;
  if (c.direction === "inbound") return { ...c.from };
  if (c.direction === "outbound") return { ...c.to };
  return transfererDevice && transfererDevice === conv.placer ? { ...c.to } : { ...c.from };
}

/** Move everything of `src` into `dst`; `src` ends as merged (not a call of its own). */
export function mergeInto(ctx: TransferCtx, src: Conversation, dst: Conversation, at: number, kind: MergeKind = "attended_transfer"): void {
  if (src === dst) return;
  const moved = mergeConversations(dst, src, at, kind);
  for (const id of moved.channelIds) {
    const chan = ctx.chans.get(id);
    if (chan) chan.conv = dst;
  }
  for (const id of moved.linkedIds) ctx.byLinked.set(id, dst);
  ctx.endedQueue.push(src);
}

export function applyTransfer(ctx: TransferCtx, ev: Extract<PbxEvent, { type: "blindTransfer" | "attendedTransfer" }>): void {
  if (!ev.ok) return;
  if (ev.type === "blindTransfer") {
    const transferer = ev.transferer ? ctx.chans.get(ev.transferer.channelId) : undefined;
    const transferee = ev.transferee ? ctx.chans.get(ev.transferee.channelId) : undefined;
    const conv = transferer?.conv ?? transferee?.conv;
    if (!conv || conv.ended) return;
    const device = ctx.deviceForExtension(ev.exten);
    const by = transferer?.device && transferer.role === "device" ? { userId: ctx.userForDevice(transferer.device), device: transferer.device } : null;
    const transfer: Transfer = {
      kind: "blind",
      by,
      to: { raw: ev.exten, userId: device ? ctx.userForDevice(device) : null, device },
      originalCaller: originalCaller(conv, by?.device ?? null),
      at: iso(ev.at),
    };
    conv.call.transfer = transfer;
    conv.emit("callTransferred", conv.users, ev.at);
    return;
  }
  const orig = ev.origTransferer ? ctx.chans.get(ev.origTransferer.channelId) : undefined;
  const second = ev.secondTransferer ? ctx.chans.get(ev.secondTransferer.channelId) : undefined;
  const target = ev.target ? ctx.chans.get(ev.target.channelId) : undefined;
  const a = orig?.conv;
  const b = second?.conv ?? target?.conv;
  if (!a || a.ended) return;
  const by = orig?.device && orig.role === "device" ? { userId: ctx.userForDevice(orig.device), device: orig.device } : null;
  const caller = originalCaller(a, by?.device ?? null);
  const targetRaw = b ? (b.placer === by?.device ? b.call.to.raw : b.call.from.raw) : "";
  if (b && b !== a) mergeInto(ctx, b, a, ev.at);
  const targetDevice = target?.role === "device" ? target.device : targetRaw ? ctx.deviceForExtension(targetRaw) : null;
  a.call.transfer = {
    kind: "attended",
    by,
    to: { raw: targetRaw || (targetDevice ?? ""), userId: targetDevice ? ctx.userForDevice(targetDevice) : null, device: targetDevice },
    originalCaller: caller,
    at: iso(ev.at),
  };
  if (targetDevice && a.legs.get(targetDevice)?.answered) {
    a.call.answeredBy = { userId: ctx.userForDevice(targetDevice), device: targetDevice };
  }
  a.emit("callTransferred", a.users, ev.at);
}
