/**
 * Transfers. A blind transfer (BlindTransfer, REFER without Replaces, an AMI Redirect of the
 * caller's channel) keeps the call and fills `call.transfer`; the target's new leg pops with
 * the original caller. An attended transfer names the consulted agent as its target, whether
 * the consultation was a call of its own (REFER with Replaces: the tracker merges it first)
 * or a Local-channel consultation inside the same linkedid (DTMF/AMI atxfer).
 */
import type { AnsweredBy, Party, Transfer } from "../model.js";
import type { Conversation } from "../conversation.js";
import { deviceResource } from "../../directory/devices.js";
import { iso } from "../outcomes.js";
import { completeConsultation, consultationTarget } from "./consultation.js";

export interface TransferDir {
  userForDevice: (device: string) => string | null;
  deviceForExtension: (ext: string) => string | null;
}

/** The external party the conversation is about, as seen from the transferring device. */
export function originalCaller(conv: Conversation, transfererDevice: string | null): Party {
  const c = conv.call;
  if (c.direction === "inbound") return { ...c.from };
  if (c.direction === "outbound") return { ...c.to };
  return transfererDevice && transfererDevice === conv.placer ? { ...c.to } : { ...c.from };
}

const who = (dir: TransferDir, device: string | null): AnsweredBy | null => (device ? { userId: dir.userForDevice(device), device } : null);

/** The device of ours that talks in `conv` other than `except` (the one a redirected caller was bridged to). */
export function connectedDevice(conv: Conversation, except: string | null): string | null {
  for (const rec of conv.legs.values()) {
    const device = rec.leg.device;
    if (device !== except && rec.answered && (rec.leg.state === "connected" || rec.leg.state === "on_hold")) return device;
  }
  return null;
}

export function blindTransfer(
  conv: Conversation,
  t: { byDevice: string | null; exten: string; at: number; via?: "redirect" },
  dir: TransferDir,
): void {
  if (conv.ended) return;
  const device = dir.deviceForExtension(t.exten);
  const transfer: Transfer = {
    kind: "blind",
    ...(t.via ? { via: t.via } : {}),
    by: who(dir, t.byDevice),
    to: { raw: t.exten, userId: device ? dir.userForDevice(device) : null, device },
    originalCaller: originalCaller(conv, t.byDevice),
    at: iso(t.at),
  };
  conv.call.transfer = transfer;
  conv.emit("callTransferred", involved(conv), t.at);
}

/**
 * Complete an attended transfer in `conv` (the consultation already merged into it when it
 * was a call of its own). `target` is the consulted device when the PBX named it; otherwise
 * the open consultation of `byDevice` names it.
 */
export function attendedTransfer(
  conv: Conversation,
  t: { byDevice: string | null; target: string | null; targetRaw: string; caller: Party; at: number },
  dir: TransferDir,
): void {
  if (conv.ended) return;
  const consult = t.byDevice ? consultationTarget(conv, t.byDevice) : undefined;
  const targetDevice = consult?.leg.device ?? t.target ?? (t.targetRaw ? dir.deviceForExtension(t.targetRaw) : null);
  if (consult) completeConsultation(consult);
  const raw = consult ? deviceResource(consult.leg.device) : t.targetRaw || (targetDevice ?? "");
  conv.call.transfer = {
    kind: "attended",
    by: who(dir, t.byDevice),
    to: { raw, userId: targetDevice ? dir.userForDevice(targetDevice) : null, device: targetDevice },
    originalCaller: t.caller,
    at: iso(t.at),
  };
  if (targetDevice && conv.legs.get(targetDevice)?.answered) conv.call.answeredBy = who(dir, targetDevice);
  conv.emit("callTransferred", involved(conv), t.at);
}

/** Users the call has reached (a leg that rang, answered or placed it): a target whose phone has not rung yet learns of the transfer from her pop. */
function involved(conv: Conversation): string[] {
  const users = conv.users;
  return users.filter((u) => [...conv.legs.values()].some((r) => r.leg.userId === u && (r.rang || r.answered || r.leg.placed)));
}
