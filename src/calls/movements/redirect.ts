/**
 * An AMI `Redirect` of the caller's channel (an operator panel, another CRM moving the caller
 * to an extension). Asterisk 22 reports no transfer: the channel leaves its bridge already on
 * the new extension, the agent's channel is hung up, then the channel dials the extension. A
 * REFER or BlindTransfer moves the channel the same way, its BlindTransfer event before or
 * after the move, so a move is only noted here and becomes a blind transfer (`via:
 * "redirect"`, by the phone it was bridged to, by nobody when none of ours was) when the
 * channel dials. Asterisk does not tell who sent the Redirect.
 */
import type { Conversation } from "../conversation.js";
import { blindTransfer, connectedDevice, type TransferDir } from "./transfer.js";

interface Move {
  conv: Conversation;
  exten: string;
  byDevice: string | null;
}

export class Redirects {
  /** Moved channels by Uniqueid (bounded by the live channels: dropped at their dial or hangup). */
  private readonly moved = new Map<string, Move>();

  /** A caller channel (`channelId`, its device if any) left its bridge on `exten`, a new extension. */
  note(conv: Conversation, channelId: string, device: string | null, exten: string): void {
    if (!conv.facts.answered || conv.ended) return;
    this.moved.set(channelId, { conv, exten, byDevice: connectedDevice(conv, device) });
  }

  /** The PBX reported the transfer itself (BlindTransfer): not a Redirect. */
  reported(channelId: string): void {
    this.moved.delete(channelId);
  }

  /** The channel is gone. */
  gone(channelId: string): void {
    this.moved.delete(channelId);
  }

  /** Whether `device` is the phone a move not yet confirmed took the caller of `conv` from (her end waits for it). */
  movedFrom(conv: Conversation, device: string): boolean {
    for (const m of this.moved.values()) if (m.conv === conv && m.byDevice === device) return true;
    return false;
  }

  /** The moved channel dials: a blind transfer, unless the PBX reported one to that extension; the phone it left gets its end. */
  dialled(channelId: string, at: number, dir: TransferDir): void {
    const m = this.moved.get(channelId);
    if (!m) return;
    this.moved.delete(channelId);
    const t = m.conv.call.transfer;
    if (m.conv.ended || (t?.kind === "blind" && t.to.raw === m.exten)) return;
    blindTransfer(m.conv, { byDevice: m.byDevice, exten: m.exten, at, via: "redirect" }, dir);
    if (m.byDevice) m.conv.left(m.byDevice, at);
  }
}
