/**
 * Devices qualified with their PBX (cluster mode). Two sites may both have a `PJSIP/1001`, for
 * different users: in the users config `hamburg:PJSIP/1001` is PJSIP/1001 on the PBX `hamburg`,
 * a plain `PJSIP/1001` that device on every PBX. A PBX worker maps only its own and the plain
 * devices, under their plain names (`usersForPbx`); a gateway keeps the qualified names (hello,
 * /api/directory) and sends a command to the PBX of the device it names. Pure.
 */

export interface QualifiedDevice {
  /** The PBX named before the `:`; null: every PBX. */
  pbxId: string | null;
  /** The plain device (`PJSIP/1001`). */
  device: string;
}

/** `hamburg:PJSIP/1001` → { hamburg, PJSIP/1001 }; `PJSIP/1001` → { null, PJSIP/1001 }. A `:` after the `/` is the resource's. */
export function splitDevice(d: string): QualifiedDevice {
  const colon = d.indexOf(":");
  const slash = d.indexOf("/");
  if (colon > 0 && (slash < 0 || colon < slash)) return { pbxId: d.slice(0, colon), device: d.slice(colon + 1) };
  return { pbxId: null, device: d };
}

/** The devices of one PBX, plain names, in the configured order: the unqualified ones and those qualified with `pbxId`. */
export function devicesOn(devices: readonly string[], pbxId: string): string[] {
  const out: string[] = [];
  for (const d of devices) {
    const q = splitDevice(d);
    if ((q.pbxId === null || q.pbxId === pbxId) && !out.includes(q.device)) out.push(q.device);
  }
  return out;
}

/** The users config as the worker of `pbxId` maps it: every user, each with only the devices of that PBX. */
export function usersForPbx<U extends { devices: string[] }>(users: readonly U[], pbxId: string): U[] {
  return users.map((u) => (u.devices.some((d) => splitDevice(d).pbxId !== null) ? { ...u, devices: devicesOn(u.devices, pbxId) } : u));
}

/** The PBXs a user's devices name explicitly (in order), and whether any device is plain (every PBX). */
export function pbxsOf(devices: readonly string[]): { named: string[]; anyPlain: boolean } {
  const named: string[] = [];
  let anyPlain = false;
  for (const d of devices) {
    const q = splitDevice(d);
    if (q.pbxId === null) anyPlain = true;
    else if (!named.includes(q.pbxId)) named.push(q.pbxId);
  }
  return { named, anyPlain };
}
