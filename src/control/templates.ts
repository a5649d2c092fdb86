/**
 * The fixed AMI action templates behind each command: the only AMI a client can cause. Pure
 * functions of already validated, already authorised values; `control/commands.ts` decides
 * who may send them.
 */

export type Fields = ReadonlyArray<readonly [string, string | number | readonly string[]]>;
export interface AmiActionTemplate {
  name: string;
  fields: Fields;
}

/** How long the agent's own phone rings for a click-to-dial before Originate gives up. */
export const ORIGINATE_RING_MS = 30_000;

/**
 * Click to dial (DESIGN §6.16): ring the user's device first; once it answers, the dialplan
 * context dials the number. `ChannelId` fixes the new channel's Uniqueid in advance so the
 * tracker can bind the `Newchannel` to the call we already announced as `dialing`.
 */
export function originate(a: { device: string; context: string; to: string; channelId: string }): AmiActionTemplate {
  return {
    name: "Originate",
    fields: [
      ["Channel", a.device],
      ["Context", a.context],
      ["Exten", a.to],
      ["Priority", 1],
      // Shown on the agent's phone while it rings: the number it is about to call.
      ["CallerID", `"${a.to}" <${a.to}>`],
      ["Timeout", ORIGINATE_RING_MS],
      ["Async", "true"],
      ["ChannelId", a.channelId],
      ["Variable", ["CTIBRIDGE_CLICK2DIAL=1"]],
    ],
  };
}

export function hangup(channel: string): AmiActionTemplate {
  return { name: "Hangup", fields: [["Channel", channel]] };
}

/**
 * Blind transfer through the bridging core (`BlindTransfer`, Asterisk 12+), given the
 * transferer's channel: it works for any channel technology (PJSIP included, where no SIP
 * REFER is involved), and it produces the same `BlindTransfer` event as a phone's REFER
 * (trace 16), so the tracker sees one kind of blind transfer. A `Redirect` of the peer shows
 * up as the peer leaving the bridge, with no transfer event naming who transferred.
 */
export function blindTransfer(a: { channel: string; context: string; to: string }): AmiActionTemplate {
  return { name: "BlindTransfer", fields: [["Channel", a.channel], ["Context", a.context], ["Exten", a.to]] };
}

/** Attended transfer (`Atxfer`): the transferer's channel consults the target first. */
export function attendedTransfer(a: { channel: string; context: string; to: string }): AmiActionTemplate {
  return { name: "Atxfer", fields: [["Channel", a.channel], ["Exten", a.to], ["Context", a.context]] };
}

/**
 * Hold through the phone: a `PJSIPNotify` inside the call's dialog using a section of
 * `pjsip_notify.conf` (e.g. `Event: hold` / `Event: talk`, which several desk phones honour).
 * The phone then holds with a re-INVITE, exactly as if the agent had pressed its hold key.
 */
export function notify(a: { channel: string; option: string }): AmiActionTemplate {
  return { name: "PJSIPNotify", fields: [["Channel", a.channel], ["Option", a.option]] };
}

export function queuePause(a: { device: string; paused: boolean; queue?: string; reason?: string }): AmiActionTemplate {
  const fields: [string, string][] = [["Interface", a.device], ["Paused", a.paused ? "true" : "false"]];
  if (a.queue !== undefined) fields.push(["Queue", a.queue]);
  if (a.reason !== undefined && a.reason !== "") fields.push(["Reason", a.reason]);
  return { name: "QueuePause", fields };
}

export function queueAdd(a: { device: string; queue: string }): AmiActionTemplate {
  return { name: "QueueAdd", fields: [["Queue", a.queue], ["Interface", a.device]] };
}

export function queueRemove(a: { device: string; queue: string }): AmiActionTemplate {
  return { name: "QueueRemove", fields: [["Queue", a.queue], ["Interface", a.device]] };
}
