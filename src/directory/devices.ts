/**
 * Devices from channel names, by technology and resource, never by a digits regex
 * (blak3r/yaai#224: 4-digit extensions; OCA/connector-telephony#340: PJSIP names).
 *   PJSIP/1001-0000002a        → PJSIP/1001
 *   PJSIP/my-trunk-0000000c    → PJSIP/my-trunk
 *   SIP/100234-00000001        → SIP/100234
 *   IAX2/peer-4617             → IAX2/peer
 *   DAHDI/i1/0301234-1         → DAHDI/i1/0301234 (DAHDI/1-1 → DAHDI/1)
 *   Local/1004@agents-0000001a;1 → a Local channel: glue, never a device
 */

export type ChannelKind = "device" | "local" | "other";

export interface ParsedChannel {
  kind: ChannelKind;
  /** `PJSIP/1001` for devices; the `Local/1004@agents` endpoint for Local channels; else null. */
  device: string | null;
  tech: string;
}

const DEVICE_TECHS = new Set(["PJSIP", "SIP", "IAX2", "DAHDI", "Skinny", "SCCP", "UNISTIM", "MGCP", "H323", "OOH323", "WebRTC", "Motif", "Console"]);

export function parseChannel(name: string): ParsedChannel {
  const slash = name.indexOf("/");
  if (slash <= 0) return { kind: "other", device: null, tech: name };
  const tech = name.slice(0, slash);
  // Masquerade leftovers (`PJSIP/1001-00000001<ZOMBIE>`) keep their device.
  const clean = name.replace(/<[A-Z]+>$/, "");
  if (tech === "Local") {
    const base = clean.replace(/;[12]$/, "").replace(/-[0-9a-f]+$/, "");
    return { kind: "local", device: base, tech };
  }
  if (!DEVICE_TECHS.has(tech)) return { kind: "other", device: null, tech };
  const dash = clean.lastIndexOf("-");
  const device = dash > slash + 1 ? clean.slice(0, dash) : clean;
  return { kind: "device", device, tech };
}

/** The extension part of a device (`PJSIP/1001` → `1001`). */
export function deviceResource(device: string): string {
  const slash = device.indexOf("/");
  return slash < 0 ? device : device.slice(slash + 1);
}
